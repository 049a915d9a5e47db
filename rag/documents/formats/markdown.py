"""Markdown -> canonical Markdown, read by a CommonMark parser (markdown-it-py).

The source's own lines are kept as they are written (links, emphasis, lists,
tables), except where a line's meaning depends on more than the line itself:

- every heading the parser finds becomes one ATX line: a setext heading
  (``Title`` over ``===`` or ``---``) too, and a heading inside a list item or a
  block quote (CommonMark says it is one);
- every code block becomes a closed fence at the start of the line: an unclosed
  fence, one inside a list item, an indented code block;
- HTML comments are dropped (front-matter comments, editor notes), other HTML
  blocks are kept as text; outside code, an entity that stands for a letter, a
  space or an invisible mark (``&eacute;`` ``&nbsp;`` ``&shy;`` ``&#8203;``) is
  decoded and normalized like the rest of the text, so it cannot split a word;
- YAML (``---``) or TOML (``+++``) front matter is metadata: never part of a
  page; its ``title`` is the document's title and the top heading of the page;
- any remaining line that would look like a heading or a fence to the chunker
  (``# not a heading`` inside an HTML block) is escaped.

So the chunker's line tests (``rag.documents.formats.canonical``) see a heading exactly
where CommonMark does. Only the block level is parsed (inline parsing is turned
off: it is half of the parser's time and nothing here needs it).
"""

from __future__ import annotations

import html
import re
import tomllib
import unicodedata
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.front_matter import front_matter_plugin

from rag.documents.formats import Page, Parsed
from rag.documents.formats.canonical import escape_line, fence, heading
from rag.documents.normalize import normalize_text

__all__ = ["parse_markdown"]

_COMMENT_RE = re.compile(r"<!--.*?-->", re.S)
_ENTITY_RE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_TOML_FRONT = re.compile(r"\+\+\+[ \t]*\n(.*?)\n\+\+\+[ \t]*(?:\n|$)", re.S)


def _parser(front_matter: bool) -> MarkdownIt:
    md = MarkdownIt("commonmark").enable("table")
    if front_matter:
        md.use(front_matter_plugin)
    md.core.ruler.disable(["inline", "text_join"])
    return md


_MD = _parser(front_matter=True)
_MD_PLAIN = _parser(front_matter=False)


def parse_markdown(text: str, stem: str) -> Parsed:
    """Canonical Markdown of a Markdown file's (decoded, normalized) ``text``."""
    meta: dict[str, Any] = {}
    toml = _TOML_FRONT.match(text)
    if toml:
        meta = _toml(toml.group(1))
        text = text[toml.end() :]
    lines = text.split("\n")
    tokens = _MD.parse(text)
    if tokens and tokens[0].type == "front_matter":
        end = tokens[0].map[1] if tokens[0].map else 0
        if end and re.fullmatch(r"(-{3,}|\.{3})[ \t]*", lines[end - 1]) and end > 1:
            meta = _yaml(tokens[0].content)
        else:  # an unclosed "---" is a thematic break, not a document of front matter
            tokens = _MD_PLAIN.parse(text)
    title = _scalar(meta.get("title"))
    out, headings = _canonical(lines, tokens, title)
    first_h1 = next((words for level, words in headings if level == 1), "")
    return Parsed(title or first_h1 or next((words for _, words in headings), "") or stem, (Page(out),), "markdown")


