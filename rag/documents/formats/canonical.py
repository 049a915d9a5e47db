"""Canonical Markdown: the line shapes every parser emits and the chunker reads.

The chunker (``rag.documents.chunking``) finds a page's structure line by line with the
three tests defined here and nowhere else:

- ``match_heading``: an ATX heading line (``## Setup``), CommonMark's rules;
- ``fence_marker`` / ``closes_fence``: the lines that open and close fenced code;
- ``is_delimiter_row``: the ``| --- | --- |`` row under a table's header row.

A parser makes its output *canonical*: every real heading is one ATX line
(``heading``), whatever the source wrote (a setext underline, a DOCX heading
style, an HTML ``<h2>``); every code block is a closed fence (``fence``); every
table is a header row, a delimiter row and body rows (``table``); and every other
line that would pass one of the tests is escaped (``escape_line``), so it reads
the same in rendered Markdown and is never taken for structure. Then what the
chunker treats as a heading is exactly what the document's format says is one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = [
    "closes_fence",
    "escape_line",
    "escape_text",
    "fence",
    "fence_marker",
    "heading",
    "is_delimiter_row",
    "match_heading",
    "table",
]

# CommonMark ATX heading: up to 3 spaces, 1-6 '#', then a space/tab or the line end.
_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t]+)#+$")
# A fence opener: 3+ backticks whose info string has no backtick, or 3+ tildes.
_FENCE = re.compile(r" {0,3}(`{3,}(?=[^`]*$)|~{3,})")
_CLOSING_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*$")
_DELIMITER_ROW = re.compile(r"\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")


def match_heading(line: str) -> tuple[int, str] | None:
    """``(level, text)`` if ``line`` is an ATX heading with text, else None.

    >>> match_heading("## Setup ##")
    (2, 'Setup')
    >>> match_heading("#hashtag") is None, match_heading("    # code") is None
    (True, True)
    """
    m = _ATX.fullmatch(line)
    if not m:
        return None
    text = _CLOSING_HASHES.sub("", m.group(2) or "").strip()
    return (len(m.group(1)), text) if text else None


def fence_marker(line: str) -> str | None:
    """The run of backticks or tildes that opens a fence on ``line``, else None."""
    m = _FENCE.match(line)
    return m.group(1) if m else None


def closes_fence(line: str, marker: str) -> bool:
    """Whether ``line`` closes the fence opened with ``marker`` (same character, at least as long, no info)."""
    m = _CLOSING_FENCE.match(line)
    return bool(m) and m.group(1)[0] == marker[0] and len(m.group(1)) >= len(marker)


def is_delimiter_row(line: str) -> bool:
    """A table's delimiter row (``| --- | :-: |``), which must follow its header row."""
    return "-" in line and "|" in line and bool(_DELIMITER_ROW.fullmatch(line))


def escape_line(line: str) -> str:
    """``line``, with a backslash before its first mark if it would read as a heading or a fence.

    >>> escape_line("# of users: 12")
    '\\\\# of users: 12'
    >>> escape_line("plain text")
    'plain text'
    """
    if match_heading(line) or fence_marker(line):
        stripped = line.lstrip(" ")
        return line[: len(line) - len(stripped)] + "\\" + stripped
    return line


def escape_text(text: str) -> str:
    """``escape_line`` on every line of ``text``."""
    return "\n".join(escape_line(line) for line in text.split("\n"))


def heading(level: int, text: str) -> str:
    """One canonical ATX heading line (level clamped to 1-6, text on one line)."""
    text = " ".join(text.split())
    if re.search(r"(?:^|[ \t])#+$", text):  # "Step #" would lose its "#" as a closing sequence: add one
        text += " #"
    return "#" * min(max(level, 1), 6) + " " + text


def fence(code: str, info: str = "") -> list[str]:
    """A closed fence around ``code``, longer than any backtick run that starts one of its lines."""
    longest = max((len(m.group(1)) for m in re.finditer(r"^ {0,3}(`{3,})", code, re.M)), default=0)
    marker = "`" * max(3, longest + 1)
    return [marker + info.strip().replace("`", ""), *code.rstrip("\n").split("\n"), marker]


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def table(rows: Iterable[Sequence[object]]) -> list[str]:
    """Markdown table lines: the first row is the header, then a delimiter row, then the rest.

    Cells are put on one line, ``|`` is escaped, and short rows are padded, so every
    row has as many cells as the widest one.

    >>> table([["Model", "Size"], ["Phi-4", "3.8B"]])
    ['| Model | Size |', '| --- | --- |', '| Phi-4 | 3.8B |']
    """
    cells = [[_cell(c) for c in row] for row in rows]
    if not cells:
        return []
    width = max(len(r) for r in cells) or 1
    lines = []
    for n, row in enumerate(cells):
        row = row + [""] * (width - len(row))
        lines.append("| " + " | ".join(row) + " |")
        if n == 0:
            lines.append("| " + " | ".join(["---"] * width) + " |")
    return lines
