"""The on-disk index cache: what each file produced, and the built base segment.

One folder per docs folder (``<cache_dir>/<name>-<hash of the docs path>/``)
holds ``index.npz``: for every file its size, mtime and SHA-256, its chunks and
their analyzed terms, plus the segment built from them. On start-up a file
whose size and mtime are unchanged is not even read; one whose content hash is
unchanged is not re-parsed. The segment is reused when no file changed.

The file is data, never code: anyone who can write to the cache folder must not
be able to run anything in the app (a pickle can; this format cannot). It is a
numpy ``.npz`` (a zip of ``.npy`` arrays), written with ``allow_pickle=False``
and read member by member without numpy's loader: each ``.npy`` header is
parsed (a literal, never code), an object dtype is refused, and the array's size
must equal the member's, which must be stored uncompressed, before anything is
allocated. Its members (``encode`` builds them, ``decode`` reads them back):

- ``version``: ``[CACHE_VERSION]`` (int64), checked first;
- ``checksum``: SHA-256 (32 bytes) over every other member's name, dtype,
  shape and bytes;
- ``records``: UTF-8 JSON (uint8): fingerprint, per file ``[source, size,
  mtime_ns, sha256, lang, number of chunks]``, the distinct sources, titles and
  heading trails of the chunks, and the segment's vocabulary by term id;
- ``text``/``text_ends`` and ``terms``/``terms_ends``: every chunk's text and
  analyzed terms as UTF-8 end to end (uint8) with each one's end offset (int64);
- ``numbers``: per chunk page (-1: none), ordinal, tokens, and its rows in the
  source, title and heading tables (int64, chunks x 6);
- ``indptr``, ``indices``, ``data``, ``shape``, ``doc_len``: the segment's CSC
  matrix and document lengths.

``read_cache`` returns None for anything that is not exactly such a file of
this version, fingerprint and checksum, with consistent lengths and a valid
matrix (a foreign or truncated file, a pickle under either name, an object
array, a compressed member, an index out of range): the caller rebuilds and
overwrites it. ``write_cache`` writes a temporary file and renames it over the
old one, so a reader sees the old file or the new one; a failed write removes
its temporary file and returns a warning. The legacy ``index.pkl`` is never
read, and is deleted when a new cache is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

from rag.documents.chunking import Chunk
from rag.search.bm25 import Segment

__all__ = ["CACHE_FILE", "CACHE_VERSION", "CachedIndex", "FileRecord", "cache_folder", "read_cache", "write_cache"]

CACHE_VERSION = 5  # 5: .npz + JSON with a checksum (4 was a pickle)
CACHE_FILE = "index.npz"
_LEGACY_FILES = ("index.pkl",)  # earlier versions' caches: never read, removed when a new cache is written
_ARRAYS = ("indptr", "indices", "data", "shape", "doc_len")  # the segment
_COLUMNS = 6  # of "numbers": page, ordinal, tokens, source row, title row, heading row
_MEMBERS = frozenset(("version", "records", "text", "text_ends", "terms", "terms_ends", "numbers", "checksum", *_ARRAYS))


@dataclass
class FileRecord:
    source: str
    size: int
    mtime_ns: int
    sha256: str
    lang: str
    chunks: list[Chunk]
    terms: list[str]  # per chunk, the analyzed terms joined by spaces


@dataclass
class CachedIndex:
    fingerprint: str  # settings that change what is indexed (chunk size, analyzer...)
    files: dict[str, FileRecord] = field(default_factory=dict)
    segment: Segment | None = None
    version: int = CACHE_VERSION


def cache_folder(cache_dir: Path, docs: Path) -> Path:
    """The cache folder of one docs folder."""
    key = hashlib.sha256(str(docs.resolve()).encode()).hexdigest()[:16]
    return cache_dir / f"{docs.resolve().name or 'root'}-{key}"


# ---------------------------------------------------------------- encoding (pure)


def _checksum(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """SHA-256 of every member but ``checksum``: name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        if name == "checksum":
            continue
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(array)  # C-contiguous: hashed as its raw bytes, without a copy
    return np.frombuffer(digest.digest(), dtype=np.uint8)


def _pack(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Strings -> (their UTF-8 bytes end to end as uint8, each one's end offset as int64)."""
    encoded = [s.encode() for s in strings]
    ends = np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)))
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), ends


def _unpack(blob: np.ndarray, ends: np.ndarray) -> list[str] | None:
    """Inverse of ``_pack``; None if the offsets do not fit the bytes (or a piece is not UTF-8: raises)."""
    if blob.dtype != np.uint8 or blob.ndim != 1 or ends.dtype != np.int64 or ends.ndim != 1:
        return None
    if ends.size and (int(ends[-1]) != blob.size or int(ends[0]) < 0 or bool(np.any(np.diff(ends) < 0))):
        return None
    if not ends.size and blob.size:
        return None
    data = blob.tobytes()
    stops = ends.tolist()
    return [data[a:b].decode("utf-8") for a, b in zip([0, *stops[:-1]], stops)]


