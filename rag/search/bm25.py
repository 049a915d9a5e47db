"""BM25 over an inverted index: exactly bm25s's Lucene variant, at posting-list cost.

The Lucene variant of BM25 (Lucene, Elasticsearch and bm25s's default;
Kamphuis et al., "Which BM25 Do You Mean?", ECIR 2020), for a query ``q`` and a
document ``d`` of length ``|d|`` in a corpus of ``N`` documents::

    score(d, q) = sum over query terms t (repeats count) of
                  idf(t) * f(t,d) / (f(t,d) + k1 * (1 - b + b * |d| / avgdl))

    idf(t) = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))      n(t): documents containing t

The idf is always positive: a document that contains a query term always
outranks one that contains none, in a folder of any size. (BM25Okapi's idf, as
rank-bm25 computes it, is zero for a term in half the documents and negative
above that, so in a small folder near-identical documents ranked below ones
without the term.) The oracle is ``bm25s.BM25(method="lucene")`` in float64
(``tests/test_bm25.py``).

The term frequencies sit in a sparse ``documents x terms`` matrix stored by
column (CSC), so a query touches only the postings of its own terms.

A corpus may be made of several ``Segment``s (the persisted base plus a chat's
uploads). ``Stats`` combines their ``N``, ``avgdl`` and document frequencies,
so every segment is scored as if all were one index; that is what keeps scores
of uploaded and base chunks comparable.

A query may be analyzed differently for documents in different languages (see
``rag.search.retrieval``): ``score_segments`` takes one term list per language and
adds a term's weight only to the documents of the languages whose list holds it.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from rag.settings import default

__all__ = ["BM25Params", "Segment", "Stats", "lucene_idf", "score_segments", "top_k"]


@dataclass(frozen=True)
class BM25Params:
    k1: float = default("bm25_k1")  # term-frequency saturation (bm25s's default)
    b: float = default("bm25_b")  # length normalization


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

    def terms_by_id(self) -> list[str]:
        """Term strings indexed by term id (built once, on first use)."""
        names = self.__dict__.get("_names")
        if names is None or len(names) != len(self.vocab):
            names = [""] * len(self.vocab)
            for term, j in self.vocab.items():
                names[j] = term
            self.__dict__["_names"] = names
        return names

    def term_df(self, term: str) -> int:
        j = self.vocab.get(term)
        return 0 if j is None else int(self.df[j])


def lucene_idf(df: np.ndarray | float, n: int) -> np.ndarray:
    """``ln(1 + (n - df + 0.5) / (df + 0.5))``, elementwise; always > 0 for ``df <= n``."""
    df = np.asarray(df, dtype=np.float64)
    return np.log1p((n - df + 0.5) / (df + 0.5))


@dataclass(frozen=True)
class Stats:
    """Corpus-wide figures BM25 needs, over one or more segments together."""

    segments: tuple[Segment, ...]
    n: int
    avgdl: float
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
        return cls(segments, n, avgdl, params, norms)

    def df(self, term: str) -> int:
        return sum(s.term_df(term) for s in self.segments)

    def idf(self, term: str) -> float:
        """The Lucene idf of ``term`` (0.0 for a term no document has)."""
        df = self.df(term)
        return 0.0 if df == 0 else math.log1p((self.n - df + 0.5) / (df + 0.5))  # lucene_idf, for one term


def score_segments(
    stats: Stats,
    query: Sequence[str] | Mapping[int, Sequence[str]],
    row_langs: Sequence[np.ndarray] | None = None,
    weights: Mapping[int, float] | None = None,
) -> list[np.ndarray]:
    """BM25 scores of every document, one float64 array per segment of ``stats``.

    ``query`` is one term list for all documents, or a mapping from a language
    code (a small int) to the term list for the documents of that language; then
    ``row_langs`` gives, per segment, each document's language code (uint8), and
    ``weights`` (default 1.0) scales each language's matches.
    """
    out = [np.zeros(s.size) for s in stats.segments]
    if stats.n == 0:
        return out
    if isinstance(query, Mapping):
        per_term: dict[str, dict[int, float]] = {}
        for code, terms in query.items():
            weight = 1.0 if weights is None else weights.get(code, 1.0)
            for term, times in Counter(terms).items():
                per_term.setdefault(term, {})[code] = times * weight
    else:
        per_term = {term: {-1: float(times)} for term, times in Counter(query).items()}
    for term, by_lang in per_term.items():
        idf = stats.idf(term)
        if idf == 0.0:
            continue
        everywhere = -1 in by_lang
        if not everywhere:  # how many times the term counts, by document language code
            times = np.zeros(256)
            for code, count in by_lang.items():
                times[code] = count
        for s, (seg, norms, scores) in enumerate(zip(stats.segments, stats.norms, out)):
            found = seg.postings(term)
            if found is None:
                continue
            rows, tf = found
            tf = tf.astype(np.float64)
            contribution = idf * (tf / (tf + norms[rows]))
            if everywhere:
                scores[rows] += by_lang[-1] * contribution
                continue
            scores[rows] += times[row_langs[s][rows]] * contribution
    return out


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the ``k`` best positive scores, best first (ties: lower row first)."""
    candidates = np.flatnonzero(scores > 0)
    if k < len(candidates):
        candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
    return candidates[np.lexsort((candidates, -scores[candidates]))]

