"""reStructuredText -> canonical Markdown: section titles become ATX headings.

Not a full RST reader (docutils is not a dependency): a section title is a line
of text under (and optionally over) an adornment line of one repeated
punctuation character at least as long as it; levels follow the order in which
adornment styles first appear, as in RST. Every other line is kept, escaped
where it would look like a heading or a fence to the chunker.
"""

from __future__ import annotations

import re

from rag.documents.formats import Page, Parsed
from rag.documents.formats.canonical import escape_line, heading

__all__ = ["parse_rst"]

_ADORNMENT = re.compile(r"^([=\-~^\"'`#*+<>_:.])\1{2,}\s*$")


def parse_rst(text: str, stem: str) -> Parsed:
    """Canonical Markdown of an RST file's (decoded, normalized) ``text``."""
    lines = text.splitlines()
    out: list[str] = []
    styles: list[str] = []
    title = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        overline = _ADORNMENT.match(line) and i + 2 < len(lines) and _ADORNMENT.match(lines[i + 2])
        if overline and lines[i + 1].strip():
            style, words, step = "o" + line[0], lines[i + 1].strip(), 3
        elif line.strip() and not _ADORNMENT.match(line) and _ADORNMENT.match(nxt) and len(nxt.strip()) >= len(line.strip()) - 1:
            style, words, step = nxt[0], line.strip(), 2
        else:
            out.append(escape_line(line))
            i += 1
            continue
        if style not in styles:
            styles.append(style)
        level = min(styles.index(style) + 1, 6)
        title = title or (words if level == 1 else "")
        out.extend(["", heading(level, words), ""])
        i += step
    text = "\n".join(out)
    first = re.search(r"^#{1,6} (.+)$", text, re.M)
    return Parsed(title or (first.group(1) if first else "") or stem, (Page(text),), "markdown")
