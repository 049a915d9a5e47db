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

__all__ = ["BM25Params", "Segment", "Stats", "score_segments", "top_k"]


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
        """Build from each document's term list (order irrelevant, repeats count).

        Term ids are collected per batch of documents and reduced at once to each
        row's (term, tf) pairs in row order, which is a CSR matrix as it stands;
        memory holds the postings, never every token, and nothing is sorted twice.
        """
        vocab: dict[str, int] = {}
        lengths = array("q")
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (terms, tf, nnz per row)
        cols = array("q")
        start = 0  # first row of the current batch

        def flush() -> None:
            nonlocal cols, start
            n = len(lengths) - start
            if n == 0:
                return
            width = len(vocab) + 1
            rows = np.repeat(np.arange(n, dtype=np.int64), np.frombuffer(lengths, dtype=np.int64)[start:])
            keys, tf = np.unique(rows * width + np.frombuffer(cols, dtype=np.int64), return_counts=True)
            parts.append(((keys % width).astype(np.int32), tf.astype(np.int32), np.bincount(keys // width, minlength=n)))
            cols, start = array("q"), len(lengths)

        get = vocab.get
        for terms in documents:
            ids = list(map(get, terms))  # C-speed lookups; new terms are rare
            if None in ids:
                ids = [vocab[t] if t in vocab else vocab.setdefault(t, len(vocab)) for t in terms]
            cols.extend(ids)
            lengths.append(len(ids))
            if len(lengths) - start >= batch:
                flush()
        flush()
        shape = (len(lengths), max(len(vocab), 1))
        if parts:
            indices = np.concatenate([p[0] for p in parts])
            data = np.concatenate([p[1] for p in parts])
            indptr = np.concatenate([[0], np.cumsum(np.concatenate([p[2] for p in parts]))])
            parts.clear()
            matrix = sparse.csr_matrix((data, indices, indptr), shape=shape).tocsc()
            del indices, data, indptr
        else:
            matrix = sparse.csc_matrix(shape, dtype=np.int32)
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
    # per segment and document: k1 * (1 - b + b * |d| / avgdl), computed once
    norms: tuple[np.ndarray, ...] = ()

    @classmethod
    def of(cls, segments: Sequence[Segment], params: BM25Params = BM25Params()) -> Stats:
        segments = tuple(segments)
        n = sum(s.size for s in segments)
        total = sum(float(s.doc_len.sum()) for s in segments)
        avgdl = total / n if n else 0.0
        k1, b = params.k1, params.b
        norms = tuple(k1 * (1 - b + b * s.doc_len / avgdl) if avgdl else np.zeros(s.size) for s in segments)
        return cls(segments, n, avgdl, _average_idf(segments, n), params, norms)

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
    k1 = stats.params.k1
    out = [np.zeros(s.size) for s in stats.segments]
    if stats.n == 0:
        return out
    for term, times in Counter(query).items():
        idf = stats.idf(term)
        if idf == 0.0:
            continue
        for seg, norms, scores in zip(stats.segments, stats.norms, out):
            found = seg.postings(term)
            if found is None:
                continue
            rows, tf = found
            tf = tf.astype(np.float64)
            scores[rows] += times * (idf * (tf * (k1 + 1) / (tf + norms[rows])))
    return out


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the ``k`` best positive scores, best first (ties: lower row first)."""
    candidates = np.flatnonzero(scores > 0)
    if k < len(candidates):
        candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
    return candidates[np.lexsort((candidates, -scores[candidates]))]

