"""The on-disk index cache: what each file produced, and the built base segment.

One folder per docs folder (``<cache_dir>/<hash of the docs path>/``) holds
``index.pkl``: for every file its size, mtime and SHA-256, its chunks and their
analyzed terms, plus the segment built from them. On start-up a file whose size
and mtime are unchanged is not even read; one whose content hash is unchanged is
not re-parsed. The segment is reused when no file changed.

The cache is the user's own (it lives in their cache folder), so pickle is
used for speed; a cache written by another version or unreadable is ignored and
rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rag.bm25 import Segment
from rag.chunking import Chunk

__all__ = ["CACHE_VERSION", "CachedIndex", "FileRecord", "cache_folder", "read_cache", "write_cache"]

CACHE_VERSION = 4


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


def read_cache(folder: Path, fingerprint: str) -> CachedIndex | None:
    """The cached index if it exists, is readable and matches ``fingerprint``."""
    path = folder / "index.pkl"
    try:
        with path.open("rb") as f:
            cached = pickle.load(f)
    except Exception:  # a corrupt pickle can raise nearly anything (OverflowError, MemoryError, ...)
        return None
    if not isinstance(cached, CachedIndex) or cached.version != CACHE_VERSION or cached.fingerprint != fingerprint:
        return None
    return cached


def write_cache(folder: Path, cached: CachedIndex) -> str | None:
    """Save atomically; returns a warning instead of raising if the disk says no."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".index-", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(cached, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, folder / "index.pkl")
    except OSError as err:
        return f"the index cache could not be saved in {folder} ({err.strerror or err}); set RAG_CACHE_DIR to a writable folder"
    return None