def encode(cached: CachedIndex) -> dict[str, np.ndarray]:
    """``cached`` as the cache file's members (name -> numeric array); inverse of ``decode``."""
    files: list[list[object]] = []
    chunks: list[Chunk] = []
    terms: list[str] = []
    for record in cached.files.values():
        if len(record.chunks) != len(record.terms):
            raise ValueError(f"{record.source}: {len(record.chunks)} chunks but {len(record.terms)} term lists")
        files.append([record.source, record.size, record.mtime_ns, record.sha256, record.lang, len(record.chunks)])
        chunks.extend(record.chunks)
        terms.extend(record.terms)
    segment = cached.segment
    # Sources, titles and heading trails repeat from chunk to chunk: each distinct one is stored once.
    sources, titles, headings = _Table(), _Table(), _Table()
    numbers = [
        [-1 if c.page is None else c.page, c.ordinal, c.tokens, sources.id(c.source), titles.id(c.title), headings.id(c.heading)]
        for c in chunks
    ]
    records = {
        "version": cached.version,
        "fingerprint": cached.fingerprint,
        "files": files,  # [source, size, mtime_ns, sha256, lang, number of chunks], in chunk order
        "sources": sources.values, "titles": titles.values, "headings": headings.values,
        "vocab": None if segment is None else segment.terms_by_id(),  # term strings by term id
    }
    text, text_ends = _pack([c.text for c in chunks])
    term_bytes, term_ends = _pack(terms)
    arrays: dict[str, np.ndarray] = {
        "version": np.array([cached.version], dtype=np.int64),
        "records": np.frombuffer(json.dumps(records, ensure_ascii=False, separators=(",", ":")).encode(), dtype=np.uint8),
        "text": text, "text_ends": text_ends, "terms": term_bytes, "terms_ends": term_ends,
        # per chunk: page (-1: none), ordinal, tokens, and its source, title and heading trail as table rows
        "numbers": np.array(numbers, dtype=np.int64).reshape(-1, _COLUMNS),
    }
    if segment is None:
        arrays.update(indptr=np.zeros(0, np.int64), indices=np.zeros(0, np.int32), data=np.zeros(0, np.int32), shape=np.zeros(0, np.int64), doc_len=np.zeros(0))
    else:
        matrix = segment.matrix
        arrays.update(
            indptr=matrix.indptr, indices=matrix.indices, data=matrix.data,
            shape=np.array(matrix.shape, dtype=np.int64), doc_len=np.asarray(segment.doc_len, dtype=np.float64),
        )
    arrays["checksum"] = _checksum(arrays)
    return arrays


def _strings(values: object) -> bool:
    return isinstance(values, list) and {type(v) for v in values} <= {str}


class _Table:
    """Distinct values in first-seen order; ``id(value)`` is its row."""

    def __init__(self) -> None:
        self.rows: dict[object, int] = {}
        self.values: list[object] = []

    def id(self, value: object) -> int:
        row = self.rows.get(value)
        if row is None:
            row = self.rows[value] = len(self.values)
            self.values.append(value)
        return row


def decode(arrays: dict[str, np.ndarray], fingerprint: str) -> CachedIndex | None:
    """The ``CachedIndex`` in ``arrays``, or None unless version, checksum, fingerprint and every length agree."""
    if set(arrays) != _MEMBERS:
        return None
    version = arrays["version"]
    if version.dtype != np.int64 or version.shape != (1,) or int(version[0]) != CACHE_VERSION:
        return None
    if not np.array_equal(arrays["checksum"], _checksum(arrays)) or arrays["records"].dtype != np.uint8:
        return None
    records = json.loads(arrays["records"].tobytes().decode("utf-8"))
    if not isinstance(records, dict) or records.get("version") != CACHE_VERSION or records.get("fingerprint") != fingerprint:
        return None
    texts, terms = _unpack(arrays["text"], arrays["text_ends"]), _unpack(arrays["terms"], arrays["terms_ends"])
    numbers = arrays["numbers"]
    if texts is None or terms is None or len(terms) != len(texts) or numbers.dtype != np.int64 or numbers.shape != (len(texts), _COLUMNS):
        return None
    sources, titles, headings = records["sources"], records["titles"], records["headings"]
    if not (_strings(sources) and _strings(titles) and isinstance(headings, list)):
        return None
    if {type(h) for h in headings} - {list} or {type(part) for h in headings for part in h} - {str}:
        return None
    trails = [tuple(h) for h in headings]
    if numbers.size:
        low, high = numbers.min(axis=0).tolist(), numbers.max(axis=0).tolist()
        if low[0] < -1 or min(low[1:]) < 0 or high[3] >= len(sources) or high[4] >= len(titles) or high[5] >= len(trails):
            return None
    pages, ordinals, tokens, source_ids, title_ids, heading_ids = numbers.T.tolist()
    chunks = list(map(
        Chunk, [sources[i] for i in source_ids], [titles[i] for i in title_ids], [trails[i] for i in heading_ids], texts,
        [None if p < 0 else p for p in pages], ordinals, tokens,
    ))
    n = len(chunks)
    files: dict[str, FileRecord] = {}
    start = 0
    for row in records["files"]:
        source, size, mtime_ns, sha256, lang, count = row
        if not ({type(v) for v in (source, sha256, lang)} <= {str} and {type(v) for v in (size, mtime_ns, count)} <= {int}) or count < 0:
            return None
        files[source] = FileRecord(source, size, mtime_ns, sha256, lang, chunks[start:start + count], terms[start:start + count])
        start += count
    if start != n or len(files) != len(records["files"]):
        return None
    segment = _segment(arrays, records["vocab"])
    if segment is False or (segment is not None and segment.size != n):
        return None
    return CachedIndex(records["fingerprint"], files, segment)


