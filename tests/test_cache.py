"""The on-disk index cache: data that never executes, checked before it is trusted, written atomically.

Someone who can write to ``RAG_CACHE_DIR`` must not be able to run code in the
app: a hostile pickle (whose ``__reduce__`` would create a marker file) under
the old file name or the new one, or hidden inside an ``.npz`` member as an
object array, is rejected without being executed, and the index is rebuilt from
the documents. A file that is not exactly what this version writes (another
version, a flipped byte, a member swapped, a compressed member, a matrix whose
indices point outside it although the checksum was recomputed) is rebuilt too.
A failed write (no space, a failed rename, a folder that cannot be written)
leaves no temporary file and keeps the previous cache.

The hostile-pickle tests use only ``open_index`` and file names, so they can be
run against the pickle cache of earlier versions (where they fail: the marker
file appears).
"""

from __future__ import annotations

import errno
import io
import os
import pickle
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rag.documents.chunking import Chunk
from rag.search import cache as cache_module
from rag.search.bm25 import Segment
from rag.search.cache import CachedIndex, FileRecord, cache_folder
from rag.search.index import IndexConfig, open_index
from rag.search.retrieval import search

NEW_NAME = "index.npz"
OLD_NAME = "index.pkl"
DOCS = {
    "quantization.md": "# Quantization\n\nQuantization stores model weights in fewer bits, such as four-bit integers.\n",
    "foundry.md": "# Foundry Local\n\nFoundry Local runs small language models on your laptop.\n\n## Install\n\nUse winget or brew.\n",
    "guides/llama.md": "# llama.cpp\n\nThe llama.cpp server exposes an OpenAI compatible endpoint on port 8080.\n",
    "guides/onnx.txt": "ONNX Runtime executes exported graphs on CPUs, GPUs and NPUs.\n",
    "agents.md": "# Agents\n\nAn agent calls tools in a loop until the task is done.\n",
    "kurulum.md": "# Kurulum\n\nFoundry Local kurulumu için winget komutunu çalıştırın; İstanbul ofisinde sınandı.\n",
}


