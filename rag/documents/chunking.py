"""``Document`` -> ``Chunk``s: split on headings, then pack blocks up to a token budget.

Pure: no files, no settings. The token counter is passed in (``rag.documents.tokens``
gives the tiktoken one), so tests can count words instead.

1. A page of canonical Markdown (``rag.documents.formats.canonical``: the loaders turn
   every format into it, so a ``#`` line is a heading exactly when the source
   format says so) is cut into *sections* at heading lines outside fenced code.
   Each section knows its heading trail, e.g. ``("Module 4", "llama.cpp", "Quantization")``.
2. A section is cut into *blocks*: paragraphs, list items, fenced code blocks,
   tables. A block that is larger than the budget is cut into *pieces*: table
   rows, code lines, sentences (``.`` and the like before a space, ``。！？``
   anywhere), then word windows, and as a last resort windows of characters
   measured in tokens (text without spaces: base64, Chinese), never mid-character.
3. Pieces are packed greedily into chunks of at most ``target`` tokens, all
   included: the heading line that opens a section's first chunk, the separators,
   and the header row of a table whose rows continue from the previous chunk
   (repeated, so every chunk of a long table says what its columns are). The next
   chunk of the same section starts with the last pieces of the previous one, up
   to ``overlap`` tokens, so a fact on the boundary is found from both sides.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate

from rag.documents.formats.canonical import closes_fence, fence_marker, is_delimiter_row, match_heading
from rag.documents.loading import Document
from rag.settings import default

__all__ = ["Chunk", "ChunkConfig", "chunk_document", "split_sections"]

TokenCounter = Callable[[Sequence[str]], list[int]]
TRAIL_SEPARATOR = " › "


@dataclass(frozen=True)
class ChunkConfig:
    target: int = default("chunk_tokens")  # tokens per chunk, at most, heading line and repeated table header included
    overlap: int = default("chunk_overlap")  # tokens carried into the next chunk of the same section


@dataclass(frozen=True, slots=True)
class Chunk:
    source: str  # relative path of the document
    title: str
    heading: tuple[str, ...]  # heading trail, outermost first
    text: str  # the passage as it stands in the document
    page: int | None  # PDF page or PPTX slide, else None
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
    lead: str = ""  # a table's header (+ delimiter) row, put first when this piece opens a chunk


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"'(\[*_`]?[A-ZÇĞİÖŞÜ0-9])|(?<=[。！？])\s*")
_LIST_ITEM = re.compile(r"^ {0,3}(?:[-*+]|\d{1,3}[.)])\s+")
# where a window of characters prefers to end (after one of these), if there is one near its end
_SOFT_BREAK = re.compile(r"[\s。！？；，、,;:)\]}>/\\|=-]")
_SEPARATORS = ("\n\n", "\n", " ", "")


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
        if fence is not None:
            if closes_fence(line, fence):
                fence = None
            body.append(line)
            continue
        marker = fence_marker(line)
        if marker:
            fence = marker
            body.append(line)
            continue
        found = match_heading(line)
        if found:
            close()
            level, words = found
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, _clean_heading(words)))
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
        marker = fence_marker(line)
        if marker:
            flush_para()
            j = i + 1
            while j < len(lines) and not closes_fence(lines[j], marker):
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
            # continuation lines (indented, non-empty, not a new item) stay with the item
            while i + 1 < len(lines) and lines[i + 1].strip() and lines[i + 1].startswith((" ", "\t")) and not _LIST_ITEM.match(lines[i + 1]):
                i += 1
                para.append(lines[i])
            blocks.append(("item", "\n".join(para)))
            para.clear()
        else:
            para.append(line)
        i += 1
    flush_para()
    return blocks


# ---------------------------------------------------------------- cutting what is too large


def _cut_chars(text: str, count: TokenCounter, limit: int) -> list[str]:
    """``text`` cut into windows of at most ``limit`` tokens each, on character boundaries.

    The last resort for text with no spaces (base64, Chinese). A window ends
    after a soft break (space, ``。``, ``,``...) in its last half if there is one,
    and never between a character and its combining marks. Windows are cut from
    the text, never from its token bytes, so no character is ever broken (no U+FFFD).
    """
    total = count([text])[0]
    if total <= limit:
        return [text]
    chars_per_token = len(text) / max(total, 1)
    windows: list[str] = []
    rest = text
    while rest:
        probe = min(len(rest), int(limit * chars_per_token * 2) + 16)
        if probe == len(rest) and count([rest])[0] <= limit:
            windows.append(rest)
            break
        lo, hi = 1, probe  # the longest prefix within the limit (prefix counts only grow, give or take a merge)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count([rest[:mid]])[0] <= limit:
                lo = mid
            else:
                hi = mid - 1
        end = lo
        soft = [m.end() for m in _SOFT_BREAK.finditer(rest, end // 2, end)]
        if soft and end < len(rest):
            end = soft[-1]
        while 1 < end < len(rest) and unicodedata.combining(rest[end]):
            end -= 1
        if end != lo and count([rest[:end]])[0] > limit:  # a shorter cut can merge worse: keep the measured one
            end = lo
        windows.append(rest[:end])
        rest = rest[end:]
    return windows


def _cut_words(text: str, count: TokenCounter, limit: int) -> list[tuple[str, str]]:
    """(piece, gap before it) parts of ``text``, each at most ``limit`` tokens: windows
    of words, and a word over the limit on its own cut by ``_cut_chars`` (its parts
    joined back with no gap)."""
    words = [w for w in text.split(" ") if w]
    sizes = count([" " + w for w in words])  # what a word costs inside a line
    out: list[tuple[str, str]] = []
    window: list[str] = []
    used = 0

    def flush() -> None:
        nonlocal used
        joined = " ".join(window)
        if not window:
            pass
        elif count([joined])[0] <= limit:
            out.append((joined, " "))
        elif len(window) > 1:  # the estimate was short: halve
            half = len(window) // 2
            out.extend(_cut_words(" ".join(window[:half]), count, limit))
            out.extend(_cut_words(" ".join(window[half:]), count, limit))
        else:  # one word over the limit: cut it by tokens, its parts joined back with no gap
            parts = _cut_chars(joined, count, limit)
            out.extend([(parts[0], " "), *((part, "") for part in parts[1:])])
        window.clear()
        used = 0

    for word, size in zip(words, sizes):
        if size > limit:
            flush()
            window.append(word)
            flush()
            continue
        if window and used + size > limit:
            flush()
        window.append(word)
        used += size
    flush()
    return out


def _fit(text: str, kind: str, count: TokenCounter, limit: int) -> list[tuple[str, str]]:
    """(piece, gap before it) parts of one over-budget block, each at most ``limit`` tokens."""
    if kind in ("code", "table"):
        parts = text.split("\n")
        gaps = ["\n"] * len(parts)
    else:  # sentences, and the gap that was between them ("" after a Chinese full stop)
        cuts = [(m.start(), m.end()) for m in _SENTENCE_END.finditer(text) if 0 < m.end() < len(text)]
        bounds = [0, *(e for _, e in cuts)]
        ends = [*(s for s, _ in cuts), len(text)]
        parts = [text[b:e] for b, e in zip(bounds, ends)]
        gaps = [" "] + [" " if e > s else "" for s, e in cuts]
    out: list[tuple[str, str]] = []
    for part, gap, size in zip(parts, gaps, count(parts)):
        if not part.strip():
            continue
        if size <= limit:
            out.append((part, gap))
        else:
            sub = _cut_words(part, count, limit)
            out.extend([(sub[0][0], gap), *sub[1:]])
    return out


def _pieces(blocks: list[tuple[str, str]], count: TokenCounter, limit: int, line_cost: int) -> tuple[list[_Piece], list[int]]:
    """Blocks -> pieces of at most ``limit`` tokens, with their token counts.

    A long table with a header row is cut into its header and its rows; each row
    then leaves room for the header, which is repeated when a chunk opens on a row.
    """
    sizes = count([text for _, text in blocks])
    pieces: list[_Piece] = []
    tokens: list[int] = []
    for index, ((kind, text), size) in enumerate(zip(blocks, sizes)):
        if size <= limit:
            pieces.append(_Piece(text, index, "\n"))
            tokens.append(size)
            continue
        lines = text.split("\n")
        lead, row_limit = "", limit
        if kind == "table" and len(lines) > 2 and is_delimiter_row(lines[1]):
            header = lines[0] + "\n" + lines[1]
            header_size = count([header])[0]
            if header_size + line_cost <= limit // 3:  # a header too big to repeat is given once
                pieces.append(_Piece(header, index, "\n"))
                tokens.append(header_size)
                lead, row_limit, text = header, limit - header_size - line_cost, "\n".join(lines[2:])
        parts = _fit(text, kind, count, row_limit)
        pieces.extend(_Piece(part, index, gap, lead) for part, gap in parts)
        tokens.extend(count([part for part, _ in parts]))
    return pieces, tokens


def _gaps(pieces: Sequence[_Piece]) -> list[str]:
    """The separator before each piece (the first one's is never used)."""
    return [""] + [p.joiner if p.block == q.block else "\n\n" for q, p in zip(pieces, pieces[1:])]


def _join(pieces: Sequence[_Piece], gaps: Sequence[str]) -> str:
    out = [pieces[0].lead + "\n"] if pieces[0].lead else []
    for i, piece in enumerate(pieces):
        if i:
            out.append(gaps[i])
        out.append(piece.text)
    return "".join(out)


def _pack(tokens: list[int], gap_cost: list[int], lead_cost: list[int], first_extra: int, config: ChunkConfig) -> list[tuple[int, int]]:
    """Greedy packing of pieces: (start, end) index ranges, each within ``config.target``.

    A chunk that starts at piece ``i`` also carries ``lead_cost[i]`` (a table header),
    and the first one ``first_extra`` (the section's heading line).
    """
    sums = [0, *accumulate(tokens)]
    gap_sums = [0, *accumulate(gap_cost)]

    def cost(start: int, end: int) -> int:  # pieces start..end-1 and the gaps between them, plus the lead
        return sums[end] - sums[start] + gap_sums[end] - gap_sums[start + 1] + lead_cost[start]

    ranges: list[tuple[int, int]] = []
    start, extra = 0, first_extra
    while start < len(tokens):
        end = start + 1
        while end < len(tokens) and cost(start, end + 1) + extra <= config.target:
            end += 1
        ranges.append((start, end))
        if end >= len(tokens):
            break
        # overlap: step back over trailing pieces that fit in the overlap budget,
        # as long as the next chunk still has room for the first new piece
        back = end
        while back - 1 > start and sums[end] - sums[back - 1] <= config.overlap and cost(back - 1, end + 1) <= config.target:
            back -= 1
        start, extra = back, 0
    return ranges


def chunk_document(doc: Document, count: TokenCounter, config: ChunkConfig = ChunkConfig()) -> list[Chunk]:
    """All chunks of ``doc`` in reading order.

    A chunk's token count is the sum of its pieces' counts plus its separators',
    so the text is not encoded a second time. BPE can merge across a separator
    (a newline and the next line's indentation), so this is an upper estimate:
    on the shared course docs never below the exact count, and at most 15 % above.
    It is at most ``config.target``.
    """
    sep_cost = dict(zip(_SEPARATORS, count(list(_SEPARATORS))))
    chunks: list[Chunk] = []
    for page in doc.pages:
        for section in split_sections(page.text, doc.markup, doc.title, page.number):
            heading_line = section.heading_line
            heading_cost = count([heading_line])[0] + sep_cost["\n\n"] if heading_line else 0
            if heading_cost > config.target // 4:  # a very long heading line: its start opens the chunk
                heading_line = _cut_chars(heading_line, count, max(1, config.target // 4 - sep_cost["\n\n"]))[0].rstrip()
                heading_cost = count([heading_line])[0] + sep_cost["\n\n"]
            pieces, tokens = _pieces(_blocks(section.body), count, config.target - heading_cost, sep_cost["\n"])
            if not pieces:
                continue
            gaps = _gaps(pieces)
            gap_cost = [sep_cost[g] for g in gaps]
            leads = sorted({p.lead for p in pieces if p.lead})
            lead_sizes = dict(zip(leads, count(leads)))
            lead_cost = [lead_sizes[p.lead] + sep_cost["\n"] if p.lead else 0 for p in pieces]
            for n, (start, end) in enumerate(_pack(tokens, gap_cost, lead_cost, heading_cost, config)):
                group = pieces[start:end]
                text = _join(group, gaps[start:end])
                size = sum(tokens[start:end]) + sum(gap_cost[start + 1 : end]) + lead_cost[start]
                if n == 0 and heading_line:
                    text, size = heading_line + "\n\n" + text, size + heading_cost
                chunks.append(Chunk(doc.source, doc.title, section.trail, text, section.page, len(chunks), size))
    return chunks
