"""BM25Okapi over an inverted index: exactly rank-bm25's scores, at posting-list cost.

rank-bm25 (the oracle, see ``tests/test_bm25.py``) defines, for a query ``q``
and a document ``d`` of length ``|d|`` in a corpus of ``N`` documents::

    score(d, q) = sum over query tokens t (repeats count) of
                  idf(t) * f(t,d) * (k1 + 1) / (f(t,d) + k1 * (1 - b + b * |d| / avgdl))

    idf(t) = ln(N - n(t) + 0.5) - ln(n(t) + 0.5)      n(t): documents containing t
             (a negative idf is replaced by epsilon * mean idf over the vocabulary)

rank-bm25 evaluates this by looping over every document for every query token.
Here the term frequencies sit in a sparse ``documents x terms`` matrix stored
by column (CSC), so a query touches only the postings of its own terms.

A corpus may be made of several ``Segment``s (the persisted base plus a chat's
uploads). ``Stats`` combines their ``N``, ``avgdl``, document frequencies and
mean idf, so every segment is scored as if all were one index; that is what
keeps scores of uploaded and base chunks comparable.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

__all__ = ["BM25Params", "Segment", "Stats", "score_segments"]


@dataclass(frozen=True)
class BM25Params:
    k1: float = 1.5
    b: float = 0.75
    epsilon: float = 0.25


@dataclass
class Segment:
    """Term frequencies of a fixed set of documents (rows) over its own vocabulary."""

    vocab: dict[str, int]
    matrix: sparse.csc_matrix  # shape (documents, terms), tf counts
    doc_len: np.ndarray  # float64, terms per document
    df: np.ndarray = field(init=False)  # int64, documents containing each term

    def __post_init__(self) -> None:
        self.df = np.diff(self.matrix.indptr).astype(np.int64)

    @property
    def size(self) -> int:
        return int(self.matrix.shape[0])

    @classmethod
    def from_terms(cls, documents: Iterable[Sequence[str]], batch: int = 8192) -> Segment:
        """Build from each document's term list (order irrelevant, repeats count)."""
        vocab: dict[str, int] = {}
        lengths = array("q")
        parts: list[sparse.csr_matrix] = []
        rows, cols = array("q"), array("q")
        n_in_batch = 0

        def flush() -> None:
            nonlocal rows, cols, n_in_batch
            if n_in_batch == 0:
                return
            r = np.frombuffer(rows, dtype=np.int64)
            c = np.frombuffer(cols, dtype=np.int64)
            data = np.ones(len(r), dtype=np.int32)
            part = sparse.csr_matrix((data, (r, c)), shape=(n_in_batch, max(len(vocab), 1)))
            part.sum_duplicates()
            parts.append(part)
            rows, cols, n_in_batch = array("q"), array("q"), 0

        for terms in documents:
            ids = [vocab[t] if t in vocab else vocab.setdefault(t, len(vocab)) for t in terms]
            cols.extend(ids)
            rows.extend([n_in_batch] * len(ids))
            lengths.append(len(ids))
            n_in_batch += 1
            if n_in_batch >= batch:
                flush()
        flush()
        n_terms = max(len(vocab), 1)
        parts = [_widen(p, n_terms) for p in parts]
        matrix = (
            sparse.vstack(parts, format="csc", dtype=np.int32)
            if parts
            else sparse.csc_matrix((0, n_terms), dtype=np.int32)
        )
        matrix.sort_indices()
        return cls(vocab, matrix, np.frombuffer(lengths, dtype=np.int64).astype(np.float64))

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(document rows, term frequencies) of ``term``, or None if absent."""
        j = self.vocab.get(term)
        if j is None:
            return None
        start, end = self.matrix.indptr[j], self.matrix.indptr[j + 1]
        return self.matrix.indices[start:end], self.matrix.data[start:end]

    def term_df(self, term: str) -> int:
        j = self.vocab.get(term)
        return 0 if j is None else int(self.df[j])


def _widen(part: sparse.csr_matrix, n_terms: int) -> sparse.csr_matrix:
    if part.shape[1] == n_terms:
        return part
    return sparse.csr_matrix((part.data, part.indices, part.indptr), shape=(part.shape[0], n_terms))


def _raw_idf(df: np.ndarray | float, n: int) -> np.ndarray:
    return np.log(n - np.asarray(df, dtype=np.float64) + 0.5) - np.log(np.asarray(df, dtype=np.float64) + 0.5)


@dataclass(frozen=True)
class Stats:
    """Corpus-wide figures BM25 needs, over one or more segments together."""

    segments: tuple[Segment, ...]
    n: int
    avgdl: float
    average_idf: float
    params: BM25Params

    @classmethod
    def of(cls, segments: Sequence[Segment], params: BM25Params = BM25Params()) -> Stats:
        segments = tuple(segments)
        n = sum(s.size for s in segments)
        total = sum(float(s.doc_len.sum()) for s in segments)
        avgdl = total / n if n else 0.0
        return cls(segments, n, avgdl, _average_idf(segments, n), params)

    def df(self, term: str) -> int:
        return sum(s.term_df(term) for s in self.segments)

    def idf(self, term: str) -> float:
        """rank-bm25's idf of ``term`` (0.0 for a term no document has)."""
        df = self.df(term)
        if df == 0:
            return 0.0
        value = float(_raw_idf(df, self.n))
        return self.params.epsilon * self.average_idf if value < 0 else value


def _average_idf(segments: Sequence[Segment], n: int) -> float:
    """Mean raw idf over the union vocabulary, with df summed across segments."""
    if not segments or n == 0:
        return 0.0
    base = segments[0]
    df = base.df.astype(np.float64)
    extra: dict[str, int] = {}
    for seg in segments[1:]:
        for term, j in seg.vocab.items():
            i = base.vocab.get(term)
            if i is not None:
                df[i] += seg.df[j]
            else:
                extra[term] = extra.get(term, 0) + int(seg.df[j])
    present = df[df > 0]  # an empty base has a placeholder column
    values = np.concatenate([_raw_idf(present, n), _raw_idf(np.fromiter(extra.values(), float), n)])
    return float(values.sum() / len(values)) if len(values) else 0.0


def score_segments(stats: Stats, query: Sequence[str]) -> list[np.ndarray]:
    """BM25 scores of every document, one array per segment of ``stats``."""
    k1, b = stats.params.k1, stats.params.b
    out = [np.zeros(s.size) for s in stats.segments]
    if stats.n == 0:
        return out
    for term, times in Counter(query).items():
        idf = stats.idf(term)
        if idf == 0.0:
            continue
        for seg, scores in zip(stats.segments, out):
            found = seg.postings(term)
            if found is None:
                continue
            rows, tf = found
            tf = tf.astype(np.float64)
            norm = k1 * (1 - b + b * seg.doc_len[rows] / stats.avgdl)
            scores[rows] += times * (idf * (tf * (k1 + 1) / (tf + norm)))
    return out