class Hostile:
    """Unpickling this creates the folder ``marker``: any code an attacker's cache file would run instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def hostile_pickle(marker: Path) -> bytes:
    payload = pickle.dumps(Hostile(marker))
    probe = marker.with_name(marker.name + ".probe")
    pickle.loads(pickle.dumps(Hostile(probe)))  # the payload is live: loading it does create the folder
    assert probe.is_dir()
    probe.rmdir()
    return payload


@pytest.fixture
def docs(tmp_path: Path, write_files) -> Path:
    return write_files(tmp_path / "docs", DOCS)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def hits(index, query: str) -> list[tuple[str, int, float]]:
    return [(h.source, h.chunk.ordinal, h.score) for h in search(index, query, 10).hits]


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ---------------------------------------------------------------- nothing executes


@pytest.mark.parametrize("name", [OLD_NAME, NEW_NAME])
def test_a_hostile_pickle_is_never_executed_and_the_index_is_rebuilt(docs: Path, cache: Path, tmp_path: Path, name: str) -> None:
    reference, _ = open_index(docs, None)
    marker = tmp_path / "pwned"
    folder = cache_folder(cache, docs)
    folder.mkdir(parents=True)
    (folder / name).write_bytes(hostile_pickle(marker))
    index, report = open_index(docs, cache)
    assert not marker.exists(), "the cache file was unpickled: its code ran"
    assert (report.processed, report.reused) == (6, 0)  # rejected, and rebuilt from the documents
    assert index.chunks == reference.chunks and hits(index, "four-bit weights") == hits(reference, "four-bit weights")
    assert files_in(folder) == [NEW_NAME]  # the hostile file was replaced (new name) or removed (old name)
    _, again = open_index(docs, cache)
    assert (again.processed, again.reused) == (0, 6) and not marker.exists()


def test_a_pickled_object_array_inside_the_npz_is_never_executed(docs: Path, cache: Path, tmp_path: Path) -> None:
    open_index(docs, cache)
    folder = cache_folder(cache, docs)
    arrays = cache_module.encode(cache_module.read_cache(folder, IndexConfig().fingerprint()))
    marker = tmp_path / "pwned"
    hostile_pickle(marker)
    arrays["records"] = np.array([Hostile(marker)], dtype=object)  # an .npy member that holds a pickle
    with (folder / NEW_NAME).open("wb") as f:
        np.savez(f, allow_pickle=True, **arrays)
    _, report = open_index(docs, cache)
    assert not marker.exists()
    assert (report.processed, report.reused) == (6, 0)


# ---------------------------------------------------------------- anything else that is not ours is rebuilt


def _rewrite(folder: Path, change, fix_checksum: bool, compressed: bool = False) -> None:
    path = folder / NEW_NAME
    with zipfile.ZipFile(path) as archive:
        arrays = {m.filename[:-4]: np.lib.format.read_array(archive.open(m), allow_pickle=False) for m in archive.infolist()}
    arrays = {k: v.copy() for k, v in arrays.items()}
    change(arrays)
    if fix_checksum:
        arrays["checksum"] = cache_module._checksum(arrays)
    with path.open("wb") as f:
        (np.savez_compressed if compressed else np.savez)(f, allow_pickle=False, **arrays)


def _flip(name: str, at: int = 0):
    def change(arrays: dict[str, np.ndarray]) -> None:
        arrays[name].view(np.uint8).reshape(-1)[at] ^= 0x01
    return change


def _set(name: str, value: np.ndarray):
    def change(arrays: dict[str, np.ndarray]) -> None:
        arrays[name] = value
    return change


def _records(edit):
    import json

    def change(arrays: dict[str, np.ndarray]) -> None:
        records = json.loads(arrays["records"].tobytes())
        edit(records)
        arrays["records"] = np.frombuffer(json.dumps(records).encode(), dtype=np.uint8)
    return change


def _out_of_range(arrays: dict[str, np.ndarray]) -> None:
    arrays["indices"][-1] = 10**6  # a row that does not exist


TAMPERED = [
    pytest.param(_flip("text", 5), False, id="a-flipped-byte-in-the-text"),
    pytest.param(_flip("indices", 3), False, id="a-flipped-byte-in-the-matrix"),
    pytest.param(_flip("records", 40), False, id="a-flipped-byte-in-the-records"),
    pytest.param(_set("version", np.array([4], dtype=np.int64)), True, id="another-version"),
    pytest.param(_records(lambda r: r.update(fingerprint="v5.a1.l1.other")), True, id="another-fingerprint"),
    pytest.param(_records(lambda r: r["files"][0].__setitem__(5, 999)), True, id="chunk-counts-that-do-not-add-up"),
    pytest.param(_records(lambda r: r["vocab"].pop()), True, id="a-vocabulary-shorter-than-the-matrix"),
    pytest.param(_set("text_ends", np.array([1, 2, 3], dtype=np.int64)), True, id="text-offsets-that-do-not-fit"),
    pytest.param(_out_of_range, True, id="matrix-indices-out-of-range"),
    pytest.param(lambda arrays: arrays.pop("doc_len"), True, id="a-missing-member"),
    pytest.param(lambda arrays: arrays.update(extra=np.zeros(3)), True, id="an-extra-member"),
]


@pytest.mark.parametrize(("change", "fix_checksum"), TAMPERED)
def test_a_cache_file_that_is_not_exactly_ours_is_rebuilt(docs: Path, cache: Path, change, fix_checksum: bool) -> None:
    first, _ = open_index(docs, cache)
    _rewrite(cache_folder(cache, docs), change, fix_checksum)
    index, report = open_index(docs, cache)
    assert (report.processed, report.reused) == (6, 0)
    assert index.chunks == first.chunks
    assert hits(index, "winget brew install") == hits(first, "winget brew install") != []
    _, again = open_index(docs, cache)
    assert again.reused == 6


def test_a_compressed_member_is_refused_so_it_cannot_unpack_to_more_than_the_file(docs: Path, cache: Path) -> None:
    open_index(docs, cache)
    _rewrite(cache_folder(cache, docs), lambda arrays: None, fix_checksum=False, compressed=True)
    _, report = open_index(docs, cache)
    assert (report.processed, report.reused) == (6, 0)


def test_a_member_that_announces_more_than_it_holds_is_refused_before_anything_is_allocated(docs: Path, cache: Path) -> None:
    """A ``.npy`` header claiming a terabyte (the checksum cannot help: the header is read first)."""
    open_index(docs, cache)
    path = cache_folder(cache, docs) / NEW_NAME
    with zipfile.ZipFile(path) as archive:
        members = {m.filename: archive.read(m) for m in archive.infolist()}
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (2**40,)})
    members["text.npy"] = header.getvalue() + b"\0" * 64  # the header (magic included), then 64 bytes
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    tracemalloc.start()
    try:
        _, report = open_index(docs, cache)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (report.processed, report.reused) == (6, 0)
    assert peak < 100 * 2**20  # the terabyte was never asked for (numpy reports its allocations to tracemalloc)


def test_the_cache_version_was_bumped_and_is_in_the_fingerprint() -> None:
    assert cache_module.CACHE_VERSION == 5 and cache_module.CACHE_FILE == NEW_NAME
    assert IndexConfig().fingerprint().startswith("v5.")


# ---------------------------------------------------------------- round trip


def _segment_equal(a: Segment | None, b: Segment | None) -> bool:
    if a is None or b is None:
        return a is b
    return (
        a.vocab == b.vocab and a.matrix.shape == b.matrix.shape and (a.matrix != b.matrix).nnz == 0
        and np.array_equal(a.doc_len, b.doc_len) and np.array_equal(a.df, b.df) and a.terms_by_id() == b.terms_by_id()
    )


CHUNKS = [
    Chunk("a.md", "A", (), "", None, 0, 0),
    Chunk("a.md", "A", ("Kurulum", "İstanbul › şube"), "ünïcödé \u200b text, 中文, emoji 🙂\nnew line", 3, 1, 17),
    Chunk("b.pdf", "", ("x",), "page zero", 0, 0, 2),
]


@pytest.mark.parametrize(
    "cached",
    [
        pytest.param(CachedIndex("fp"), id="empty"),
        pytest.param(CachedIndex("fp", {"e.md": FileRecord("e.md", 0, 1, "0" * 64, "en", [], [])}, Segment.from_terms([])), id="a-file-without-chunks"),
        pytest.param(
            CachedIndex("fp", {
                "a.md": FileRecord("a.md", 10, 2**62, "a" * 64, "tr", CHUNKS[:2], ["", "kurul istanbul sube"]),
                "b.pdf": FileRecord("b.pdf", 3, 0, "b" * 64, "en", CHUNKS[2:], ["page zero zero"]),
            }, Segment.from_terms([[], ["kurul", "istanbul", "sube"], ["page", "zero", "zero"]])),
            id="unicode-pages-and-empty-fields",
        ),
    ],
)
def test_encode_then_decode_gives_back_the_same_index(cached: CachedIndex) -> None:
    back = cache_module.decode(cache_module.encode(cached), "fp")
    assert back is not None
    assert back.fingerprint == cached.fingerprint and back.version == cached.version
    assert back.files == cached.files
    assert all(isinstance(c.heading, tuple) for r in back.files.values() for c in r.chunks)
    assert _segment_equal(back.segment, cached.segment)


def test_the_reopened_index_is_the_built_one(docs: Path, cache: Path) -> None:
    first, _ = open_index(docs, cache)
    folder = cache_folder(cache, docs)
    cached = cache_module.read_cache(folder, IndexConfig().fingerprint())
    assert cached is not None and _segment_equal(cached.segment, first.segment)
    second, report = open_index(docs, cache)
    assert report.reused == 6 and second.chunks == first.chunks and _segment_equal(second.segment, first.segment)
    for query in ("four-bit weights", "port 8080", "İstanbul kurulum"):
        assert hits(second, query) == hits(first, query) != []


# ---------------------------------------------------------------- a failed write leaves nothing behind


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _read_only(*args, **kwargs):
    raise PermissionError(errno.EACCES, "Permission denied")  # as mkstemp in a folder we may not write (root may write anywhere)


def _half_written(file, *args, **kwargs):
    file.write(b"PK\x03\x04 half of an npz")
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize(
    ("target", "replacement"),
    [
        pytest.param("rag.search.cache.np.savez", _half_written, id="disk-full-mid-write"),
        pytest.param("rag.search.cache.os.replace", _no_space, id="rename-fails"),
        pytest.param("rag.search.cache.tempfile.mkstemp", _read_only, id="read-only-folder"),
    ],
)
def test_a_failed_write_leaves_no_temporary_file_and_keeps_the_old_cache(
    docs: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, target: str, replacement,
) -> None:
    open_index(docs, cache)
    folder = cache_folder(cache, docs)
    before = (folder / NEW_NAME).read_bytes()
    (docs / "agents.md").write_text("# Agents\n\nAn agent now also keeps a journal of its tool calls.\n", encoding="utf-8")
    os.utime(docs / "agents.md", ns=(1, 1))  # a change the cache must notice
    monkeypatch.setattr(target, replacement)
    index, report = open_index(docs, cache)
    assert report.processed == 1 and hits(index, "journal of tool calls")[0][0] == "agents.md"
    (warning,) = report.warnings
    assert str(folder) in warning and "RAG_CACHE_DIR" in warning
    assert files_in(folder) == [NEW_NAME]  # no .index-*.tmp left
    assert (folder / NEW_NAME).read_bytes() == before
    monkeypatch.undo()
    _, fine = open_index(docs, cache)  # the old cache still reads; the change is picked up and saved
    assert (fine.processed, fine.reused, fine.warnings) == (1, 5, [])


def test_a_bug_while_writing_raises_and_still_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(file, *args, **kwargs):
        file.write(b"PK")
        raise TypeError("a bug of ours")

    monkeypatch.setattr("rag.search.cache.np.savez", broken)
    folder = tmp_path / "cache"
    with pytest.raises(TypeError, match="a bug of ours"):
        cache_module.write_cache(folder, CachedIndex("fp", {}, Segment.from_terms([])))
    assert files_in(folder) == []

