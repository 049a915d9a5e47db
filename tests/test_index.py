"""The index: cache round trip, incremental refresh, overlays, de-duplication and confidence.

Each test builds a small docs folder in ``tmp_path`` (six files on distinct
topics: BM25's idf needs a few documents before a rare word counts) and a cache
folder beside it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from rag.documents.loading import load_bytes
from rag.errors import DocsError
from rag.search.index import Index, IndexReport, open_index
from rag.search.retrieval import search

DOCS = {
    "quantization.md": "# Quantization\n\nQuantization stores model weights in fewer bits, such as four-bit integers, to cut memory use.\n",
    "foundry.md": "# Foundry Local\n\nFoundry Local runs small language models on your own laptop without a cloud service.\n\n"
    "## Install\n\nInstall it with winget on Windows or brew on macOS.\n",
    "guides/llama.md": "# llama.cpp\n\nThe llama.cpp server exposes an OpenAI compatible endpoint on port 8080.\n",
    "guides/onnx.txt": "ONNX Runtime executes exported graphs on CPUs, GPUs and NPUs with execution providers.\n",
    "agents.md": "# Agents\n\nAn agent calls tools in a loop until the task is done, keeping a scratchpad of steps.\n",
    "olive.md": "# Olive\n\nOlive optimizes models for a target device by chaining passes like pruning and graph fusion.\n",
}


@pytest.fixture
def docs(tmp_path: Path, write_files) -> Path:
    return write_files(tmp_path / "docs", DOCS)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def hits_of(index: Index, query: str, k: int = 10, **kwargs) -> list[tuple[str, int, float]]:
    return [(h.source, h.chunk.ordinal, h.score) for h in search(index, query, k, **kwargs).hits]


def rewrite(path: Path, text: str) -> None:
    """Change a file's content and make sure its mtime moves (filesystem clocks are coarse)."""
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


# ---------------------------------------------------------------- cache


def test_first_open_processes_every_file(docs: Path, cache: Path) -> None:
    index, report = open_index(docs, cache)
    assert (report.files, report.processed, report.reused, report.removed) == (6, 6, 0, 0)
    assert report.chunks == len(index.chunks) >= 6
    assert index.sources == sorted(DOCS)
    assert report.skipped == [] and report.warnings == []
    assert [p.name for p in cache.rglob("*") if p.is_file()] == ["index.npz"]


def test_persistence_round_trip(docs: Path, cache: Path) -> None:
    first, _ = open_index(docs, cache)
    second, report = open_index(docs, cache)
    assert (report.files, report.reused, report.processed, report.removed) == (6, 6, 0, 0)
    assert second.chunks == first.chunks
    assert second.langs == first.langs
    for query in ("four-bit weights", "OpenAI endpoint port", "agent tools loop"):
        assert hits_of(second, query) == hits_of(first, query) != []


def test_edited_file_is_processed_again(docs: Path, cache: Path) -> None:
    open_index(docs, cache)
    rewrite(docs / "olive.md", "# Olive\n\nOlive now also quantizes models with a Zanzibar pass.\n")
    index, report = open_index(docs, cache)
    assert (report.processed, report.reused) == (1, 5)
    assert hits_of(index, "zanzibar")[0][0] == "olive.md"
    assert "chaining passes" not in " ".join(c.text for c in index.chunks)


def test_touched_file_is_reused(docs: Path, cache: Path) -> None:
    open_index(docs, cache)
    path = docs / "agents.md"
    later = path.stat().st_mtime_ns + 5_000_000_000
    os.utime(path, ns=(later, later))
    _, report = open_index(docs, cache)
    assert (report.processed, report.reused) == (0, 6)
    _, report = open_index(docs, cache)  # the new mtime was remembered: not even re-read
    assert (report.processed, report.reused) == (0, 6)


def test_added_file_is_processed(docs: Path, cache: Path) -> None:
    open_index(docs, cache)
    (docs / "new.md").write_text("# Phi\n\nPhi-4-mini has 3.8 billion parameters.\n")
    index, report = open_index(docs, cache)
    assert (report.files, report.processed, report.reused) == (7, 1, 6)
    assert hits_of(index, "phi parameters")[0][0] == "new.md"


