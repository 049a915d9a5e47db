"""The searchable collection: a docs folder's chunks, their BM25 segment, and overlays.

``open_index`` turns a docs folder into an ``Index``: it reuses the cache for
unchanged files, loads, chunks and analyzes only new or changed ones, drops
deleted ones, saves the cache again and reports what it did.

An ``Overlay`` holds the documents one chat added at run time. It is searched
together with the base (see ``rag.search.retrieval``) using the statistics of both, and
is dropped with the chat. The base index is never rebuilt for an upload.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import overload

import numpy as np

from rag.documents.chunking import Chunk, ChunkConfig, chunk_document
from rag.documents.loading import DEFAULT_MAX_BYTES, LOADER_VERSION, SUPPORTED_SUFFIXES, Document, Skipped, iter_files, load_bytes, load_file, upload_name
from rag.documents.tokens import count_tokens
from rag.errors import DocsError, LoadError
from rag.search.analysis import LANGUAGES, Analyzer, detect_language
from rag.search.bm25 import BM25Params, Segment, Stats
from rag.search.budget import UploadBudget, upload_cost
from rag.search.cache import CACHE_VERSION, CachedIndex, FileRecord, cache_folder, read_cache, write_cache
from rag.settings import Settings

__all__ = ["Added", "Index", "IndexConfig", "IndexReport", "Overlay", "OverlayView", "analyze_chunk_terms", "open_index"]

ANALYZER_VERSION = 9  # 8: stopwords and whole identifiers indexed, diacritics folded; 9: superscripts folded
# Language -> code in the per-chunk language arrays (see rag.search.bm25.score_segments).
LANG_CODES = {lang: code for code, lang in enumerate(sorted(LANGUAGES))}


@dataclass(frozen=True)
class IndexConfig:
    chunk: ChunkConfig = ChunkConfig()
    bm25: BM25Params = BM25Params()
    language: str = "auto"  # "auto", or a fixed language code for every document
    max_bytes: int = DEFAULT_MAX_BYTES

    @classmethod
    def from_settings(cls, settings: Settings) -> IndexConfig:
        """The index's part of ``settings``: chunk size and overlap (at most half a chunk), BM25 k1 and b, language,
        the largest file read (``RAG_MAX_FILE_MB``)."""
        return cls(
            chunk=ChunkConfig(target=settings.chunk_tokens, overlap=min(settings.chunk_overlap, settings.chunk_tokens // 2)),
            bm25=BM25Params(k1=settings.bm25_k1, b=settings.bm25_b),
            language=settings.language,
            max_bytes=int(settings.max_file_mb * 1024 * 1024),
        )

    def fingerprint(self) -> str:
        return f"v{CACHE_VERSION}.a{ANALYZER_VERSION}.l{LOADER_VERSION}.{self.chunk}.{self.language}"


@dataclass
class IndexReport:
    files: int = 0
    chunks: int = 0
    reused: int = 0  # files taken from the cache
    processed: int = 0  # files loaded and chunked now
    removed: int = 0  # files that were cached but are gone
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


def lang_codes(langs: Sequence[str]) -> np.ndarray:
    """Each chunk's language as a small integer code (uint8), for per-language query terms."""
    return np.fromiter((LANG_CODES.get(lang, 255) for lang in langs), dtype=np.uint8, count=len(langs))


def analyze_chunk_terms(analyzer: Analyzer, chunk: Chunk, lang: str) -> list[str]:
    """What BM25 indexes for a chunk: its file name, heading trail (twice) and text.

    The trail counts twice because headings name the topic in the fewest words,
    and the words of a question are very often the words of a heading.
    """
    name = chunk.source.rsplit("/", 1)[-1].rsplit(".", 1)[0].replace("_", " ").replace(".", " ")
    trail = chunk.trail
    return analyzer.terms(f"{name}\n{trail}\n{trail}\n{chunk.text}", lang)


