"""Do the documents cover this question? A judgement from the question's concepts and the top passage.

BM25 always returns *something*; this module says whether it is worth
answering from. A question is a set of *concepts*: its content words (no
stopwords, no question-framing words), each analyzed as the top passage's
language analyzes it. For each concept:

- **matched**: the top passage holds its term, and (in Turkish, where terms are
  four-letter prefixes) the passage's word really is the question's word, not a
  look-alike that only shares the first letters ("başkenti" is not "başka",
  "Türkiye" is not "Türkçe"): the two must share at least five letters, or the
  whole of the shorter word;
- **missing**: some document of that language has the term, the top passage not;
- **foreign**: a word of another language that the documents of the passage's
  language cannot be expected to hold (a Turkish question over an English page),
  or an identifier no document writes whole ("docker-compose", whose words are
  concepts of their own): left out of the judgement;
- **absent**: no document in any language has it.

``coverage`` is the idf mass of the matched concepts over that of the matched,
missing and absent ones (an absent concept weighs as much as a term can). The
documents do *not* cover the question when coverage is below
``min_coverage``, or when the question names something no document mentions:
an absent *name* (a capitalized word inside a sentence, a word mixing case or
letters and digits, an identifier: "Tesla", "PyTorch", "Hailo-8"), or
two absent words, or an absent word making up half of the concepts. An
ordinary word (not a name) of the question's language counts as absent only
when the passage is in the question's language too: a Turkish question answered
by an English page has Turkish words that no English page can be expected to hold.

On the dev set and both peer sets (docs/retrieval.md) these rules
flag all 18 unanswerable questions and none of the 83 answerable ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rag.search.analysis import ALL_QUESTION_WORDS, ALL_STOPWORDS, Analyzer, fold, fold_accents, identifiers, is_stopword, words
from rag.search.bm25 import Stats, lucene_idf

__all__ = ["Concept", "Coverage", "judge_coverage"]

_NOT_CONCEPTS = ALL_STOPWORDS | ALL_QUESTION_WORDS
# Turkish terms are four-letter prefixes; a real match shares more than that.
_TURKISH_MATCH = 5
_WORD_RE = re.compile(r"[\w'’\-.]+")


@dataclass(frozen=True)
class Concept:
    word: str  # as folded from the question
    term: str
    state: str  # "matched", "missing", "foreign", "absent"
    name: bool  # written like a name or an identifier
    weight: float


@dataclass(frozen=True)
class Coverage:
    coverage: float  # 0..1, idf mass of matched concepts over matched + missing + absent
    covered: bool
    reason: str  # why not covered ("" when covered)
    concepts: list[Concept] = field(default_factory=list)


def name_like_words(question: str) -> set[str]:
    """Folded forms of the words the question writes like names or identifiers."""
    names: set[str] = set()
    sentence_start = True
    for m in _WORD_RE.finditer(question):
        raw = m.group()
        starts = sentence_start
        sentence_start = raw.endswith((".", "!", "?", ":")) or question[m.end() : m.end() + 1] in ("!", "?", ":")
        raw = raw.strip("'’-.")
        if not raw:
            continue
        base = re.split(r"['’]", raw)[0]  # Türkiye'nin -> Türkiye
        inner_capital = any(ch.isupper() for ch in base[1:])
        mixed_digits = any(ch.isdigit() for ch in base) and any(ch.isalpha() for ch in base)
        capital_inside = base[:1].isupper() and not starts
        if inner_capital or mixed_digits or capital_inside or not base.replace("'", "").isalnum():
            for lang in ("en", "tr"):
                folded = fold(base, lang)
                names.update(words(folded))
                names.update(identifiers(folded))
    return names


def judge_coverage(
    question: str,
    holds: Callable[[str], bool],
    passage_text: str,
    lang: str,
    question_lang: str,
    analyzer: Analyzer,
    stats: Stats,
    lang_share: dict[str, float],
    min_coverage: float,
) -> Coverage:
    """Judge whether the passage (``holds(term)``: it has that index term; its text; in ``lang``) covers ``question``.

    ``lang_share[l]`` is the share of the index's chunks in language ``l``
    (the languages the question is analyzed in). A term is taken to exist in a
    language's documents when any document holds it: analyses of different
    languages give different terms (English stems, Turkish prefixes).
    """
    names = name_like_words(question)
    same_language = lang == question_lang
    folded = fold(question, lang)
    candidates = [w for w in words(folded) if not is_stopword(w, _NOT_CONCEPTS)]
    candidates += identifiers(folded)
    passage_words: list[str] | None = None
    concepts: list[Concept] = []
    seen: set[str] = set()
    n = max(stats.n, 1)
    for word in candidates:
        terms = analyzer.terms(word, lang)
        if not terms:
            continue
        term = terms[0] if len(terms) == 1 or not _is_identifier(word) else word
        if term in seen:
            continue
        seen.add(term)
        name = word in names or _is_identifier(word)
        if holds(term):
            if lang == "tr" and not _is_identifier(word):
                if passage_words is None:
                    passage_words = [fold_accents(w) for w in words(fold(passage_text, lang))]
                state = "matched" if _real_turkish_match(fold_accents(word), term, passage_words) else "missing"
            else:
                state = "matched"
        elif stats.df(term) > 0:
            state = "missing"
        elif _is_identifier(word) or any(stats.df(t) > 0 for other in lang_share if other != lang for t in analyzer.terms(word, other)[:1]):
            # an identifier no document writes whole ("docker-compose") is judged by its words, which are concepts too
            state = "foreign"
        elif name or same_language:
            state = "absent"
        else:  # an ordinary word of the question's language, and the passage is in another one
            state = "foreign"
        concepts.append(Concept(word, term, state, name, stats.idf(term) or float(lucene_idf(0, n))))
    judged = [c for c in concepts if c.state != "foreign"]
    total = sum(c.weight for c in judged)
    coverage = sum(c.weight for c in judged if c.state == "matched") / total if total else 0.0
    absent = [c for c in judged if c.state == "absent"]
    reason = ""
    if not judged:
        reason = "none of the question's words is in the documents"
    elif any(c.name for c in absent):
        reason = "the documents never mention " + ", ".join(repr(c.word) for c in absent if c.name)
    elif len(absent) >= 2 or (absent and len(absent) * 2 >= len(judged)):
        reason = "the documents never use " + ", ".join(repr(c.word) for c in absent)
    elif coverage < min_coverage:
        reason = f"the best passage holds only {coverage:.0%} of the question's weight"
    return Coverage(coverage, not reason, reason, concepts)


def _is_identifier(word: str) -> bool:
    return not word.isalnum()


def _real_turkish_match(word: str, term: str, passage_words: Sequence[str]) -> bool:
    """Does the passage hold a word that is the question's word, not a prefix look-alike?"""
    for other in passage_words:
        if other[: len(term)] != term:
            continue
        shared = 0
        for a, b in zip(word, other):
            if a != b:
                break
            shared += 1
        if shared >= min(_TURKISH_MATCH, len(word), len(other)):
            return True
    return False
