"""Query -> ranked, de-duplicated ``Hit``s with a confidence signal.

The query is analyzed like the documents (its language detected, or the
configured one), scored with BM25 over the base index and, when given, one
chat's overlay with the combined statistics, and the best chunks are returned.

Two things beyond ranking:

- *Near-duplicates.* The same paragraph often stands in two files (a README and
  a module page). A candidate whose word 3-shingles are mostly (≥ 80 %) inside
  an already chosen hit's is dropped, so the k hits are k different passages.
- *Confidence.* ``coverage`` is the share of the query's idf mass that the top
  hit contains; a query whose distinctive words appear nowhere scores low. With
  ``margin`` (how far the top hit stands above the next) it tells the answering
  step "the documents probably don't cover this": ``covered`` is
  ``coverage >= min_coverage`` (calibrated on the dev set, see ``Settings``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from rag.analysis import detect_language, fold, words
from rag.bm25 import score_segments, top_k
from rag.chunking import Chunk
from rag.index import Index, Overlay

__all__ = ["DEFAULT_MIN_COVERAGE", "Confidence", "Hit", "SearchResult", "search"]

# Calibrated on ../shared/eval/dev_qa.jsonl: at 0.25, 43 of 44 answerable questions are
# covered and 3 of 4 unanswerable ones are not (README, "Retrieval quality").
DEFAULT_MIN_COVERAGE = 0.25
_DUPLICATE_CONTAINMENT = 0.8


@dataclass(frozen=True)
class Hit:
    rank: int
    score: float
    chunk: Chunk
    origin: str  # "docs" (the indexed folder) or "upload" (this chat's overlay)

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
    coverage: float  # 0..1: share of the query's idf mass found in the top hit
    margin: float  # 0..1: (top - second) / top
    covered: bool  # the documents probably answer this

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


def search(
    index: Index,
    query: str,
    k: int = 5,
    overlay: Overlay | None = None,
    language: str = "auto",
    min_coverage: float = DEFAULT_MIN_COVERAGE,
) -> SearchResult:
    """The ``k`` best distinct chunks for ``query`` (base + ``overlay``)."""
    started = time.perf_counter()
    lang = language if language != "auto" else detect_language(query, default=index.main_language)
    terms = index.analyzer.query_terms(query, lang)
    if overlay is not None:
        o_chunks, _, _, stats = overlay.view()
        chunks_of = (index.chunks, o_chunks)
    else:
        stats, chunks_of = index.stats, (index.chunks,)
    per_segment = score_segments(stats, terms)
    scores = np.concatenate(per_segment) if len(per_segment) > 1 else per_segment[0]
    offsets = np.cumsum([0] + [len(s) for s in per_segment])

    def chunk_at(row: int) -> tuple[Chunk, str, int, int]:
        seg = int(np.searchsorted(offsets, row, side="right") - 1)
        local = row - int(offsets[seg])
        return chunks_of[seg][local], ("docs" if seg == 0 else "upload"), seg, local

    order = top_k(scores, max(k * 4, k + 10))  # room for dropped near-duplicates

    hits: list[Hit] = []
    kept_shingles: list[set[int]] = []
    top_row: tuple[int, int] | None = None
    for row in order:
        chunk, origin, seg, local = chunk_at(int(row))
        shingles = _shingles(chunk.text)
        if any(_contained(shingles, other) for other in kept_shingles):
            continue
        if top_row is None:
            top_row = (seg, local)
        kept_shingles.append(shingles)
        hits.append(Hit(len(hits) + 1, float(scores[row]), chunk, origin))
        if len(hits) == k:
            break

    confidence = _confidence(stats, terms, hits, top_row, min_coverage)
    return SearchResult(query, lang, terms, hits, confidence, (time.perf_counter() - started) * 1000)


def _confidence(stats, terms: list[str], hits: list[Hit], top_row: tuple[int, int] | None, min_coverage: float) -> Confidence:
    if not hits or top_row is None:
        return Confidence(0.0, 0.0, 0.0, False)
    seg = stats.segments[top_row[0]]
    total = found = 0.0
    for term in set(terms):
        df = stats.df(term)
        # a word no document has is as specific as a word can be
        weight = math.log((stats.n + 0.5) / (df + 0.5)) if stats.n else 0.0
        weight = max(weight, 0.0)
        total += weight
        postings = seg.postings(term)
        if postings is not None:
            rows = postings[0]
            i = int(np.searchsorted(rows, top_row[1]))
            if i < len(rows) and rows[i] == top_row[1]:
                found += weight
    coverage = found / total if total > 0 else 0.0
    top = hits[0].score
    second = hits[1].score if len(hits) > 1 else 0.0
    margin = (top - second) / top if top > 0 else 0.0
    return Confidence(top, coverage, margin, coverage >= min_coverage)


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