def _process(doc: Document, analyzer: Analyzer, config: IndexConfig) -> tuple[str, list[Chunk], list[str]]:
    lang = config.language
    if lang == "auto":
        lang = detect_language(" ".join(p.text for p in doc.pages[:3]))
    chunks = chunk_document(doc, count_tokens, config.chunk)
    terms = [" ".join(analyze_chunk_terms(analyzer, c, lang)) for c in chunks]
    return lang, chunks, terms


class Index:
    """Chunks of the docs folder with their languages and BM25 segment (read-only)."""

    def __init__(self, chunks: list[Chunk], langs: list[str], segment: Segment, config: IndexConfig, analyzer: Analyzer) -> None:
        self.chunks = chunks
        self.langs = langs
        self.segment = segment
        self.config = config
        self.analyzer = analyzer
        self.stats = Stats.of([segment], config.bm25)
        self.row_langs = lang_codes(langs)
        self.lang_counts = Counter(langs)
        self.main_language = self.lang_counts.most_common(1)[0][0] if self.lang_counts else "en"

    def language_shares(self, extra: Sequence[str] = ()) -> dict[str, float]:
        """Share of the chunks in each language (with ``extra``, an overlay's chunk languages)."""
        counts = self.lang_counts + Counter(extra) if extra else self.lang_counts
        total = sum(counts.values())
        return {lang: count / total for lang, count in counts.items()} if total else {self.main_language: 1.0}

    @property
    def sources(self) -> list[str]:
        return sorted({c.source for c in self.chunks})

    def new_overlay(self) -> Overlay:
        return Overlay(self)


def open_index(docs: Path, cache_dir: Path | None, config: IndexConfig = IndexConfig(), require_documents: bool = True) -> tuple[Index, IndexReport]:
    """Index every supported file under ``docs``; returns the index and what happened to each file.

    With ``cache_dir`` (None: no cache), files whose size and mtime match the
    cache are reused, new and changed ones are loaded, chunked and analysed, and
    the cache is rewritten when anything changed (a failed write is a warning in
    the report, not an error). A file that cannot be loaded is skipped with its
    reason and never stops the rest.

    The ``IndexReport`` holds counts of files and chunks indexed, files reused
    from the cache, processed now and removed since, the ``Skipped`` list
    (source, reason), the wall time in seconds and cache warnings.

    Raises ``DocsError`` when ``docs`` is missing or is a file, and, if
    ``require_documents``, when no file in it could be indexed (the message
    names the first skip reasons and the supported formats).
    """
    started = time.perf_counter()
    if not docs.exists():
        raise DocsError(f"The docs folder {docs} does not exist: create it or pass --docs PATH (or set RAG_DOCS_DIR).")
    if not docs.is_dir():
        raise DocsError(f"{docs} is a file, not a folder: pass the folder that holds your documents.")
    folder = cache_folder(cache_dir, docs) if cache_dir is not None else None
    ignore = (cache_dir,) if cache_dir is not None else ()
    cached = (read_cache(folder, config.fingerprint()) if folder else None) or CachedIndex(config.fingerprint())
    analyzer = Analyzer()
    report = IndexReport()
    paths, refused = iter_files(docs, ignore)
    report.skipped.extend(refused)
    root = docs.resolve()
    files: dict[str, FileRecord] = {}
    changed = False
    for path in paths:
        source = path.relative_to(root).as_posix()
        old = cached.files.get(source)
        try:
            st = path.stat()
            if old and old.size == st.st_size and old.mtime_ns == st.st_mtime_ns:
                files[source] = old
                report.reused += 1
                continue
            doc = load_file(path, root, config.max_bytes)
        except (LoadError, OSError) as err:
            report.skipped.append(Skipped(source, getattr(err, "reason", None) or str(err)))
            changed |= old is not None
            continue
        if old and old.sha256 == doc.sha256:  # touched, not changed
            files[source] = FileRecord(source, st.st_size, st.st_mtime_ns, old.sha256, old.lang, old.chunks, old.terms)
            report.reused += 1
            changed = True  # mtime to remember
            continue
        lang, chunks, terms = _process(doc, analyzer, config)
        files[source] = FileRecord(source, st.st_size, st.st_mtime_ns, doc.sha256, lang, chunks, terms)
        report.processed += 1
        changed = True
    report.removed = len(set(cached.files) - set(files))
    changed |= report.removed > 0
    if require_documents and not files:
        detail = f" ({len(report.skipped)} skipped: " + "; ".join(f"{s.source}: {s.reason}" for s in report.skipped[:3]) + ")" if report.skipped else ""
        formats = sorted(SUPPORTED_SUFFIXES)
        raise DocsError(
            f"No readable documents in {docs}{detail}. Add {', '.join(formats[:-1])} or {formats[-1]} files there, or pass --docs PATH."
        )
    chunks: list[Chunk] = []
    langs: list[str] = []
    term_lists: list[str] = []
    for record in files.values():
        chunks.extend(record.chunks)
        langs.extend([record.lang] * len(record.chunks))
        term_lists.extend(record.terms)
    segment = cached.segment if (not changed and cached.segment is not None and cached.segment.size == len(chunks)) else None
    if segment is None:
        segment = Segment.from_terms(t.split() for t in term_lists)
        changed = True
    if folder is not None and changed:
        warning = write_cache(folder, CachedIndex(config.fingerprint(), files, segment))
        if warning:
            report.warnings.append(warning)
    report.files = len(files)
    report.chunks = len(chunks)
    report.seconds = time.perf_counter() - started
    return Index(chunks, langs, segment, config, analyzer), report