def _segment(arrays: dict[str, np.ndarray], vocab: object) -> Segment | None | bool:
    """The segment in ``arrays`` (None: none was saved; False: it is not a valid one)."""
    if vocab is None:
        return None if all(arrays[name].size == 0 for name in _ARRAYS) else False
    if not _strings(vocab) or len(set(vocab)) != len(vocab):
        return False
    assert isinstance(vocab, list)
    shape, doc_len = arrays["shape"], arrays["doc_len"]
    if shape.dtype != np.int64 or shape.shape != (2,) or doc_len.dtype != np.float64 or doc_len.shape != (int(shape[0]),):
        return False
    rows, cols = int(shape[0]), int(shape[1])
    if rows < 0 or cols != max(len(vocab), 1):
        return False
    for name in ("indptr", "indices", "data"):
        if arrays[name].ndim != 1 or arrays[name].dtype.kind != "i":
            return False
    matrix = sparse.csc_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=(rows, cols), copy=False)
    matrix.check_format(full_check=True)  # indptr monotonic, every row index in range (raises ValueError)
    if not matrix.has_sorted_indices or (matrix.data.size and int(matrix.data.min()) < 1):
        return False
    segment = Segment(dict(zip(vocab, range(len(vocab)))), matrix, doc_len)
    segment.__dict__["_names"] = vocab  # terms_by_id, already in id order
    return segment


# ---------------------------------------------------------------- the file (I/O)


def read_cache(folder: Path, fingerprint: str) -> CachedIndex | None:
    """The cached index if ``folder`` holds a valid one for ``fingerprint``; None otherwise (rebuild it).

    Never executes anything from the file: members are read as plain arrays
    (``allow_pickle=False``), and only stored (uncompressed) ones, so a member
    cannot unpack to more than the file holds.
    """
    path = folder / CACHE_FILE
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if {m.filename for m in members} != {f"{name}.npy" for name in _MEMBERS} or len(members) != len(_MEMBERS):
                return None
            if any(m.compress_type != zipfile.ZIP_STORED for m in members):
                return None
            arrays = {member.filename[:-4]: _read_npy(archive, member) for member in members}
        return decode(arrays, fingerprint)
    except FileNotFoundError:
        return None
    except Exception:  # a corrupt or hostile file can raise nearly anything (ValueError, zipfile.BadZipFile, MemoryError...): rebuild
        return None


_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _read_npy(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> np.ndarray:
    """One ``.npy`` member as a plain array; ``ValueError`` (or ``KeyError``) for anything else.

    The header is a Python literal that numpy parses safely; an object dtype (a
    pickle inside) is refused, and the data must be exactly what the header
    announces, within the member, before the array is allocated.
    """
    with archive.open(member) as f:
        shape, fortran, dtype = _NPY_HEADERS[np.lib.format.read_magic(f)](f)
        if dtype.hasobject or fortran:
            raise ValueError(f"{member.filename}: not a plain C-ordered array")
        size = math.prod(shape) * dtype.itemsize
        if size != member.file_size - f.tell():
            raise ValueError(f"{member.filename}: {member.file_size - f.tell()} bytes of data for a {shape} {dtype} array")
        data = bytearray(f.read(size))  # a bytearray: the array is writable, like one numpy would load
        if len(data) != size:
            raise ValueError(f"{member.filename}: truncated")
        return np.frombuffer(data, dtype).reshape(shape)


def write_cache(folder: Path, cached: CachedIndex) -> str | None:
    """Save atomically; returns a warning instead of raising if the disk says no. Leaves no temporary file."""
    arrays = encode(cached)  # before touching the disk: a bug here raises, and nothing is written
    tmp: str | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".index-", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
        os.replace(tmp, folder / CACHE_FILE)
        tmp = None
    except OSError as err:
        return f"the index cache could not be saved in {folder} ({err.strerror or err}); set RAG_CACHE_DIR to a writable folder"
    finally:
        if tmp is not None:  # the write failed (or raised): no half-written file stays behind
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    for legacy in _LEGACY_FILES:
        with contextlib.suppress(OSError):
            (folder / legacy).unlink()
    return None
