"""Retrieval benchmark: our inverted BM25 index against bm25s and rank-bm25, side by side.

usage: .venv/bin/python -m bench.retrieval [--sizes 1000,10000,100000] [--queries 200] [--json-out FILE]

Real text: the ~5,100 Markdown files of ../shared/corpora/edgeai-all-languages.tar.xz
(56 languages), extracted to a temporary folder, loaded and chunked like any docs
folder. For each size it prints, over the *same* chunks and term lists: build rate
(chunks/s, analysis included for ours), BM25 scoring latency p50/p95 for ours, for
bm25s (the library that defines our Lucene variant, float64) and for rank-bm25's
BM25Okapi (the stack's library; another idf, so timing only), the top-10 agreement
with bm25s, and the whole ``search()`` latency (query analysis, scoring, answer-type
cues, de-duplication, the coverage judgement) twice: with the question analyzed for
one language, and for every language of the index (what a mixed folder gets). Then
the time to add a 1 MB document to an overlay on top of the largest index, and the
peak RSS of a process that builds and queries the largest index (measured in a
child, so the other libraries are not counted). Figures go to stdout as a table and
as one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from rag.documents.chunking import ChunkConfig, chunk_document
from rag.documents.loading import Document, Page, load_folder
from rag.documents.tokens import count_tokens
from rag.search.analysis import Analyzer, detect_language
from rag.search.bm25 import Segment, Stats, score_segments, top_k
from rag.search.index import Index, IndexConfig, analyze_chunk_terms
from rag.search.retrieval import search

ROOT = Path(__file__).resolve().parents[1]

TARBALL = ROOT.parent / "shared" / "corpora" / "edgeai-all-languages.tar.xz"


def load_chunks(limit: int, tmp: Path) -> tuple[list, list[str], dict]:
    t0 = time.perf_counter()
    with tarfile.open(TARBALL) as tar:
        tar.extractall(tmp, filter="data")
    t1 = time.perf_counter()
    loaded = load_folder(tmp)
    t2 = time.perf_counter()
    docs = loaded.documents
    random.Random(7).shuffle(docs)  # mix languages so every size has several
    chunks, langs = [], []
    for doc in docs:
        lang = detect_language(" ".join(p.text for p in doc.pages[:1]))
        for c in chunk_document(doc, count_tokens, ChunkConfig()):
            chunks.append(c)
            langs.append(lang)
        if len(chunks) >= limit:
            break
    t3 = time.perf_counter()
    chunks, langs = chunks[:limit], langs[:limit]
    info = {"files_loaded": len(loaded.documents), "extract_s": round(t1 - t0, 2), "load_s": round(t2 - t1, 2),
            "chunking_chunks_per_s": round(len(chunks) / (t3 - t2)), "chunks_available": len(chunks)}
    return chunks, langs, info


def make_queries(analyzer: Analyzer, chunks, langs, n: int) -> list[list[str]]:
    """Queries of 3-6 words taken from random chunks (so most have real matches)."""
    rng = random.Random(11)
    queries = []
    while len(queries) < n:
        i = rng.randrange(len(chunks))
        terms = analyzer.terms(chunks[i].text, langs[i])
        if len(terms) < 6:
            continue
        queries.append(rng.sample(terms, rng.randint(3, 6)))
    return queries


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def top10(scores: np.ndarray) -> list[int]:
    return [int(i) for i in top_k(scores, 10)]


def agree(ours: np.ndarray, theirs: np.ndarray) -> bool:
    """Same top-10, allowing ties at equal score to come in any order."""
    a, b = top10(ours), top10(theirs)
    if a == b:
        return True
    sa, sb = sorted(ours[a], reverse=True), sorted(theirs[b], reverse=True)
    return len(a) == len(b) and np.allclose(sa, sb, rtol=1e-9, atol=0)


def bench_size(chunks, langs, size: int, n_queries: int, rank_queries: int) -> dict:
    import bm25s
    from rank_bm25 import BM25Okapi

    sub, sub_langs = chunks[:size], langs[:size]
    analyzer = Analyzer()
    t0 = time.perf_counter()
    term_lists = [analyze_chunk_terms(analyzer, c, lang) for c, lang in zip(sub, sub_langs)]
    t1 = time.perf_counter()
    segment = Segment.from_terms(term_lists)
    stats = Stats.of([segment])
    t2 = time.perf_counter()
    index = Index(list(sub), list(sub_langs), segment, IndexConfig(), analyzer)
    queries = make_queries(analyzer, sub, sub_langs, n_queries)

    ours_ms = []
    for q in queries:
        s = time.perf_counter()
        scores = score_segments(stats, q)[0]
        top10(scores)
        ours_ms.append((time.perf_counter() - s) * 1000)
    # the whole search() path: one language's analysis, then every language of the index
    texts = [" ".join(q) for q in queries]
    search_ms, search_multi_ms = [], []
    for text in texts:
        s = time.perf_counter()
        search(index, text, 10, language="en")
        search_ms.append((time.perf_counter() - s) * 1000)
        s = time.perf_counter()
        search(index, text, 10)
        search_multi_ms.append((time.perf_counter() - s) * 1000)

    b0 = time.perf_counter()
    oracle = bm25s.BM25(k1=1.5, b=0.75, method="lucene", dtype="float64")
    oracle.index(term_lists, show_progress=False)
    b1 = time.perf_counter()
    bm25s_ms, agreements = [], 0
    for q in queries[:rank_queries]:
        s = time.perf_counter()
        theirs = oracle.get_scores(q)
        top10(theirs)  # the same top-k selection for both
        bm25s_ms.append((time.perf_counter() - s) * 1000)
        agreements += agree(score_segments(stats, q)[0], theirs)
    del oracle

    r0 = time.perf_counter()
    ref = BM25Okapi(term_lists)
    r1 = time.perf_counter()
    ref_ms = []
    for q in queries[:rank_queries]:
        s = time.perf_counter()
        top10(ref.get_scores(q))
        ref_ms.append((time.perf_counter() - s) * 1000)
    del ref
    return {
        "chunks": size,
        "terms": int(sum(len(t) for t in term_lists)),
        "languages": dict(index.lang_counts),
        "ours_analysis_s": round(t1 - t0, 3),
        "ours_build_chunks_per_s": round(size / (t2 - t0)),
        "ours_index_only_chunks_per_s": round(size / (t2 - t1)),
        "bm25s_build_chunks_per_s": round(size / (b1 - b0)),
        "rank_bm25_build_chunks_per_s": round(size / (r1 - r0)),
        "ours_score_p50_ms": round(pct(ours_ms, 50), 4),
        "ours_score_p95_ms": round(pct(ours_ms, 95), 4),
        "ours_search_p50_ms": round(pct(search_ms, 50), 4),
        "ours_search_p95_ms": round(pct(search_ms, 95), 4),
        "ours_search_all_languages_p50_ms": round(pct(search_multi_ms, 50), 4),
        "ours_search_all_languages_p95_ms": round(pct(search_multi_ms, 95), 4),
        "bm25s_p50_ms": round(pct(bm25s_ms, 50), 3),
        "bm25s_p95_ms": round(pct(bm25s_ms, 95), 3),
        "rank_bm25_p50_ms": round(pct(ref_ms, 50), 3),
        "rank_bm25_p95_ms": round(pct(ref_ms, 95), 3),
        "speedup_vs_bm25s_p50": round(pct(bm25s_ms, 50) / pct(ours_ms, 50), 1),
        "speedup_vs_rank_bm25_p50": round(pct(ref_ms, 50) / pct(ours_ms, 50), 1),
        "top10_agreement_with_bm25s": f"{agreements}/{len(bm25s_ms)}",
    }


def overlay_add(chunks, langs) -> dict:
    analyzer = Analyzer()
    term_lists = [analyze_chunk_terms(analyzer, c, lang) for c, lang in zip(chunks, langs)]
    index = Index(list(chunks), list(langs), Segment.from_terms(term_lists), IndexConfig(), analyzer)
    text, i = [], 0
    en = [c for c, lang in zip(chunks, langs) if lang == "en"] or chunks
    while sum(len(t) for t in text) < 1_000_000:
        text.append(en[i % len(en)].text)
        i += 1
    body = "\n\n".join(text).encode()[:1_000_000].decode(errors="ignore")  # exactly 1 MB of Markdown
    doc = Document("upload.md", "Upload", (Page(body),), "markdown", "x")
    times = []
    for _ in range(3):
        overlay = index.new_overlay()
        s = time.perf_counter()
        added = overlay.add(doc)
        times.append(time.perf_counter() - s)
    hit = search(index, " ".join(analyzer.terms(text[3][:200], "en")[:4]), 5, overlay=overlay)
    return {"base_chunks": len(chunks), "document_bytes": len(body.encode()), "overlay_chunks": len(added),
            "overlay_add_s_median": round(statistics.median(times), 3), "upload_hit_in_top5": any(h.origin == "upload" for h in hit.hits)}


def child_rss(path: Path) -> None:
    """Run in a child process: build + query the index from pickled chunks, print peak RSS."""
    def rss() -> float:
        # VmHWM (peak RSS of this process image): ru_maxrss would include the
        # parent's pages, as it survives the fork + exec that started this child.
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    start = rss()
    with path.open("rb") as f:
        chunks, langs = pickle.load(f)
    loaded = rss()
    analyzer = Analyzer()
    segment = Segment.from_terms(analyze_chunk_terms(analyzer, c, lang) for c, lang in zip(chunks, langs))
    index = Index(chunks, langs, segment, IndexConfig(), analyzer)
    for q in ["model quantization memory", "foundry local port", "kurulum nasıl yapılır"]:
        search(index, q, 10)
    print(json.dumps({"peak_rss_mb": rss(), "after_imports_mb": start, "after_loading_chunks_mb": loaded,
                      "chunk_text_mb": round(sum(len(c.text.encode()) for c in chunks) / 1e6, 1), "chunks": len(chunks)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rank-bm25-queries", type=int, default=50, help="queries timed on bm25s and rank-bm25 (and compared with bm25s)")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--child-rss", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_rss:
        child_rss(args.child_rss)
        return
    if not TARBALL.exists():
        sys.exit(f"{TARBALL} is missing: this benchmark needs ../shared/corpora beside the repo.")
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        chunks, langs, info = load_chunks(max(sizes), Path(tmp) / "docs")
        print(f"corpus: {info}", file=sys.stderr)
        rows = []
        for size in sizes:
            if size > len(chunks):
                print(f"only {len(chunks)} chunks available; skipping size {size}", file=sys.stderr)
                continue
            print(f"benchmarking {size} chunks...", file=sys.stderr)
            rows.append(bench_size(chunks, langs, size, args.queries, args.rank_bm25_queries))
        largest = rows[-1]["chunks"]
        overlay = overlay_add(chunks[:largest], langs[:largest])
        blob = Path(os.environ.get("BENCH_BLOB", Path(tmp) / "chunks.pkl"))
        with blob.open("wb") as f:
            pickle.dump((chunks[:largest], langs[:largest]), f)
        out = subprocess.run([sys.executable, __file__, "--child-rss", str(blob)], capture_output=True, text=True, check=True)
        rss = json.loads(out.stdout.strip().splitlines()[-1])

    cols = ["chunks", "ours_build_chunks_per_s", "ours_score_p50_ms", "ours_score_p95_ms", "ours_search_p50_ms",
            "ours_search_all_languages_p50_ms", "bm25s_p50_ms", "rank_bm25_p50_ms", "speedup_vs_bm25s_p50",
            "speedup_vs_rank_bm25_p50", "top10_agreement_with_bm25s"]
    print(" | ".join(cols))
    for row in rows:
        print(" | ".join(str(row[c]) for c in cols))
    print(f"overlay: {overlay}")
    print(f"memory: {rss}")
    result = {"corpus": info, "sizes": rows, "overlay": overlay, "memory": rss}
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