@dataclass(frozen=True)
class Added(Sequence[Chunk]):
    """What ``Overlay.add_bytes`` did with one upload; also the sequence of its chunks.

    ``source`` is the name the upload is searched and cited under: ``requested``
    (the plain name the client sent), or ``notes (2).md`` when a different file
    called ``notes.md`` is already in the overlay. ``duplicate``: the same bytes
    were already there, as ``source``; nothing was added.
    """

    source: str
    chunks: tuple[Chunk, ...]
    requested: str
    duplicate: bool = False

    @property
    def renamed(self) -> bool:
        return self.source != self.requested

    def __len__(self) -> int:
        return len(self.chunks)

    @overload
    def __getitem__(self, index: int) -> Chunk: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Chunk, ...]: ...
    def __getitem__(self, index: int | slice) -> Chunk | tuple[Chunk, ...]:
        return self.chunks[index]

    def __iter__(self) -> Iterator[Chunk]:
        return iter(self.chunks)


@dataclass(frozen=True)
class OverlayView:
    """An overlay at one moment: its chunks and their languages (codes too), its segment, and the
    statistics of base + overlay together that every search of it must use."""

    chunks: list[Chunk]
    langs: list[str]
    segment: Segment
    stats: Stats
    row_langs: np.ndarray  # uint8, see lang_codes