def test_deleted_file_is_removed(docs: Path, cache: Path) -> None:
    before, _ = open_index(docs, cache)
    assert hits_of(before, "OpenAI endpoint port")[0][0] == "guides/llama.md"
    (docs / "guides" / "llama.md").unlink()
    index, report = open_index(docs, cache)
    assert (report.files, report.removed, report.processed) == (5, 1, 0)
    assert "guides/llama.md" not in index.sources
    assert all(source != "guides/llama.md" for source, _, _ in hits_of(index, "llama.cpp server OpenAI endpoint port"))


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"this is not an npz", id="text"),
        pytest.param(b"\0" * 4096, id="zeros"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\x80\x05\x8e" + (2**63 - 1).to_bytes(8, "little"), id="huge-length"),
    ],
)
def test_corrupt_cache_is_rebuilt(docs: Path, cache: Path, garbage: bytes) -> None:
    first, _ = open_index(docs, cache)
    (cache_file,) = cache.rglob("index.npz")
    cache_file.write_bytes(garbage)
    index, report = open_index(docs, cache)
    assert (report.processed, report.reused) == (6, 0)
    assert index.chunks == first.chunks
    assert hits_of(index, "four-bit weights") == hits_of(first, "four-bit weights")
    _, report = open_index(docs, cache)  # and the rebuilt cache is good again
    assert report.reused == 6


