"""Query -> ranked, de-duplicated ``Hit``s with a confidence signal.

The query is normalized like the documents (``rag.normalize``) and scored with
BM25 (``rag.bm25``) over the base index and, when given, one chat's overlay,
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
- *Confidence* (``rag.confidence``): does the top passage hold the question's
  concepts, and does the question name something no document mentions?
  ``covered`` false tells the answering step "the documents don't cover this".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from rag.analysis import detect_language, fold, words
from rag.bm25 import Stats, score_segments, top_k
from rag.chunking import Chunk
from rag.confidence import judge_coverage
from rag.index import LANG_CODES, Index, Overlay
from rag.normalize import normalize_text
from rag.rerank import rerank

__all__ = ["DEFAULT_MIN_COVERAGE", "Confidence", "Hit", "SearchResult", "search"]

# Calibrated on ../shared/eval/dev_qa.jsonl and both peer sets (README, "Retrieval quality"):
# the lowest coverage of an answerable question there is 0.30.
DEFAULT_MIN_COVERAGE = 0.25
_DUPLICATE_CONTAINMENT = 0.8
# A match through another language's analysis of the question (an English question's words
# cut to Turkish prefixes, say) is less certain than one in the question's own language:
# it counts half.
CROSS_LANGUAGE_WEIGHT = 0.5


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


def search(
    index: Index,
    query: str,
    k: int = 5,
    overlay: Overlay | None = None,
    language: str = "auto",
    min_coverage: float = DEFAULT_MIN_COVERAGE,
) -> SearchResult:
    """The ``k`` best distinct chunks for ``query`` (base + ``overlay``), with the confidence judgement."""
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
    if len(by_lang) == 1:
        per_segment = score_segments(stats, next(iter(by_lang.values())))
    else:
        weights = {LANG_CODES[other]: 1.0 if other == lang else CROSS_LANGUAGE_WEIGHT for other in by_lang}
        per_segment = score_segments(stats, {LANG_CODES[other]: terms for other, terms in by_lang.items()}, row_langs, weights)
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
    confidence = _confidence(query, lang, hits, top_local, index, stats, shares, min_coverage)
    terms = by_lang.get(lang) or next(iter(by_lang.values()))
    return SearchResult(query, lang, terms, hits, confidence, (time.perf_counter() - started) * 1000, by_lang)


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
