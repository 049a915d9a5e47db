"""``Document`` -> ``Chunk``s: split on headings, then pack blocks up to a token budget.

Pure: no files, no settings. The token counter is passed in (``rag.tokens``
gives the tiktoken one), so tests can count words instead.

1. A page of Markdown-like text is cut into *sections* at ``#`` headings
   (outside fenced code). Each section knows its heading trail, e.g.
   ``("Module 4", "llama.cpp", "Quantization")``.
2. A section is cut into *blocks*: paragraphs, list items, fenced code blocks,
   tables. A block that is larger than the budget is cut into *pieces*: table
   rows, code lines, or sentences (never mid-row, mid-line or mid-sentence
   unless a single one is over budget).
3. Pieces are packed greedily into chunks of at most ``target`` tokens; the next
   chunk of the same section starts with the last pieces of the previous one, up
   to ``overlap`` tokens, so a fact on the boundary is found from both sides.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.loading import Document

__all__ = ["Chunk", "ChunkConfig", "chunk_document", "split_sections"]

TokenCounter = Callable[[Sequence[str]], list[int]]
TRAIL_SEPARATOR = " › "


@dataclass(frozen=True)
class ChunkConfig:
    target: int = 300  # body tokens per chunk, at most (a single oversize piece aside;
    # a section's first chunk also carries its heading line)
    overlap: int = 30  # tokens carried into the next chunk of the same section


@dataclass(frozen=True, slots=True)
class Chunk:
    source: str  # relative path of the document
    title: str
    heading: tuple[str, ...]  # heading trail, outermost first
    text: str  # the passage as it stands in the document
    page: int | None  # PDF page, else None
    ordinal: int  # position of the chunk within its document
    tokens: int  # tiktoken count (an upper estimate, see chunk_document)

    @property
    def trail(self) -> str:
        return TRAIL_SEPARATOR.join(self.heading)


@dataclass(frozen=True)
class _Section:
    trail: tuple[str, ...]
    heading_line: str  # the heading as written ("## Setup"), "" for the preamble
    body: str
    page: int | None


@dataclass(frozen=True)
class _Piece:
    text: str
    block: int  # pieces of one block are joined by ``joiner``, blocks by a blank line
    joiner: str


_HEADING_RE = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"'(\[*_`]?[A-ZÇĞİÖŞÜ0-9])")
_LIST_ITEM = re.compile(r"^ {0,3}(?:[-*+]|\d{1,3}[.)])\s+")


def split_sections(text: str, markup: str, title: str, page: int | None = None) -> list[_Section]:
    """Cut a page into heading sections (``markup == "plain"``: one section)."""
    if markup != "markdown":
        return [_Section((title,), "", text, page)]
    sections: list[_Section] = []
    stack: list[tuple[int, str]] = []
    heading_line = ""
    body: list[str] = []
    fence: str | None = None

    def close() -> None:
        trail = tuple(h for _, h in stack) or (title,)
        if "\n".join(body).strip():
            sections.append(_Section(trail, heading_line, "\n".join(body), page))

    for line in text.split("\n"):
        fence_match = _FENCE_RE.match(line)
        if fence is not None:
            if fence_match and fence_match.group(1)[0] == fence[0] and len(fence_match.group(1)) >= len(fence):
                fence = None
            body.append(line)
            continue
        if fence_match:
            fence = fence_match.group(1)
            body.append(line)
            continue
        m = _HEADING_RE.match(line)
        if m and m.group(2).strip():
            close()
            level = len(m.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, _clean_heading(m.group(2))))
            heading_line, body = line.strip(), []
            continue
        body.append(line)
    close()
    return sections


def _clean_heading(text: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # [label](link) -> label
    return re.sub(r"[*_`]+", "", text).strip() or text.strip()


def _blocks(body: str) -> list[tuple[str, str]]:
    """(kind, text) blocks: code, table, item, para."""
    blocks: list[tuple[str, str]] = []
    lines = body.split("\n")
    i = 0
    para: list[str] = []

    def flush_para() -> None:
        if para and "\n".join(para).strip():
            blocks.append(("para", "\n".join(para).strip("\n")))
        para.clear()

    while i < len(lines):
        line = lines[i]
        fence_match = _FENCE_RE.match(line)
        if fence_match:
            flush_para()
            marker = fence_match.group(1)
            j = i + 1
            while j < len(lines):
                m = _FENCE_RE.match(lines[j])
                if m and m.group(1)[0] == marker[0] and len(m.group(1)) >= len(marker):
                    break
                j += 1
            blocks.append(("code", "\n".join(lines[i : j + 1])))
            i = j + 1
            continue
        if line.lstrip().startswith("|"):
            flush_para()
            j = i
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                j += 1
            blocks.append(("table", "\n".join(lines[i:j])))
            i = j
            continue
        if not line.strip():
            flush_para()
        elif _LIST_ITEM.match(line):
            flush_para()
            para.append(line)
            flush_item = True
            # continuation lines (indented, non-empty, not a new item) stay with the item
            while i + 1 < len(lines) and lines[i + 1].strip() and lines[i + 1].startswith((" ", "\t")) and not _LIST_ITEM.match(lines[i + 1]):
                i += 1
                para.append(lines[i])
            if flush_item:
                blocks.append(("item", "\n".join(para)))
                para.clear()
        else:
            para.append(line)
        i += 1
    flush_para()
    return blocks


def _pieces(blocks: list[tuple[str, str]], count: TokenCounter, target: int) -> tuple[list[_Piece], list[int]]:
    """Blocks -> pieces small enough to pack, with their token counts."""
    sizes = count([text for _, text in blocks])
    pieces: list[_Piece] = []
    tokens: list[int] = []
    for index, ((kind, text), size) in enumerate(zip(blocks, sizes)):
        if size <= target:
            pieces.append(_Piece(text, index, "\n"))
            tokens.append(size)
            continue
        if kind in ("code", "table"):
            parts, joiner = text.split("\n"), "\n"
        else:
            parts, joiner = [s for s in _SENTENCE_END.split(text) if s.strip()], " "
        part_sizes = count(parts)
        for part, part_size in zip(parts, part_sizes):
            if part_size <= target:
                pieces.append(_Piece(part, index, joiner))
                tokens.append(part_size)
                continue
            # one sentence/line over budget: cut it into word windows
            ws = part.split(" ")
            step = max(1, len(ws) * target // max(part_size, 1))
            for start in range(0, len(ws), step):
                window = " ".join(ws[start : start + step])
                pieces.append(_Piece(window, index, " "))
                tokens.append(count([window])[0])
    return pieces, tokens


def _join(pieces: Sequence[_Piece]) -> str:
    out: list[str] = []
    for i, piece in enumerate(pieces):
        if i:
            out.append(piece.joiner if piece.block == pieces[i - 1].block else "\n\n")
        out.append(piece.text)
    return "".join(out)


def _pack(tokens: list[int], config: ChunkConfig) -> list[tuple[int, int]]:
    """Greedy packing of pieces with these token counts: (start, end) index ranges."""
    ranges: list[tuple[int, int]] = []
    start = 0
    while start < len(tokens):
        end, used = start, 0
        while end < len(tokens) and (end == start or used + tokens[end] <= config.target):
            used += tokens[end]
            end += 1
        ranges.append((start, end))
        if end >= len(tokens):
            break
        # overlap: step back over trailing pieces that fit in the overlap budget
        back, carried = end, 0
        while back - 1 > start and carried + tokens[back - 1] <= config.overlap:
            back -= 1
            carried += tokens[back]
        start = back
    return ranges


def chunk_document(doc: Document, count: TokenCounter, config: ChunkConfig = ChunkConfig()) -> list[Chunk]:
    """All chunks of ``doc`` in reading order.

    A chunk's token count is the sum of its pieces' counts plus its separators',
    so the text is not encoded a second time. BPE can merge across a separator
    (a newline and the next line's indentation), so this is an upper estimate:
    on the shared course docs never below the exact count, and at most 15 % above.
    """
    join_cost = dict(zip(("\n\n", "\n", " "), count(["\n\n", "\n", " "])))
    chunks: list[Chunk] = []
    for page in doc.pages:
        for section in split_sections(page.text, doc.markup, doc.title, page.number):
            pieces, tokens = _pieces(_blocks(section.body), count, config.target)
            heading_cost = count([section.heading_line])[0] + join_cost["\n\n"] if section.heading_line else 0
            for n, (start, end) in enumerate(_pack(tokens, config)):
                group = pieces[start:end]
                text = _join(group)
                size = sum(tokens[start:end]) + sum(
                    join_cost[p.joiner if p.block == q.block else "\n\n"] for q, p in zip(group, group[1:])
                )
                if n == 0 and section.heading_line:
                    # the heading line opens the section's first chunk, on top of the body budget
                    text, size = section.heading_line + "\n\n" + text, size + heading_cost
                chunks.append(Chunk(doc.source, doc.title, section.trail, text, section.page, len(chunks), size))
    return chunks