def _canonical(lines: list[str], tokens: list[Token], title: str) -> tuple[str, list[tuple[int, str]]]:
    """The source ``lines`` with headings, code and HTML blocks rewritten (see the
    module docstring), and the headings (level, text) in order."""
    # (first line, end line, replacement lines, whether they are structure, never escaped)
    blocks: list[tuple[int, int, list[str], bool]] = []
    levels: list[int] = []
    for i, token in enumerate(tokens):
        if token.map is None:
            continue
        start, end = token.map
        if token.type == "front_matter":
            blocks.append((start, end, [], True))
        elif token.type == "heading_open":
            words = " ".join(tokens[i + 1].content.split()) if i + 1 < len(tokens) else ""
            levels.append(int(token.tag[1]))
            blocks.append((start, end, [f"\0H{len(levels) - 1}\0{words}"], True))
        elif token.type == "fence":
            blocks.append((start, end, fence(token.content, token.info), True))
        elif token.type == "code_block":
            blocks.append((start, end, fence(token.content), True))
        elif token.type == "html_block":
            kept = _COMMENT_RE.sub("", token.content)
            blocks.append((start, end, kept.rstrip("\n").split("\n") if kept.strip() else [], False))
    # A front-matter title is the top of the trail: it opens the page as an H1, and the
    # page's own headings go one level down, unless the page already opens with that H1.
    shift = 0
    opening: list[str] = []
    if title:
        opens_with_title = bool(levels) and levels[0] == 1 and _same(_heading_text(blocks, 0), title)
        if not opens_with_title:
            opening = [heading(1, title), ""]
            shift = 1 if 1 in levels else 0
    out: list[str] = list(opening)
    headings: list[tuple[int, str]] = [(1, title)] if opening else []
    plain: list[str] = []

    def add(line: str) -> None:  # one blank line between blocks is enough
        if line.strip() or (out and out[-1].strip()):
            out.append(line)

    def flush_plain() -> None:  # source lines kept as written, HTML comments removed
        if plain:
            kept = _COMMENT_RE.sub("", "\n".join(plain))
            if "&" in kept:
                kept = _decode_letter_entities(kept)
            for line in kept.split("\n"):
                add(escape_line(line))
            plain.clear()

    row = 0
    for start, end, replacement, structure in sorted(blocks, key=lambda b: b[0]):
        if start < row:  # nested inside a block already rewritten (cannot happen for these types)
            continue
        plain.extend(lines[row:start])
        flush_plain()
        for line in replacement:
            if line.startswith("\0H"):
                number, words = line[2:].split("\0", 1)
                if words:
                    headings.append((min(levels[int(number)] + shift, 6), words))
                    add("")
                    add(heading(headings[-1][0], words))
                    add("")
            elif structure:
                out.append(line)  # fence lines, code as it is
            else:
                add(escape_line(line))
        row = max(row, end)
    plain.extend(lines[row:])
    flush_plain()
    return "\n".join(out).strip("\n") + "\n", headings


def _decode_letter_entities(text: str) -> str:
    """``text`` with entities that stand for a letter, digit, space or invisible
    mark (``&eacute;`` ``&nbsp;`` ``&shy;`` ``&#8203;``) decoded and normalized;
    ``&lt;`` ``&amp;`` and the like stay, as their characters mean Markdown."""

    decoded = 0

    def decode(m: re.Match[str]) -> str:
        nonlocal decoded
        char = html.unescape(m.group(0))
        if len(char) == 1 and (unicodedata.category(char)[0] in "LMNZ" or unicodedata.category(char) == "Cf"):
            decoded += 1
            return char
        return m.group(0)

    text = _ENTITY_RE.sub(decode, text)
    return normalize_text(text) if decoded else text


def _heading_text(blocks: list[tuple[int, int, list[str], bool]], number: int) -> str:
    marker = f"\0H{number}\0"
    for _, _, replacement, _ in blocks:
        for line in replacement:
            if line.startswith(marker):
                return line[len(marker) :]
    return ""


def _same(a: str, b: str) -> bool:
    return " ".join(re.sub(r"[*_`#]", "", a).split()).casefold() == " ".join(b.split()).casefold()


def _yaml(text: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return _loose_meta(text)
    return data if isinstance(data, dict) else {}


def _toml(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return _loose_meta(text)


def _loose_meta(text: str) -> dict[str, Any]:
    """``title`` from front matter that is not valid YAML/TOML (``title: Foo: bar``)."""
    m = re.search(r"^title\s*[:=]\s*(.+?)\s*$", text, re.M | re.I)
    return {"title": m.group(1).strip("\"'")} if m else {}


def _scalar(value: object) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return " ".join(str(value).split())
    return ""
