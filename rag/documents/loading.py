"""Files -> ``Document``s: the folder walk, decoding, normalization, dispatch, and skip reasons.

Every format is turned into the same shape: pages of canonical Markdown
(``rag.documents.formats.canonical``: a heading is a ``#`` line exactly where the format
says there is a heading) or plain text, one page per PDF page or PPTX slide.
The parsers live in ``rag.documents.formats``, one module per format family; this module
knows which suffix goes to which and turns their failures into reasons.

All text is normalized once (``rag.documents.normalize.normalize_text``: NFKC, no
invisible format characters, ``\n`` line ends), the same function that is
applied to questions, so ``firewall`` finds ``ﬁrewall``. Text formats are
normalized before they are parsed, so the parser sees what is indexed; binary
formats normalize each piece of text they extract.

A file that cannot be read raises ``LoadError`` with a short reason: the
parsers' own for what they recognise (an encrypted PDF, a zip bomb), and
``not a readable PDF (IndexError: ...)`` for any other exception a parser
library raises on a broken file. The folder walk records it in
``LoadResult.skipped`` and goes on with the rest; an upload is refused with it.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from rag.documents.formats import Page, Parsed
from rag.documents.normalize import normalize_text
from rag.errors import DocsError, LoadError

__all__ = [
    "LOADER_VERSION",
    "SUPPORTED_SUFFIXES",
    "Document",
    "LoadResult",
    "Page",
    "Skipped",
    "decode_text",
    "iter_files",
    "load_bytes",
    "load_file",
    "load_folder",
    "upload_name",
]

# What a file turns into changes with this number: the index cache keys on it, so
# caches made by an older loader are rebuilt, never reused.
LOADER_VERSION = 3

# suffix -> (format name in messages, whether the parser takes decoded text)
_FORMATS: dict[str, tuple[str, bool]] = {
    ".md": ("Markdown", True),
    ".markdown": ("Markdown", True),
    ".txt": ("text", True),
    ".rst": ("reStructuredText", True),
    ".html": ("HTML", True),
    ".htm": ("HTML", True),
    ".csv": ("CSV", True),
    ".pdf": ("PDF", False),
    ".docx": ("DOCX", False),
    ".pptx": ("PPTX", False),
    ".xlsx": ("XLSX", False),
}
SUPPORTED_SUFFIXES = frozenset(_FORMATS)
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# An upload's name is shown and used as its source: a plain name of at most this many characters.
MAX_NAME_CHARS = 200


@dataclass(frozen=True)
class Document:
    source: str  # path relative to the docs root, with forward slashes
    title: str
    pages: tuple[Page, ...]
    markup: str  # "markdown" (canonical: headings are # lines) or "plain"
    sha256: str


@dataclass(frozen=True)
class Skipped:
    source: str
    reason: str


@dataclass
class LoadResult:
    documents: list[Document] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


# ---------------------------------------------------------------- the folder


def iter_files(root: Path, ignore: tuple[Path, ...] = ()) -> tuple[list[Path], list[Skipped]]:
    """Supported files under ``root`` (sorted), and links that point outside it.

    Hidden files and folders (a leading dot: ``.git``, ``.rag-cache``) and the
    folders in ``ignore`` are not walked.
    """
    root = root.resolve()
    ignored = {p.resolve() for p in ignore}
    files: list[Path] = []
    refused: list[Skipped] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in ignored
        )
        for d in dirnames:  # os.walk does not follow linked folders: say so for those that lead outside
            if (here / d).is_symlink() and not (here / d).resolve().is_relative_to(root):
                refused.append(Skipped(_relative(here / d, root), "a link to a folder outside the docs folder"))
        for name in sorted(filenames):
            if name.startswith(".") or Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            path = here / name
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                refused.append(Skipped(_relative(path, root), "a link to a file outside the docs folder"))
                continue
            files.append(path)
    return files, refused


def load_folder(
    root: Path, max_bytes: int = DEFAULT_MAX_BYTES, ignore: tuple[Path, ...] = ()
) -> LoadResult:
    """Load every supported file under ``root``; unreadable ones are skipped."""
    if not root.exists():
        raise DocsError(f"The docs folder {root} does not exist: create it or pass --docs PATH.")
    if not root.is_dir():
        raise DocsError(f"{root} is a file, not a folder: pass the folder that holds your documents.")
    paths, refused = iter_files(root, ignore)
    result = LoadResult(skipped=list(refused))
    for path in paths:
        try:
            result.documents.append(load_file(path, root, max_bytes))
        except LoadError as err:
            result.skipped.append(Skipped(_relative(path, root), err.reason))
    return result


def load_file(path: Path, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """Read one file below ``root``; raises ``LoadError`` with the reason."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(too_large(size, max_bytes))
        data = path.read_bytes()
    except OSError as err:
        raise LoadError(f"cannot be read ({err.strerror or err})") from err
    return load_bytes(_relative(path, root.resolve()), data, max_bytes)


