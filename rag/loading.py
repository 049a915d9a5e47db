"""Files -> ``Document``s: decoding, format parsing, and skipping with a reason.

Every format is turned into the same shape: pages of Markdown-like text, where
headings are ``#`` lines (HTML ``h1``-``h6``, DOCX heading styles and RST
section titles are rewritten that way) and a PDF keeps one page per page. The
chunker then needs to know only Markdown.

A file that cannot be read raises ``LoadError`` with a short reason; the folder
walk records it in ``LoadResult.skipped`` and goes on with the rest.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath

from rag.errors import DocsError, LoadError

__all__ = [
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

SUPPORTED_SUFFIXES = frozenset(
    {".md", ".markdown", ".txt", ".rst", ".html", ".htm", ".pdf", ".docx"}
)
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# A DOCX is a zip: refuse to unpack more than this many times its size (zip bombs).
_MAX_UNPACK_RATIO = 100
_MAX_UNPACK_BYTES = 512 * 1024 * 1024
# An upload's name is shown and used as its source: a plain name of at most this many characters.
MAX_NAME_CHARS = 200


@dataclass(frozen=True)
class Page:
    """Markdown-like text of one page (``number`` is set for PDFs only)."""

    text: str
    number: int | None = None


@dataclass(frozen=True)
class Document:
    source: str  # path relative to the docs root, with forward slashes
    title: str
    pages: tuple[Page, ...]
    markup: str  # "markdown" (headings are # lines) or "plain"
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
            raise LoadError(_too_large(size, max_bytes))
        data = path.read_bytes()
    except OSError as err:
        raise LoadError(f"cannot be read ({err.strerror or err})") from err
    return load_bytes(_relative(path, root.resolve()), data, max_bytes)


def load_bytes(source: str, data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """Parse the bytes of a file named ``source`` (uploads use this directly)."""
    if len(data) > max_bytes:
        raise LoadError(_too_large(len(data), max_bytes))
    if not data.strip():
        raise LoadError("empty file")
    suffix = PurePosixPath(source).suffix.lower()
    stem = PurePosixPath(source).stem
    if suffix == ".pdf":
        title, pages, markup = _pdf(data, stem)
    elif suffix == ".docx":
        title, pages, markup = _docx(data, stem)
    elif suffix in (".html", ".htm"):
        title, pages, markup = _html(decode_text(data), stem)
    elif suffix == ".rst":
        text = _rst_to_markdown(decode_text(data))
        title, pages, markup = _first_heading(text) or stem, (Page(text),), "markdown"
    elif suffix in (".md", ".markdown"):
        text = _strip_html_comments(decode_text(data))
        title, pages, markup = _first_heading(text) or stem, (Page(text),), "markdown"
    elif suffix == ".txt":
        title, pages, markup = stem, (Page(decode_text(data)),), "plain"
    else:
        allowed = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise LoadError(f"unsupported file type {suffix or '(none)'}; supported: {allowed}")
    pages = tuple(Page(_normalize(p.text), p.number) for p in pages if p.text.strip())
    if not pages:
        raise LoadError("no text in the file")
    return Document(source, _normalize(title).strip(), pages, markup, hashlib.sha256(data).hexdigest())


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


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\x00", "")


# ---------------------------------------------------------------- formats

_HEADING_RE = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
_COMMENT_RE = re.compile(r"<!--.*?-->", re.S)


def _first_heading(text: str) -> str | None:
    for m in _HEADING_RE.finditer(text):
        if len(m.group(1)) == 1:
            return m.group(2)
    m = _HEADING_RE.search(text)
    return m.group(2) if m else None


def _strip_html_comments(text: str) -> str:
    return _COMMENT_RE.sub("", text)


def _too_large(size: int, limit: int) -> str:
    return (
        f"too large ({size / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB,"
        " set RAG_MAX_FILE_MB to raise it)"
    )


def _pdf(data: bytes, stem: str) -> tuple[str, tuple[Page, ...], str]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                unlocked = reader.decrypt("")
            except Exception:  # pypdf raises several types for unsupported crypto
                unlocked = 0
            if not unlocked:
                raise LoadError("encrypted PDF: save a copy without a password and add that")
        pages = tuple(
            Page(page.extract_text() or "", number) for number, page in enumerate(reader.pages, 1)
        )
        meta_title = (reader.metadata or {}).get("/Title") if reader.metadata else None
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as err:
        raise LoadError(f"not a readable PDF ({type(err).__name__}: {err})") from err
    if not any(p.text.strip() for p in pages):
        raise LoadError("PDF has no text layer (a scan?): run OCR on it first")
    return str(meta_title or stem), pages, "plain"


def _docx(data: bytes, stem: str) -> tuple[str, tuple[Page, ...], str]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
    except zipfile.BadZipFile as err:
        raise LoadError("not a valid DOCX (it is not a zip archive): re-save it from Word") from err
    if unpacked > min(_MAX_UNPACK_BYTES, max(len(data), 1 << 20) * _MAX_UNPACK_RATIO):
        raise LoadError(f"DOCX unpacks to {unpacked / 1e6:.0f} MB, too much for its size (a zip bomb?)")

    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as err:  # python-docx raises KeyError, ValueError, lxml errors...
        raise LoadError(f"not a readable DOCX ({type(err).__name__})") from err
    lines: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            text = block.text.strip()
            if not text:
                continue
            style = (block.style.name if block.style is not None else "") or ""
            level = _docx_heading_level(style)
            if level:
                lines.append("")
                lines.append("#" * level + " " + text)
                lines.append("")
            elif "List" in style:
                lines.append("- " + text)
            else:
                lines.append(text)
                lines.append("")
        elif isinstance(block, Table):
            lines.append("")
            for row in block.rows:
                cells = [" ".join(c.text.split()) for c in row.cells]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
    text = "\n".join(lines)
    title = document.core_properties.title or _first_heading(text) or stem
    return title, (Page(text),), "markdown"


def _docx_heading_level(style: str) -> int:
    if style == "Title":
        return 1
    m = re.match(r"Heading (\d)", style)
    return min(int(m.group(1)), 6) if m else 0


class _HtmlToMarkdown(HTMLParser):
    """Visible text of an HTML page, with headings, list items, rows and code kept."""

    _SKIP = {"script", "style", "noscript", "template", "head", "svg"}
    _BLOCK = {"p", "div", "section", "article", "br", "ul", "ol", "table", "blockquote", "tr", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.title = ""
        self._skip = 0
        self._code = 0  # inside script/style/...: not text even within <title> (which sits in the skipped <head>)
        self._in_title = False
        self._pre = 0
        self._cells: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
            self._code += tag != "head"
        elif tag == "title":
            self._in_title = True
        elif re.fullmatch(r"h[1-6]", tag):
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag == "pre":
            self._pre += 1
            self.out.append("\n\n```\n")
        elif tag == "tr":
            self._cells = []
        elif tag in ("td", "th") and self._cells is not None:
            self._cells.append("")
        elif tag in self._BLOCK:
            self.out.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
            if tag != "head":
                self._code = max(0, self._code - 1)
        elif tag == "title":
            self._in_title = False
        elif re.fullmatch(r"h[1-6]", tag):
            self.out.append("\n\n")
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
            self.out.append("\n```\n\n")
        elif tag == "tr" and self._cells is not None:
            self.out.append("\n| " + " | ".join(" ".join(c.split()) for c in self._cells) + " |")
            self._cells = None
        elif tag in ("p", "div", "table", "ul", "ol", "blockquote", "section", "article"):
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            if not self._code:
                self.title += data
        elif self._skip:
            return
        elif self._cells is not None and self._cells:
            self._cells[-1] += data
        elif self._pre:
            self.out.append(data)
        else:
            self.out.append(re.sub(r"\s+", " ", data))


def _html(text: str, stem: str) -> tuple[str, tuple[Page, ...], str]:
    parser = _HtmlToMarkdown()
    parser.feed(text)
    parser.close()
    body = re.sub(r"\n[ \t]+", "\n", "".join(parser.out))
    body = re.sub(r"\n{3,}", "\n\n", body).strip()
    title = " ".join(parser.title.split()) or _first_heading(body) or stem
    return title, (Page(body),), "markdown"


_RST_ADORN = re.compile(r"^([=\-~^\"'`#*+<>_:.])\1{2,}\s*$")


def _rst_to_markdown(text: str) -> str:
    """Rewrite RST section titles (text over an adornment line) as # headings."""
    lines = text.splitlines()
    out: list[str] = []
    levels: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        overline = _RST_ADORN.match(line) and i + 2 < len(lines) and _RST_ADORN.match(lines[i + 2])
        if overline and lines[i + 1].strip():
            key, title, step = "o" + line[0], lines[i + 1].strip(), 3
        elif line.strip() and not _RST_ADORN.match(line) and _RST_ADORN.match(nxt) and len(nxt.strip()) >= len(line.strip()) - 1:
            key, title, step = nxt[0], line.strip(), 2
        else:
            out.append(line)
            i += 1
            continue
        if key not in levels:
            levels.append(key)
        out.extend(["", "#" * min(levels.index(key) + 1, 6) + " " + title, ""])
        i += step
    return "\n".join(out)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.absolute().relative_to(root).as_posix()
    except ValueError:
        return path.name