def test_truncated_cache_is_rebuilt(docs: Path, cache: Path) -> None:
    open_index(docs, cache)
    (cache_file,) = cache.rglob("index.npz")
    cache_file.write_bytes(cache_file.read_bytes()[: cache_file.stat().st_size // 2])
    _, report = open_index(docs, cache)
    assert (report.processed, report.reused) == (6, 0)


def test_changed_chunk_settings_invalidate_the_cache(docs: Path, cache: Path) -> None:
    from rag.documents.chunking import ChunkConfig
    from rag.search.index import IndexConfig

    open_index(docs, cache)
    _, report = open_index(docs, cache, IndexConfig(chunk=ChunkConfig(target=64, overlap=8)))
    assert (report.processed, report.reused) == (6, 0)


def test_no_cache_dir_writes_nothing(docs: Path, tmp_path: Path) -> None:
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    _, report = open_index(docs, None)
    assert report.processed == 6
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_cache_inside_the_docs_folder_is_not_indexed(docs: Path) -> None:
    _, first = open_index(docs, docs / "cache")
    _, second = open_index(docs, docs / "cache")
    assert first.files == second.files == 6
    assert second.reused == 6


# ---------------------------------------------------------------- overlay

UPLOAD = b"# Launch plan\n\nThe launch codename is Pelican Harbor, chosen by the board in March.\n"


def test_overlay_is_searched_with_the_base(docs: Path, cache: Path) -> None:
    index, _ = open_index(docs, cache)
    overlay = index.new_overlay()
    chunks = overlay.add(load_bytes("plan.md", UPLOAD))
    assert chunks and overlay.sources == ["plan.md"]
    result = search(index, "pelican harbor codename", overlay=overlay)
    assert result.hits[0].source == "plan.md"
    assert result.hits[0].origin == "upload"
    assert all(h.origin == "docs" for h in search(index, "four-bit weights", overlay=overlay).hits)
    assert search(index, "pelican harbor codename").hits == []  # the base alone does not know it


def test_overlay_add_bytes_keeps_a_different_file_of_the_same_name(docs: Path, cache: Path) -> None:
    index, _ = open_index(docs, cache)
    overlay = index.new_overlay()
    overlay.add_bytes("plan.md", UPLOAD)
    second = overlay.add_bytes("plan.md", b"# Launch plan\n\nThe codename changed to Osprey Point.\n")
    assert (second.source, second.renamed, second.duplicate) == ("plan (2).md", True, False)
    assert overlay.sources == ["plan.md", "plan (2).md"]
    assert search(index, "pelican harbor", overlay=overlay).hits[0].source == "plan.md"
    assert search(index, "osprey point", overlay=overlay).hits[0].source == "plan (2).md"


def test_overlay_scores_equal_a_full_index(docs: Path, cache: Path, tmp_path: Path, write_files) -> None:
    extra = {
        "zz/plan.md": UPLOAD.decode(),
        "zz/more.md": "# Quantization again\n\nFour-bit quantization of weights loses little accuracy on small models.\n",
    }
    base, _ = open_index(docs, cache)
    overlay = base.new_overlay()
    for name, text in extra.items():
        overlay.add(load_bytes(name, text.encode()))
    everything = write_files(tmp_path / "all", {**DOCS, **extra})
    full, _ = open_index(everything, None)
    for query in ("four-bit quantization weights", "pelican codename", "models on a laptop", "graph fusion passes pruning"):
        with_overlay = {(s, o): score for s, o, score in hits_of(base, query, k=20, overlay=overlay)}
        rebuilt = {(s, o): score for s, o, score in hits_of(full, query, k=20)}
        assert with_overlay.keys() == rebuilt.keys() and with_overlay
        for key, score in rebuilt.items():
            assert with_overlay[key] == pytest.approx(score, rel=1e-9)


def test_overlay_remove_and_clear(docs: Path, cache: Path) -> None:
    index, _ = open_index(docs, cache)
    overlay = index.new_overlay()
    overlay.add(load_bytes("plan.md", UPLOAD))
    overlay.add(load_bytes("other.md", b"# Other\n\nThe mascot is a purple walrus.\n"))
    assert overlay.remove("plan.md") is True
    assert overlay.remove("plan.md") is False
    assert search(index, "pelican harbor", overlay=overlay).hits == []
    assert search(index, "purple walrus", overlay=overlay).hits[0].origin == "upload"
    overlay.clear()
    assert overlay.sources == [] and overlay.chunks == []
    assert search(index, "purple walrus", overlay=overlay).hits == []
    assert overlay.view().stats is index.stats
    assert hits_of(index, "four-bit weights", overlay=overlay) == hits_of(index, "four-bit weights")


def test_overlay_does_not_change_the_base(docs: Path, cache: Path) -> None:
    index, _ = open_index(docs, cache)
    before = hits_of(index, "four-bit weights")
    index.new_overlay().add(load_bytes("plan.md", UPLOAD))
    assert hits_of(index, "four-bit weights") == before


# ---------------------------------------------------------------- retrieval behaviour

PARAGRAPH = (
    "To enable the hardware accelerator, open the settings panel, choose the device tab, tick the box "
    "labelled use neural processing unit, and restart the runtime so the change takes effect."
)


def test_near_duplicates_are_returned_once(docs: Path, cache: Path, write_files) -> None:
    write_files(docs, {"setup/readme.md": f"# Setup\n\n{PARAGRAPH}\n", "setup/module.md": f"# Module setup\n\n{PARAGRAPH}\n"})
    index, _ = open_index(docs, cache)
    assert {"setup/readme.md", "setup/module.md"} <= set(index.sources)
    hits = search(index, "enable the neural processing unit accelerator on the device runtime", k=5).hits
    assert len(hits) >= 2  # other documents (olive.md, onnx.txt) still fill the list
    assert sum(PARAGRAPH in h.text for h in hits) == 1
    assert hits[0].source.startswith("setup/")


def test_confidence_separates_covered_and_unrelated_questions(docs: Path, cache: Path) -> None:
    index, _ = open_index(docs, cache)
    covered = search(index, "Which port does the llama.cpp server endpoint listen on?").confidence
    unrelated = search(index, "bitcoin mining profitability").confidence
    assert covered.covered is True
    assert unrelated.covered is False
    assert covered.coverage > unrelated.coverage
    assert 0 < covered.coverage <= 1 and covered.top_score > 0


def test_search_result_fields(docs: Path, cache: Path) -> None:
    index, _ = open_index(docs, cache)
    result = search(index, "Quantization weights", k=3)
    assert result.lang == "en"
    assert result.terms == ["quantiz", "weight"]
    assert [h.rank for h in result.hits] == list(range(1, len(result.hits) + 1))
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)
    assert result.hits[0].heading == "Quantization"


# ---------------------------------------------------------------- errors


def test_missing_docs_folder(tmp_path: Path, cache: Path) -> None:
    with pytest.raises(DocsError, match="does not exist") as info:
        open_index(tmp_path / "missing", cache)
    assert "--docs" in str(info.value)


def test_docs_path_is_a_file(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text("# A\n")
    with pytest.raises(DocsError, match="is a file, not a folder"):
        open_index(path, cache)


def test_folder_without_readable_documents(tmp_path: Path, cache: Path, write_files) -> None:
    docs = write_files(tmp_path / "docs", {"empty.md": b"", "image.png": b"\x89PNG"})
    with pytest.raises(DocsError) as info:
        open_index(docs, cache)
    message = str(info.value)
    assert "No readable documents" in message
    assert "empty.md: empty file" in message
    assert "--docs" in message


def test_the_no_documents_message_lists_every_format_that_is_read(tmp_path: Path, cache: Path, write_files) -> None:
    from rag.documents.loading import SUPPORTED_SUFFIXES

    docs = write_files(tmp_path / "docs", {"image.png": b"\x89PNG"})
    with pytest.raises(DocsError) as info:
        open_index(docs, cache)
    named = set(re.findall(r"(\.[a-z]+)\b", str(info.value).split(". Add ", 1)[1]))
    assert named == set(SUPPORTED_SUFFIXES), named ^ set(SUPPORTED_SUFFIXES)


def test_empty_folder_is_allowed_when_documents_are_not_required(tmp_path: Path, cache: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    index, report = open_index(docs, cache, require_documents=False)
    assert isinstance(report, IndexReport) and report.files == 0 and index.chunks == []
    assert search(index, "anything").hits == []
