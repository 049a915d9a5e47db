"""BM25: scores equal rank-bm25's ``BM25Okapi`` (the oracle), for one segment or several.

Random corpora are seeded; a hand-worked 3-document example pins the formula
itself, so the test would catch rank-bm25 and us agreeing on something wrong.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from rag.bm25 import BM25Params, Segment, Stats, score_segments

REL_TOL = 1e-9


def assert_close(ours: np.ndarray, oracle: np.ndarray) -> None:
    ours, oracle = np.asarray(ours, dtype=np.float64), np.asarray(oracle, dtype=np.float64)
    assert ours.shape == oracle.shape
    # relative error <= 1e-9 (absolute for scores that are zero or nearly)
    assert np.all(np.abs(ours - oracle) <= REL_TOL * np.maximum(np.abs(oracle), 1.0)), (ours, oracle)


def scores(documents: list[list[str]], query: list[str], params: BM25Params = BM25Params(), batch: int = 8192) -> np.ndarray:
    stats = Stats.of([Segment.from_terms(documents, batch=batch)], params)
    (out,) = score_segments(stats, query)
    return out


def random_corpus(rng: random.Random, n_docs: int, vocab_size: int) -> list[list[str]]:
    """Zipf-ish documents plus a term ``common`` in about 70 % of them (negative idf)."""
    vocab = [f"t{i}" for i in range(vocab_size)]
    weights = [1 / (i + 1) for i in range(vocab_size)]
    docs = []
    for _ in range(n_docs):
        doc = rng.choices(vocab, weights, k=rng.randint(1, 40))
        if rng.random() < 0.7:
            doc += ["common"] * rng.randint(1, 3)
        docs.append(doc)
    return docs


def random_queries(rng: random.Random, docs: list[list[str]], count: int) -> list[list[str]]:
    known = sorted({t for d in docs for t in d})
    queries = []
    for _ in range(count):
        query = rng.sample(known, rng.randint(1, min(6, len(known))))
        if rng.random() < 0.4:
            query += [rng.choice(query)] * rng.randint(1, 3)  # repeated terms count each time
        if rng.random() < 0.4:
            query.append(f"unknown{rng.randint(0, 9)}")  # terms no document has
        if rng.random() < 0.3:
            query.append("common")
        rng.shuffle(query)
        queries.append(query)
    return queries


# ---------------------------------------------------------------- parity


@pytest.mark.parametrize(("seed", "n_docs", "vocab_size"), [(1, 2, 5), (2, 7, 12), (3, 40, 60), (4, 250, 400), (5, 1000, 2000)])
def test_parity_with_rank_bm25(seed: int, n_docs: int, vocab_size: int) -> None:
    rng = random.Random(seed)
    docs = random_corpus(rng, n_docs, vocab_size)
    oracle = BM25Okapi(docs)
    segment = Segment.from_terms(docs, batch=max(1, n_docs // 3))  # several batches: exercises the widening
    stats = Stats.of([segment])
    assert stats.average_idf == pytest.approx(oracle.average_idf, rel=REL_TOL)
    if sum("common" in d for d in docs) > n_docs / 2:  # negative raw idf: epsilon * mean idf instead
        assert stats.idf("common") == pytest.approx(0.25 * oracle.average_idf, rel=REL_TOL)
    for query in random_queries(rng, docs, 220):
        (ours,) = score_segments(stats, query)
        assert_close(ours, oracle.get_scores(query))


def test_parity_with_idf_exactly_zero_and_epsilon() -> None:
    # N = 4: "half" is in 2 documents, so idf = ln(2.5) - ln(2.5) = 0 exactly;
    # "most" is in 3, so its idf is negative and replaced by epsilon * mean idf.
    docs = [["half", "most", "a"], ["half", "most", "b", "b"], ["most", "c"], ["d", "a", "e"]]
    stats = Stats.of([Segment.from_terms(docs)])
    assert stats.idf("half") == 0.0
    assert stats.idf("most") == pytest.approx(0.25 * stats.average_idf, rel=REL_TOL)
    assert stats.idf("most") > 0
    oracle = BM25Okapi(docs)
    assert oracle.idf["half"] == 0.0
    rng = random.Random(7)
    terms = ["half", "most", "a", "b", "c", "d", "e", "zzz"]
    for _ in range(200):
        query = rng.choices(terms, k=rng.randint(1, 6))
        assert_close(scores(docs, query), oracle.get_scores(query))


@pytest.mark.parametrize(("k1", "b"), [(1.2, 0.75), (0.9, 0.4), (2.0, 1.0), (1.5, 0.0)])
def test_parity_with_other_parameters(k1: float, b: float) -> None:
    rng = random.Random(11)
    docs = random_corpus(rng, 60, 80)
    oracle = BM25Okapi(docs, k1=k1, b=b)
    for query in random_queries(rng, docs, 30):
        assert_close(scores(docs, query, BM25Params(k1=k1, b=b)), oracle.get_scores(query))


def test_hand_worked_example() -> None:
    """Three documents, query ``cat mat ran``, k1 = 1.5, b = 0.75, epsilon = 0.25.

    d1 = cat sat mat (|d1| = 3), d2 = cat cat dog (|d2| = 3), d3 = dog ran (|d3| = 2)
    N = 3, avgdl = 8 / 3

    idf(t) = ln(N - n(t) + 0.5) - ln(n(t) + 0.5):
      n = 1 (sat, mat, ran): ln(2.5) - ln(1.5) = ln(5/3) = 0.5108256237659907
      n = 2 (cat, dog):      ln(1.5) - ln(2.5) = -ln(5/3), negative
    mean idf over the 5 terms = (3 ln(5/3) - 2 ln(5/3)) / 5 = ln(5/3) / 5 = 0.10216512475319814
    so idf(cat) = idf(dog) = 0.25 * 0.10216512475319814 = 0.025541281188299535

    length norm k1 * (1 - b + b * |d| / avgdl):
      |d| = 3: 1.5 * (0.25 + 0.75 * 9/8) = 1.640625
      |d| = 2: 1.5 * (0.25 + 0.75 * 3/4) = 1.21875
    term weight f * (k1 + 1) / (f + norm):
      f = 1, |d| = 3: 2.5 / 2.640625 = 160/169 = 0.9467455621301775
      f = 2, |d| = 3: 5 / 3.640625 = 320/233 = 1.3733905579399142
      f = 1, |d| = 2: 2.5 / 2.21875 = 80/71 = 1.1267605633802817

    score(d1) = 0.025541281188299535 * 160/169 + 0.5108256237659907 * 160/169
              = 0.02418109461614157 + 0.4836218923228314 = 0.507802986938973
    score(d2) = 0.025541281188299535 * 320/233 = 0.03507815442169893
    score(d3) = 0.5108256237659907 * 80/71 = 0.5755781676236515
    """
    docs = [["cat", "sat", "mat"], ["cat", "cat", "dog"], ["dog", "ran"]]
    query = ["cat", "mat", "ran"]
    expected = np.array([0.507802986938973, 0.03507815442169893, 0.5755781676236515])

    stats = Stats.of([Segment.from_terms(docs)])
    assert stats.n == 3
    assert stats.avgdl == pytest.approx(8 / 3, rel=1e-15)
    assert stats.average_idf == pytest.approx(math.log(5 / 3) / 5, rel=1e-12)
    assert stats.idf("mat") == pytest.approx(0.5108256237659907, rel=1e-12)
    assert stats.idf("cat") == pytest.approx(0.025541281188299535, rel=1e-12)
    assert stats.idf("unknown") == 0.0

    assert_close(score_segments(stats, query)[0], expected)
    assert_close(BM25Okapi(docs).get_scores(query), expected)


# ---------------------------------------------------------------- several segments


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_overlay_scores_equal_a_rebuild(seed: int) -> None:
    rng = random.Random(seed)
    docs = random_corpus(rng, 80, 120)
    cut = rng.randint(1, len(docs) - 1)
    base, extra = docs[:cut], docs[cut:] + [["onlyinoverlay", "t1"], ["onlyinoverlay"]]
    combined = Stats.of([Segment.from_terms(base), Segment.from_terms(extra)])
    oracle = BM25Okapi(base + extra)
    assert combined.n == len(base) + len(extra)
    assert combined.average_idf == pytest.approx(oracle.average_idf, rel=REL_TOL)
    for query in random_queries(rng, base + extra, 60) + [["onlyinoverlay", "t0"]]:
        assert_close(np.concatenate(score_segments(combined, query)), oracle.get_scores(query))


def test_three_segments_equal_a_rebuild() -> None:
    rng = random.Random(31)
    docs = random_corpus(rng, 60, 50)
    parts = [docs[:10], docs[10:45], docs[45:]]
    combined = Stats.of([Segment.from_terms(p) for p in parts])
    oracle = BM25Okapi(docs)
    for query in random_queries(rng, docs, 40):
        assert_close(np.concatenate(score_segments(combined, query)), oracle.get_scores(query))


# ---------------------------------------------------------------- empty segments


def test_empty_segment() -> None:
    empty = Segment.from_terms([])
    assert empty.size == 0
    assert empty.postings("x") is None and empty.term_df("x") == 0
    stats = Stats.of([empty])
    assert (stats.n, stats.avgdl, stats.average_idf) == (0, 0.0, 0.0)
    (out,) = score_segments(stats, ["x", "y"])
    assert out.shape == (0,)
    assert score_segments(Stats.of([]), ["x"]) == []


@pytest.mark.parametrize("empty_first", [True, False])
def test_empty_segment_beside_a_full_one_changes_nothing(empty_first: bool) -> None:
    rng = random.Random(41)
    docs = random_corpus(rng, 30, 40)
    full, empty = Segment.from_terms(docs), Segment.from_terms([])
    segments = [empty, full] if empty_first else [full, empty]
    stats = Stats.of(segments)
    oracle = BM25Okapi(docs)
    assert stats.average_idf == pytest.approx(oracle.average_idf, rel=REL_TOL)
    for query in random_queries(rng, docs, 30):
        out = score_segments(stats, query)
        assert out[segments.index(empty)].shape == (0,)
        assert_close(out[segments.index(full)], oracle.get_scores(query))


def test_empty_documents_inside_a_segment() -> None:
    docs = [["a", "b"], [], ["b", "c", "c"], [], ["a"]]
    segment = Segment.from_terms(docs)
    assert segment.size == 5
    assert list(segment.doc_len) == [2, 0, 3, 0, 1]
    oracle = BM25Okapi(docs)
    for query in (["a"], ["b", "c"], ["c", "c", "a"], ["nothing"]):
        assert_close(scores(docs, query), oracle.get_scores(query))


def test_empty_query_scores_zero() -> None:
    docs = [["a", "b"], ["c"]]
    assert list(scores(docs, [])) == [0.0, 0.0]