def load_bytes(source: str, data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """Parse the bytes of a file named ``source`` (uploads use this directly).

    Raises ``LoadError`` with the reason, whatever went wrong inside the parser.
    """
    if len(data) > max_bytes:
        raise LoadError(too_large(len(data), max_bytes))
    if not data.strip():
        raise LoadError("empty file")
    suffix = PurePosixPath(source).suffix.lower()
    if suffix not in _FORMATS:
        allowed = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise LoadError(f"unsupported file type {suffix or '(none)'}; supported: {allowed}")
    name, takes_text = _FORMATS[suffix]
    stem = PurePosixPath(source).stem
    try:
        content: str | bytes = normalize_text(decode_text(data)) if takes_text else data
        with warnings.catch_warnings():  # parser libraries warn about odd files; they are not errors here
            warnings.simplefilter("ignore")
            parsed = _parser(suffix)(content, stem)
    except LoadError:
        raise
    except RecursionError as err:
        raise LoadError(f"not a readable {name} (RecursionError: nested too deeply)") from err
    except Exception as err:  # a broken file makes parser libraries raise nearly anything
        detail = " ".join(str(err).split())[:120]
        raise LoadError(f"not a readable {name} ({type(err).__name__}{': ' + detail if detail else ''})") from err
    pages = tuple(p for p in parsed.pages if p.text.strip())
    if not pages:
        raise LoadError("no text in the file")
    title = " ".join(normalize_text(parsed.title).split()) or stem
    return Document(source, title, pages, parsed.markup, hashlib.sha256(data).hexdigest())


def _parser(suffix: str) -> Callable[..., Parsed]:
    """The parser of a suffix (imported on first use: PDF and Office libraries are slow to import)."""
    if suffix in (".md", ".markdown"):
        from rag.documents.formats.markdown import parse_markdown

        return parse_markdown
    if suffix == ".txt":
        return lambda text, stem: Parsed(stem, (Page(text),), "plain")
    if suffix == ".rst":
        from rag.documents.formats.rst import parse_rst

        return parse_rst
    if suffix in (".html", ".htm"):
        from rag.documents.formats.html import parse_html

        return parse_html
    if suffix == ".csv":
        from rag.documents.formats.sheets import parse_csv

        return parse_csv
    if suffix == ".pdf":
        from rag.documents.formats.pdf import parse_pdf

        return parse_pdf
    if suffix == ".docx":
        from rag.documents.formats.docx import parse_docx

        return parse_docx
    if suffix == ".pptx":
        from rag.documents.formats.slides import parse_pptx

        return parse_pptx
    from rag.documents.formats.sheets import parse_xlsx

    return parse_xlsx


def upload_name(name: str) -> str:
    """A plain file name for an uploaded file's ``name`` (which the client chose).

    Only the last path component is kept (``/`` and ``\\`` both separate), control
    and other unprintable characters (NUL, bidi overrides) are dropped, and a long
    name is cut to ``MAX_NAME_CHARS`` keeping its suffix. Nothing is left: "upload".
    """
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if ch.isprintable())
    name = re.split(r"[/\\]", name)[-1].strip()
    if name in ("", ".", ".."):
        return "upload"
    if len(name) > MAX_NAME_CHARS:
        suffix = PurePosixPath(name).suffix
        suffix = suffix if len(suffix) <= 16 else ""
        name = name[: MAX_NAME_CHARS - len(suffix)].rstrip() + suffix
    return name


# ---------------------------------------------------------------- decoding

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
# Bytes that are Turkish letters in cp1254 (ğ Ğ ı İ ş Ş) and rare Icelandic ones in latin-1.
_CP1254_MARKERS = frozenset(b"\xd0\xdd\xde\xf0\xfd\xfe")


def decode_text(data: bytes) -> str:
    """Decode text bytes: BOMs, then UTF-8, then cp1254 (Turkish) or cp1252.

    Text with a BOM, and UTF-8 with a few broken bytes among its valid non-ASCII
    characters, are decoded with U+FFFD for the broken bytes rather than refused
    or read as a legacy code page (which would garble every valid character).
    Raises ``LoadError`` for binary content (NUL bytes or many control bytes).
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    head = data[:8192]
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    if b"\x00" in head or controls > len(head) // 20:
        raise LoadError("binary content, not text (is the file extension right?)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    broken = text.count("\ufffd")
    valid = len(text) - len(text.encode("ascii", errors="ignore")) - broken  # valid non-ASCII characters
    # legacy code-page text almost never holds a valid UTF-8 multi-byte sequence
    if valid >= broken:
        return text
    if _CP1254_MARKERS.intersection(data):
        return data.decode("cp1254", errors="replace")
    return data.decode("cp1252", errors="replace")


MB = 1024 * 1024  # RAG_MAX_FILE_MB counts in these


def too_large(size: int, limit: int) -> str:
    """The skip reason of a file of ``size`` bytes over ``limit`` bytes, in the setting's MB."""
    return f"too large ({size / MB:.1f} MB; the limit is {limit / MB:g} MB, set RAG_MAX_FILE_MB to raise it)"


def _relative(path: Path, root: Path) -> str:
    try:
        return path.absolute().relative_to(root).as_posix()
    except ValueError:
        return path.name
