"""BM25: scores equal bm25s's Lucene variant (the oracle), for one segment or several.

Random corpora are seeded; a hand-worked 3-document example pins the formula
itself, so the test would catch bm25s and us agreeing on something wrong. The
oracle runs in float64 (bm25s's default float32 could not be compared to 1e-9).
"""

from __future__ import annotations

import math
import random

import bm25s
import numpy as np
import pytest

from rag.search.bm25 import BM25Params, Segment, Stats, lucene_idf, score_segments

REL_TOL = 1e-9


def assert_close(ours: np.ndarray, oracle: np.ndarray) -> None:
    ours, oracle = np.asarray(ours, dtype=np.float64), np.asarray(oracle, dtype=np.float64)
    assert ours.shape == oracle.shape
    # relative error <= 1e-9 (absolute for scores that are zero or nearly)
    assert np.all(np.abs(ours - oracle) <= REL_TOL * np.maximum(np.abs(oracle), 1.0)), (ours, oracle)


class Oracle:
    """bm25s's Lucene BM25 over the same term lists (float64)."""

    def __init__(self, docs: list[list[str]], k1: float = 1.5, b: float = 0.75) -> None:
        self.retriever = bm25s.BM25(k1=k1, b=b, method="lucene", dtype="float64")
        self.retriever.index(docs, show_progress=False)

    def get_scores(self, query: list[str]) -> np.ndarray:
        return self.retriever.get_scores(query)


def scores(documents: list[list[str]], query: list[str], params: BM25Params = BM25Params(), batch: int = 8192) -> np.ndarray:
    stats = Stats.of([Segment.from_terms(documents, batch=batch)], params)
    (out,) = score_segments(stats, query)
    return out


