"""Query -> ranked, de-duplicated ``Hit``s with a confidence signal.

The query is normalized like the documents (``rag.documents.normalize``) and scored with
BM25 (``rag.search.bm25``) over the base index and, when given, one chat's overlay,
with the combined statistics. Each document is matched against the question
*as analyzed in the document's own language*: a folder holding English and
Turkish pages gets the question's English terms for the English chunks and its
Turkish terms for the Turkish ones, so "Kubernetes kümesi nasıl yükseltilir?"
finds an English page about Kubernetes, and an English question finds the
Turkish page that says ``foundry service start``. Matches through another
language's analysis count half (``CROSS_LANGUAGE_WEIGHT``): "port" cut to a
Turkish prefix also matches "portakal". The question's own language (detected,
or fixed by ``RAG_LANGUAGE``) decides the language of the answer.

Two things beyond ranking:

- *Near-duplicates.* The same paragraph often stands in two files (a README and
  a module page). A candidate whose word 3-shingles are mostly (≥ 80 %) inside
  an already chosen hit's is dropped, so the k hits are k different passages.
- *Confidence* (``rag.search.confidence``): does the top passage hold the question's
  concepts, and does the question name something no document mentions?
  ``covered`` false tells the answering step "the documents don't cover this".
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rag.documents.chunking import Chunk
from rag.documents.normalize import normalize_text
from rag.search.analysis import detect_language, fold, words
from rag.search.bm25 import Stats, score_segments, top_k
from rag.search.confidence import judge_coverage, name_like_words
from rag.search.followup import MAX_DEPTH, Carry, Followup, resolve
from rag.search.index import LANG_CODES, Index, Overlay
from rag.search.rerank import rerank
from rag.settings import default

__all__ = ["DEFAULT_MIN_COVERAGE", "Confidence", "Hit", "SearchResult", "resolve_followup", "search"]

# RAG_MIN_COVERAGE's default (rag.settings: how it was calibrated)
DEFAULT_MIN_COVERAGE: float = default("min_coverage")
_DUPLICATE_CONTAINMENT = 0.8
# A match through another language's analysis of the question (an English question's words
# cut to Turkish prefixes, say) is less certain than one in the question's own language:
# it counts half.
CROSS_LANGUAGE_WEIGHT = 0.5
# A follow-up carries at most this many subject terms from each earlier text (rag.search.followup): its rarest ones,
# by idf, not already in the question; a term in more than half the documents is no subject.
SUBJECT_TERMS = 4
# A name among them ("Ollama", "sample 06": what "it" stands for) counts this many times the text's weight; the
# earlier question's other words (its action or aspect: "install") count the weight itself.
NAME_FACTOR = 2.0
# A passage holding none of the follow-up's own words gets this share of what those other words and the earlier
# answer's terms add: they find the passage of the last answer again, and "what port does it use?" after "How do
# I install Ollama?" wants Ollama's port, not the install section. Names are not cut: "And for .NET?" is all name.
UNMATCHED_WEIGHT = 0.25


@dataclass(frozen=True)
class Hit:
    rank: int
    score: float
    chunk: Chunk
    origin: str  # "docs" (the indexed folder) or "upload" (this chat's overlay)
    lang: str = "en"  # the language the chunk was analyzed in

    @property
    def source(self) -> str:
        return self.chunk.source

    @property
    def heading(self) -> str:
        return self.chunk.trail

    @property
    def text(self) -> str:
        return self.chunk.text

    def to_json(self) -> dict[str, object]:
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "source": self.source,
            "heading": self.heading,
            "text": self.text,
            "page": self.chunk.page,
            "origin": self.origin,
        }


@dataclass(frozen=True)
class Confidence:
    top_score: float
    coverage: float  # 0..1: share of the question's concept weight found in the top hit
    margin: float  # 0..1: (top - second) / top
    covered: bool  # the documents probably answer this
    reason: str = ""  # why not covered, in words

    def to_json(self) -> dict[str, object]:
        return {"top_score": round(self.top_score, 4), "coverage": round(self.coverage, 4), "margin": round(self.margin, 4), "covered": self.covered}


@dataclass(frozen=True)
class SearchResult:
    query: str
    lang: str
    terms: list[str]
    hits: list[Hit]
    confidence: Confidence
    elapsed_ms: float
    terms_by_lang: dict[str, list[str]] = field(default_factory=dict)  # the question's terms, per document language
    # the question as resolved: with the names a follow-up carried from the earlier questions it depends on
    # ("Can I pin it instead (Foundry, Local)?"), what the coverage judgement reads; ``query`` when none
    searched: str = ""
    carried: list[str] = field(default_factory=list)  # every word carried into the search, from questions and answers
    # the subject terms carried from earlier questions, per document language (what an extract must also match)
    subject_terms: dict[str, list[str]] = field(default_factory=dict)

    @property
    def resolved(self) -> bool:
        """Did the search carry words from earlier turns?"""
        return bool(self.carried)

    def searched_note(self) -> str:
        """What a follow-up was searched for, in words ("" when nothing was carried): the app's Retrieval step
        and the CLI show it."""
        return f"searched for: {self.query}, with {', '.join(self.carried)} from earlier turns" if self.carried else ""


def search(
    index: Index,
    query: str,
    k: int = 5,
    overlay: Overlay | None = None,
    language: str = "auto",
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    context: Sequence[Carry] = (),
) -> SearchResult:
    """The ``k`` best distinct chunks for ``query`` (base + ``overlay``), with the confidence judgement.

    ``context``: earlier turns' texts to carry subject terms from, each at its
    weight (``rag.search.followup.resolve``): per text, its ``SUBJECT_TERMS`` rarest
    terms not in the question are added to the BM25 query at that weight. The
    coverage judgement then reads the question with the carried names (``searched``).
    """
    started = time.perf_counter()
    query = normalize_text(query)
    lang = language if language != "auto" else detect_language(query, default=index.main_language)
    if overlay is not None:
        view = overlay.view()
        stats = view.stats
        chunks_of, langs_of, row_langs = (index.chunks, view.chunks), (index.langs, view.langs), [index.row_langs, view.row_langs]
        shares = index.language_shares(view.langs)
    else:
        stats, chunks_of, langs_of, row_langs = index.stats, (index.chunks,), (index.langs,), [index.row_langs]
        shares = index.language_shares()
    # Each document is matched against the question as analyzed in the document's own language.
    analyses = [lang] if language != "auto" else sorted(shares)
    by_lang = {other: index.analyzer.query_terms(query, other) for other in analyses}
    per_segment = _bm25(stats, by_lang, lang, row_langs)
    carried = _carry(index, stats, by_lang, lang, row_langs, context, [len(x) for x in per_segment]) if context else None
    if carried is not None:  # aspects and earlier answers add less to a passage with none of the question's own words
        matched_any = any(bool(np.any(own > 0)) for own in per_segment)
        per_segment = [
            own + names + np.where((own > 0) | (not matched_any), others, UNMATCHED_WEIGHT * others)
            for own, names, others in zip(per_segment, carried.names, carried.others)
        ]
    subject_words = carried.subject_words if carried is not None else []
    # the coverage judgement reads a dependent question with the subject its earlier questions named (not what
    # the earlier answers said: the passage for "and its port?" need not repeat how the thing was installed);
    # a question with no cue is judged on its own words (a topic switch must not need the old subject)
    searched = _with_subject(query, subject_words)
    scores = np.concatenate(per_segment) if len(per_segment) > 1 else per_segment[0]
    offsets = np.cumsum([0] + [len(s) for s in per_segment])

    candidates = []
    for row in top_k(scores, max(k * 4, k + 10)):  # room for dropped near-duplicates
        seg = int(np.searchsorted(offsets, row, side="right") - 1)
        local = int(row) - int(offsets[seg])
        candidates.append((float(scores[row]), Candidate(chunks_of[seg][local], seg, local)))
    candidates = rerank(query, candidates)
    hits: list[Hit] = []
    kept_shingles: list[set[int]] = []
    top_local = -1
    for score, cand in candidates:
        chunk, seg, local = cand.chunk, cand.seg, cand.local
        shingles = _shingles(chunk.text)
        if any(_contained(shingles, other) for other in kept_shingles):
            continue
        kept_shingles.append(shingles)
        top_local = local if not hits else top_local
        hits.append(Hit(len(hits) + 1, score, chunk, "docs" if seg == 0 else "upload", langs_of[seg][local]))
        if len(hits) == k:
            break
    confidence = _confidence(searched, lang, hits, top_local, index, stats, shares, min_coverage)
    terms = by_lang.get(lang) or next(iter(by_lang.values()))
    return SearchResult(
        query, lang, terms, hits, confidence, (time.perf_counter() - started) * 1000, by_lang, searched,
        carried.words if carried else [], carried.subject_terms if carried else {},
    )


def _bm25(stats: Stats, by_lang: dict[str, list[str]], lang: str, row_langs: list[np.ndarray], weight: float = 1.0) -> list[np.ndarray]:
    """BM25 scores per segment of terms given per document language: each document scored with its own
    language's terms, another language's matches counting ``CROSS_LANGUAGE_WEIGHT``; all times ``weight``."""
    if len(by_lang) == 1:
        scores = score_segments(stats, next(iter(by_lang.values())))
        return scores if weight == 1.0 else [weight * s for s in scores]
    weights = {LANG_CODES[other]: weight * (1.0 if other == lang else CROSS_LANGUAGE_WEIGHT) for other in by_lang}
    return score_segments(stats, {LANG_CODES[other]: terms for other, terms in by_lang.items()}, row_langs, weights)


@dataclass(frozen=True, kw_only=True)
class _Carried:
    names: list[np.ndarray]  # the weighted BM25 scores of the names carried from earlier questions, per segment
    others: list[np.ndarray]  # ... of the other words carried from earlier questions and answers
    words: list[str]  # every word carried, as written in the earlier turns
    subject_words: list[str]  # the names of earlier questions the question surely depends on
    subject_terms: dict[str, list[str]]  # their terms, per document language


def _carry(
    index: Index, stats: Stats, by_lang: dict[str, list[str]], lang: str, row_langs: list[np.ndarray],
    context: Sequence[Carry], sizes: list[int],
) -> _Carried:
    """The scores that a follow-up's carried subject adds (``rag.search.followup``): per earlier text, its
    ``SUBJECT_TERMS`` rarest terms, names at ``NAME_FACTOR`` times the text's weight, other words at the weight.

    After "How do I install Ollama?", "what port does it use?" is about Ollama, not about installing.
    """
    by_kind = {"name": [np.zeros(n) for n in sizes], "other": [np.zeros(n) for n in sizes]}
    words_: list[str] = []
    subject_words: list[str] = []
    subject_terms: dict[str, list[str]] = {}
    own = {term for terms in by_lang.values() for term in terms}
    for carry in context:
        subject = {other: _subject_terms(index, stats, carry.text, other, own, carry.role == "answer") for other in by_lang}
        names = {other: set(index.analyzer.query_terms(" ".join(name_like_words(carry.text)), other)) for other in by_lang}
        depends = carry.role == "question" and not carry.spread  # a question that surely depends on it
        if depends:  # for the judgement: its names (what "it" stands for), also where no document has them; not its
            # other words ("install" in "How do I install Ollama?" is what was asked then, not what is asked now)
            for word in _words_for(index, carry.text, lang, names.get(lang, set())):
                if word not in subject_words:
                    subject_words.append(word)
        if not any(subject.values()):
            continue
        weight = carry.weight / (max(len(terms) for terms in subject.values()) if carry.spread else 1)
        for is_name in (True, False):
            kind = "name" if is_name and carry.role == "question" else "other"  # an answer's names are no referent
            scores, factor = by_kind[kind], NAME_FACTOR if kind == "name" else 1.0
            group = {other: [t for t in terms if (t in names[other]) == is_name] for other, terms in subject.items()}
            if not any(group.values()):
                continue
            scores[:] = [s + e for s, e in zip(scores, _bm25(stats, group, lang, row_langs, weight * factor))]
        if depends:
            for other, terms in subject.items():
                subject_terms.setdefault(other, []).extend(t for t in terms if t not in subject_terms.get(other, []))
        for word in _words_for(index, carry.text, lang, set(subject.get(lang) or next(iter(subject.values())))):
            if word not in words_:
                words_.append(word)
    return _Carried(names=by_kind["name"], others=by_kind["other"], words=words_, subject_words=subject_words, subject_terms=subject_terms)


def _with_subject(query: str, names: list[str]) -> str:
    """The question with the carried names inside its sentence, so they still read as names:
    ``"Which port does it use (Kubernetes)?"``."""
    if not names:
        return query
    base = query.rstrip(" ?!.。？！")
    return f"{base} ({', '.join(names)}){query[len(base):].strip()}"


def _subject_terms(index: Index, stats: Stats, text: str, lang: str, own: set[str], answer: bool = False) -> list[str]:
    """The ``SUBJECT_TERMS`` rarest terms of ``text`` (as ``lang`` analyzes it) that the question lacks.

    From an ``answer``, terms with digits are left out: "2-3 hours", "8GB" are
    what the last answer said, not what the conversation is about.
    """
    ranked: dict[str, float] = {}
    half = stats.n / 2
    for term in index.analyzer.query_terms(text, lang):
        if term in own or term in ranked or (answer and any(ch.isdigit() for ch in term)):
            continue
        df = stats.df(term)
        if 0 < df <= half:
            ranked[term] = stats.idf(term)
    return sorted(ranked, key=lambda t: -ranked[t])[:SUBJECT_TERMS]


def _words_for(index: Index, text: str, lang: str, terms: set[str]) -> list[str]:
    """The words of ``text`` that give ``terms``, as written there (for showing what was searched)."""
    found: list[str] = []
    for raw in re.findall(r"[\w][\w.+#\-]*[\w+#]|\w", text):
        if raw.lower() in (w.lower() for w in found):
            continue
        if set(index.analyzer.query_terms(raw, lang)) & terms:
            found.append(raw)
    return found


def resolve_followup(index: Index, question: str, history: Sequence, language: str = "auto") -> Followup:
    """``rag.search.followup.resolve`` for a question asked of ``index``: the one way the app, the CLI and the evaluation
    resolve a follow-up.

    ``history``: the earlier turns (``rag.answer.prompts.Turn``, oldest first), all of them: only the last
    ``MAX_DEPTH`` are read, whatever the prompt's token budget keeps. ``language``: ``RAG_LANGUAGE``
    ("auto": detected as ``search`` detects it). Pass the result's ``carries`` to ``search(context=)``.
    """
    lang = language if language != "auto" else detect_language(normalize_text(question), default=index.main_language)
    return resolve(question, list(history)[-MAX_DEPTH:], lang)

@dataclass(frozen=True)
class Candidate:
    chunk: Chunk
    seg: int
    local: int

    @property
    def text(self) -> str:
        return self.chunk.text

    @property
    def trail(self) -> str:
        return self.chunk.trail


def _confidence(
    query: str, lang: str, hits: list[Hit], top_row: int, index: Index, stats: Stats, shares: dict[str, float], min_coverage: float
) -> Confidence:
    if not hits:
        return Confidence(0.0, 0.0, 0.0, False, "nothing in the documents matches the question")
    top = hits[0]
    segment = stats.segments[0 if top.origin == "docs" else 1]

    def holds(term: str) -> bool:  # does the top passage have this index term? (a binary search in its postings)
        found = segment.postings(term)
        if found is None:
            return False
        i = int(np.searchsorted(found[0], top_row))
        return i < len(found[0]) and int(found[0][i]) == top_row

    passage = f"{top.chunk.source}\n{top.chunk.trail}\n{top.chunk.text}"
    judged = judge_coverage(query, holds, passage, top.lang, lang, index.analyzer, stats, shares, min_coverage)
    second = hits[1].score if len(hits) > 1 else 0.0
    margin = (top.score - second) / top.score if top.score > 0 else 0.0
    return Confidence(top.score, judged.coverage, margin, judged.covered, judged.reason)


def _shingles(text: str) -> set[int]:
    ws = words(fold(text, "en"))
    if len(ws) < 3:
        return {hash(" ".join(ws))}
    return {hash((ws[i], ws[i + 1], ws[i + 2])) for i in range(len(ws) - 2)}


def _contained(a: set[int], b: set[int]) -> bool:
    """Is the smaller of two shingle sets mostly inside the larger?"""
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    if not small:
        return False
    return len(small & large) >= _DUPLICATE_CONTAINMENT * len(small)