class Overlay:
    """One chat's uploaded documents, searched together with the base index.

    ``add`` builds a new overlay segment and swaps it in whole, so a search that
    runs at the same time sees either the old or the new overlay, never half.

    An upload added with a ``budget`` (``rag.search.budget``) holds its cost there until it
    is removed, the overlay is cleared (the chat ended) or the overlay is collected.
    """

    _owners = itertools.count(1)

    def __init__(self, base: Index) -> None:
        self.base = base
        self._lock = threading.Lock()
        self._docs: dict[str, tuple[str, list[Chunk], list[str]]] = {}
        self._digests: dict[str, str] = {}  # source -> SHA-256 of its bytes
        self._owner = next(Overlay._owners)  # this overlay in an upload budget (not self: the budget must not keep it alive)
        self._charges: dict[str, tuple[UploadBudget, int]] = {}  # source -> (budget, bytes it holds there)
        self._budgets: set[int] = set()  # id() of the budgets that give back on garbage collection
        self._view = OverlayView([], [], Segment.from_terms([]), base.stats, lang_codes([]))

    def add(self, doc: Document) -> list[Chunk]:
        """Index ``doc`` under ``doc.source`` (replacing a document of that source); returns its chunks."""
        lang, chunks, terms = _process(doc, self.base.analyzer, self.base.config)
        with self._lock:
            docs = dict(self._docs)
            docs[doc.source] = (lang, chunks, terms)
            self._digests[doc.source] = doc.sha256
            self._release(doc.source)  # what it replaces gave its budget back
            self._swap(docs)
        return chunks

    def add_bytes(self, name: str, data: bytes, budget: UploadBudget | None = None) -> Added:
        """Parse an upload and add it, keeping what is there; raises ``LoadError`` with the reason.

        ``name`` comes from the client: its source is the plain file name that
        ``upload_name`` makes of it (no folders, no control characters, bounded),
        numbered (``notes (2).md``) if a different upload already has that name.
        Bytes already in the overlay are not added again (``Added.duplicate``).
        With a ``budget``, the upload takes its cost there first; ``UploadsFull``
        (a ``LoadError``) when it does not fit, and nothing is added.
        """
        requested = upload_name(name)
        digest = hashlib.sha256(data).hexdigest()
        doc: Document | None = None
        while True:  # parsed outside the lock; the check is made again before adding
            with self._lock:
                same = self._same_bytes(digest)
                if same is not None:
                    return Added(same, tuple(self._docs[same][1]), requested, duplicate=True)
                if doc is not None:
                    source = self._free_name(requested)
                    lang, chunks, terms = _process(replace(doc, source=source), self.base.analyzer, self.base.config)
                    if budget is not None:
                        self._charge(source, budget, upload_cost(chunks, terms))  # raises UploadsFull: nothing added
                    docs = dict(self._docs)
                    docs[source] = (lang, chunks, terms)
                    self._digests[source] = digest
                    self._swap(docs)
                    return Added(source, tuple(chunks), requested)
            doc = load_bytes(requested, data, self.base.config.max_bytes)

    def source_of(self, data: bytes) -> str | None:
        """The source under which these exact bytes are in the overlay already, or None."""
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            return self._same_bytes(digest)

    def _charge(self, source: str, budget: UploadBudget, cost: int) -> None:
        budget.take(self._owner, cost)
        self._charges[source] = (budget, cost)
        if id(budget) not in self._budgets:  # a chat that ends without clear() still gives its share back
            self._budgets.add(id(budget))
            weakref.finalize(self, budget.give_back_all, self._owner)

    def _release(self, source: str) -> None:
        charge = self._charges.pop(source, None)
        if charge is not None:
            charge[0].give_back(self._owner, charge[1])

    def _same_bytes(self, digest: str) -> str | None:
        return next((s for s, d in self._digests.items() if d == digest and s in self._docs), None)

    def _free_name(self, name: str) -> str:
        """``name``, or ``stem (2).suffix``, ``(3)``... whichever is not taken yet."""
        if name not in self._docs:
            return name
        path = PurePosixPath(name)
        stem, suffix = name[: len(name) - len(path.suffix)], path.suffix
        number = 2
        while f"{stem} ({number}){suffix}" in self._docs:
            number += 1
        return f"{stem} ({number}){suffix}"

    def remove(self, source: str) -> bool:
        with self._lock:
            if source not in self._docs:
                return False
            docs = dict(self._docs)
            del docs[source]
            self._release(source)
            self._swap(docs)
            return True

    def clear(self) -> None:
        """Drop every upload (and give their budget back): what the app does when the chat ends."""
        with self._lock:
            for source in list(self._charges):
                self._release(source)
            self._swap({})

    @property
    def sources(self) -> list[str]:
        return list(self._docs)

    def _swap(self, docs: dict[str, tuple[str, list[Chunk], list[str]]]) -> None:
        chunks = [c for _, cs, _ in docs.values() for c in cs]
        langs = [lang for lang, cs, _ in docs.values() for _ in cs]
        segment = Segment.from_terms(t.split() for _, _, ts in docs.values() for t in ts)
        stats = Stats.of([self.base.segment, segment], self.base.config.bm25) if chunks else self.base.stats
        # one assignment: a search reads the whole view, old or new, never half of each
        self._view = OverlayView(chunks, langs, segment, stats, lang_codes(langs))
        self._docs = docs

    def view(self) -> OverlayView:
        """A consistent snapshot of the overlay for one search."""
        return self._view

    @property
    def chunks(self) -> list[Chunk]:
        return self._view.chunks