def random_corpus(rng: random.Random, n_docs: int, vocab_size: int) -> list[list[str]]:
    """Zipf-ish documents plus a term ``common`` in about 70 % of them (a negative idf for BM25Okapi)."""
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
def test_parity_with_bm25s(seed: int, n_docs: int, vocab_size: int) -> None:
    rng = random.Random(seed)
    docs = random_corpus(rng, n_docs, vocab_size)
    oracle = Oracle(docs)
    segment = Segment.from_terms(docs, batch=max(1, n_docs // 3))  # several batches: exercises the widening
    stats = Stats.of([segment])
    for query in random_queries(rng, docs, 220):
        (ours,) = score_segments(stats, query)
        assert_close(ours, oracle.get_scores(query))


@pytest.mark.parametrize(("k1", "b"), [(1.2, 0.75), (0.9, 0.4), (2.0, 1.0), (1.5, 0.0)])
def test_parity_with_other_parameters(k1: float, b: float) -> None:
    rng = random.Random(11)
    docs = random_corpus(rng, 60, 80)
    oracle = Oracle(docs, k1=k1, b=b)
    for query in random_queries(rng, docs, 30):
        assert_close(scores(docs, query, BM25Params(k1=k1, b=b)), oracle.get_scores(query))


@pytest.mark.parametrize("seed", range(20))
def test_a_matching_document_always_outranks_a_non_matching_one_in_small_folders(seed: int) -> None:
    """The fault of BM25Okapi's idf in a folder of a few documents (zero at half, negative above)."""
    rng = random.Random(seed)
    n = rng.randint(1, 6)
    docs = [rng.choices(["windows", "linux", "agent", "release", "notes"], k=rng.randint(2, 8)) for _ in range(n)]
    stats = Stats.of([Segment.from_terms(docs)])
    for term in ("windows", "linux", "agent"):
        (out,) = score_segments(stats, [term])
        holding = [i for i, d in enumerate(docs) if term in d]
        assert all(out[i] > 0 for i in holding)
        assert all(out[i] == 0 for i in range(n) if i not in holding)
        assert stats.idf(term) > 0 or not holding


def test_near_identical_documents_rank_by_the_term() -> None:
    """Three release notes from one template; two say Windows. BM25Okapi gave those two -0.39."""
    template = "release notes version build date changes fixes known issues".split()
    docs = [template + ["windows"], template + ["windows", "installer"], template + ["linux"]]
    (out,) = score_segments(Stats.of([Segment.from_terms(docs)]), ["windows"])
    assert out[0] > 0 and out[1] > 0 and out[2] == 0


def test_hand_worked_example() -> None:
    """Three documents, query ``cat mat ran``, k1 = 1.5, b = 0.75 (Lucene's BM25).

    d1 = cat sat mat (|d1| = 3), d2 = cat cat dog (|d2| = 3), d3 = dog ran (|d3| = 2)
    N = 3, avgdl = 8 / 3

    idf(t) = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5)):
      n = 1 (sat, mat, ran): ln(1 + 2.5 / 1.5) = ln(8/3) = 0.9808292530117262
      n = 2 (cat, dog):      ln(1 + 1.5 / 2.5) = ln(8/5) = 0.47000362924573563  (positive, unlike BM25Okapi's)

    length norm k1 * (1 - b + b * |d| / avgdl):
      |d| = 3: 1.5 * (0.25 + 0.75 * 9/8) = 1.640625
      |d| = 2: 1.5 * (0.25 + 0.75 * 3/4) = 1.21875
    term weight f / (f + norm):
      f = 1, |d| = 3: 1 / 2.640625 = 64/169
      f = 2, |d| = 3: 2 / 3.640625 = 128/233
      f = 1, |d| = 2: 1 / 2.21875 = 32/71

    score(d1) = ln(8/5) * 64/169 + ln(8/3) * 64/169 = 0.5494278370679145
    score(d2) = ln(8/5) * 128/233 = 0.25819941864143414
    score(d3) = ln(8/3) * 32/71 = 0.4420638886813414
    """
    docs = [["cat", "sat", "mat"], ["cat", "cat", "dog"], ["dog", "ran"]]
    query = ["cat", "mat", "ran"]
    expected = np.array([
        (math.log(8 / 5) + math.log(8 / 3)) * 64 / 169,
        math.log(8 / 5) * 128 / 233,
        math.log(8 / 3) * 32 / 71,
    ])
    assert expected == pytest.approx([0.5494278370679145, 0.25819941864143414, 0.4420638886813414], rel=1e-12)

    stats = Stats.of([Segment.from_terms(docs)])
    assert stats.n == 3
    assert stats.avgdl == pytest.approx(8 / 3, rel=1e-15)
    assert stats.idf("mat") == pytest.approx(math.log(8 / 3), rel=1e-12)
    assert stats.idf("cat") == pytest.approx(math.log(8 / 5), rel=1e-12)
    assert stats.idf("unknown") == 0.0
    assert float(lucene_idf(2, 3)) == pytest.approx(math.log(8 / 5), rel=1e-12)

    assert_close(score_segments(stats, query)[0], expected)
    assert_close(Oracle(docs).get_scores(query), expected)


# ---------------------------------------------------------------- several segments


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_overlay_scores_equal_a_rebuild(seed: int) -> None:
    rng = random.Random(seed)
    docs = random_corpus(rng, 80, 120)
    cut = rng.randint(1, len(docs) - 1)
    base, extra = docs[:cut], docs[cut:] + [["onlyinoverlay", "t1"], ["onlyinoverlay"]]
    combined = Stats.of([Segment.from_terms(base), Segment.from_terms(extra)])
    oracle = Oracle(base + extra)
    assert combined.n == len(base) + len(extra)
    for query in random_queries(rng, base + extra, 60) + [["onlyinoverlay", "t0"]]:
        assert_close(np.concatenate(score_segments(combined, query)), oracle.get_scores(query))


def test_three_segments_equal_a_rebuild() -> None:
    rng = random.Random(31)
    docs = random_corpus(rng, 60, 50)
    parts = [docs[:10], docs[10:45], docs[45:]]
    combined = Stats.of([Segment.from_terms(p) for p in parts])
    oracle = Oracle(docs)
    for query in random_queries(rng, docs, 40):
        assert_close(np.concatenate(score_segments(combined, query)), oracle.get_scores(query))


# ---------------------------------------------------------------- empty segments


def test_empty_segment() -> None:
    empty = Segment.from_terms([])
    assert empty.size == 0
    assert empty.postings("x") is None and empty.term_df("x") == 0
    stats = Stats.of([empty])
    assert (stats.n, stats.avgdl) == (0, 0.0)
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
    oracle = Oracle(docs)
    for query in random_queries(rng, docs, 30):
        out = score_segments(stats, query)
        assert out[segments.index(empty)].shape == (0,)
        assert_close(out[segments.index(full)], oracle.get_scores(query))


def test_empty_documents_inside_a_segment() -> None:
    docs = [["a", "b"], [], ["b", "c", "c"], [], ["a"]]
    segment = Segment.from_terms(docs)
    assert segment.size == 5
    assert list(segment.doc_len) == [2, 0, 3, 0, 1]
    oracle = Oracle(docs)
    for query in (["a"], ["b", "c"], ["c", "c", "a"], ["nothing"]):
        assert_close(scores(docs, query), oracle.get_scores(query))


def test_empty_query_scores_zero() -> None:
    docs = [["a", "b"], ["c"]]
    assert list(scores(docs, [])) == [0.0, 0.0]


# ---------------------------------------------------------------- one query, analyzed per document language


def test_per_language_terms_score_each_document_with_its_own_language_terms() -> None:
    """English rows get the English term list, Turkish rows the Turkish one; a term in both counts in both."""
    docs = [["kubernet", "upgrad"], ["kube", "yuks"], ["kubernet", "kube"], ["other"]]
    langs = np.array([0, 1, 0, 1], dtype=np.uint8)
    stats = Stats.of([Segment.from_terms(docs)])
    query = {0: ["kubernet", "upgrad"], 1: ["kube", "yuks", "kube"]}
    (out,) = score_segments(stats, query, [langs])
    (en,) = score_segments(stats, query[0])
    (tr,) = score_segments(stats, query[1])
    expected = np.where(langs == 0, en, tr)
    assert_close(out, expected)
    # row 2 is English: its "kube" (a Turkish-analysis term) must not count for it
    assert out[2] == pytest.approx(en[2]) and tr[2] > 0


def test_per_language_terms_across_segments() -> None:
    rng = random.Random(5)
    base, extra = random_corpus(rng, 30, 40), random_corpus(rng, 8, 40)
    langs = [np.array([rng.randint(0, 1) for _ in base], dtype=np.uint8), np.array([rng.randint(0, 1) for _ in extra], dtype=np.uint8)]
    stats = Stats.of([Segment.from_terms(base), Segment.from_terms(extra)])
    query = {0: ["t1", "t2", "common"], 1: ["t3", "t1"]}
    out = score_segments(stats, query, langs)
    en, tr = score_segments(stats, query[0]), score_segments(stats, query[1])
    for s in range(2):
        assert_close(out[s], np.where(langs[s] == 0, en[s], tr[s]))
