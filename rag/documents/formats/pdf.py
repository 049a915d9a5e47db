"""PDF -> plain-text pages (pypdf): the text layer, filled form fields, and no page furniture.

Each page stays a page (``Page.number``, 1-based): the unit of position.

- **Text**: pypdf's text layer, normalized (``rag.documents.normalize``: ligature glyphs
  such as ``ﬁ`` become ``fi``).
- **Hyphenation**: a word cut at a line end (``synchroni-`` / ``zation``, with a
  hyphen, a soft hyphen or U+2010, the next line starting in lower case) is
  joined (``synchronization``). A compound broken at its own hyphen
  (``well-`` / ``known``) is joined too: no dictionary says which is which.
- **Form fields** (AcroForm widgets): a filled field's value is written next to
  its label on the widget's page, as ``Company: Kestrel Logistics``. The label
  is the text just left of the widget on its line (else just above it), found
  with the positions pypdf reports; without one, the field's tooltip (``/TU``)
  or name (``/T``) is used and the line goes at the end of the page. Check
  boxes and radio buttons give their chosen value (``Yes``, ``Morning``), list
  fields their chosen items. Empty fields, unchecked boxes, push buttons,
  signatures and hidden widgets add nothing.
- **Running headers and footers**: a line among the first or last three of a
  page that (digits aside: ``Page 3 of 9``) comes back on at least half of the
  pages, and on three or more, is kept on the first page where it appears and
  dropped from the others.
"""

from __future__ import annotations

import io
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from rag.documents.formats import Page, Parsed
from rag.documents.normalize import normalize_text
from rag.errors import LoadError

__all__ = ["parse_pdf"]

_HYPHENATED = re.compile(r"([^\W\d_])[-\u00ad\u2010]\n[ \t]*([^\W\d_])")
_EDGE_LINES = 3
_PUSHBUTTON, _RADIO = 1 << 16, 1 << 15
_HIDDEN, _NO_VIEW = 1 << 1, 1 << 5


@dataclass(frozen=True)
class _Field:
    label: str  # tooltip or name, for a value whose label is not found on the page
    value: str
    rect: tuple[float, float, float, float]  # x0, y0, x1, y1 in page space
    kind: str  # "text", "check" (its label is usually on its right), "radio" (labelled by its group), "choice"


def parse_pdf(data: bytes, stem: str) -> Parsed:
    """Pages of a PDF's text (see the module docstring); ``LoadError`` if it has none."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        try:
            unlocked = reader.decrypt("")
        except Exception:  # pypdf raises several types for unsupported crypto
            unlocked = 0
        if not unlocked:
            raise LoadError("encrypted PDF: save a copy without a password and add that")
    texts: list[str] = []
    for page in reader.pages:
        fields = _fields(page)
        if fields:
            fragments: list[tuple[float, float, str]] = []
            text = page.extract_text(visitor_text=_collector(fragments)) or ""
            text = _with_values(text, fields, fragments)
        else:
            text = page.extract_text() or ""
        texts.append(normalize_text(dehyphenate(text)))
    texts = drop_running_lines(texts)
    if not any(t.strip() for t in texts):
        raise LoadError("PDF has no text layer (a scan?): run OCR on it first")
    meta_title = reader.metadata.get("/Title") if reader.metadata else None
    pages = tuple(Page(text, number) for number, text in enumerate(texts, 1))
    return Parsed(normalize_text(str(meta_title or "")) or stem, pages, "plain")


def dehyphenate(text: str) -> str:
    """Join words cut at a line end by a hyphen (see the module docstring).

    >>> dehyphenate("clock synchroni-\\nzation, and Jean-\\nPierre")
    'clock synchronization, and Jean-\\nPierre'
    """

    def join(m: re.Match[str]) -> str:
        return m.group(1) + m.group(2) if m.group(2).islower() else m.group(0)

    return _HYPHENATED.sub(join, text)


def drop_running_lines(pages: list[str]) -> list[str]:
    """Pages without the running headers and footers repeated on most of them (kept once).

    A line counts as the same on two pages when it is equal (spaces and case
    aside), or when it differs only in numbers that go up with the page
    (``Page 3 of 9``, ``- 12 -``): each number must be the same on every page or
    the page number plus the same offset. Lines that differ in other numbers
    (``Total: 1,204``) are content.
    """
    needed = max(3, math.ceil(len(pages) / 2))
    if len(pages) < 3:
        return pages
    # shape (numbers masked) -> [(page index, line index, numbers)] for lines at the top or bottom of a page
    shapes: dict[str, list[tuple[int, int, list[int]]]] = {}
    split = [text.split("\n") for text in pages]
    for page, lines in enumerate(split):
        content = [i for i, line in enumerate(lines) if line.strip()]
        seen: set[str] = set()
        for i in dict.fromkeys(content[:_EDGE_LINES] + content[-_EDGE_LINES:]):
            words = " ".join(lines[i].split()).casefold()
            shape = re.sub(r"\d+", "#", words)
            if shape not in seen:
                seen.add(shape)
                shapes.setdefault(shape, []).append((page, i, [int(n) for n in re.findall(r"\d+", words)]))
    drop: set[tuple[int, int]] = set()
    for entries in shapes.values():
        if len(entries) < needed:
            continue
        running = _consistent(entries)
        if len(running) >= needed:
            drop.update((page, i) for page, i, _ in running[1:])  # the first one stays
    if not drop:
        return pages
    return ["\n".join(line for i, line in enumerate(lines) if (page, i) not in drop) for page, lines in enumerate(split)]


def _consistent(entries: list[tuple[int, int, list[int]]]) -> list[tuple[int, int, list[int]]]:
    """The entries whose every number is the most common constant or page offset at its place."""
    kept = entries
    for place in range(len(entries[0][2])):
        votes = Counter(("same", n[place]) for _, _, n in kept) + Counter(("page", n[place] - page) for page, _, n in kept)
        (how, value), _ = votes.most_common(1)[0]
        kept = [e for e in kept if (e[2][place] if how == "same" else e[2][place] - e[0]) == value]
    return kept


# ---------------------------------------------------------------- form fields


def _inherited(annot: Any, key: str) -> Any:
    """A field attribute, looked up the /Parent chain (fields inherit FT, V, Ff, Opt)."""
    node, hops = annot, 0
    while node is not None and hops < 32:
        if key in node:
            return node[key].get_object() if hasattr(node[key], "get_object") else node[key]
        parent = node.get("/Parent")
        node = parent.get_object() if parent is not None else None
        hops += 1
    return None


def _fields(page: Any) -> list[_Field]:
    """The filled, visible form fields whose widgets are on ``page``."""
    annots = page.get("/Annots")
    if annots is None:
        return []
    fields = []
    for ref in annots.get_object():
        annot = ref.get_object()
        if not hasattr(annot, "get") or annot.get("/Subtype") != "/Widget":
            continue
        if int(annot.get("/F", 0)) & (_HIDDEN | _NO_VIEW):
            continue
        value = _value(annot)
        rect = annot.get("/Rect")
        if not value or rect is None or len(rect) != 4:
            continue
        x0, y0, x1, y1 = (float(v) for v in rect)
        label = _inherited(annot, "/TU") or _inherited(annot, "/T") or ""
        box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        fields.append(_Field(str(label), value, box, _kind(annot)))
    return fields


def _kind(annot: Any) -> str:
    kind = _inherited(annot, "/FT")
    if kind == "/Btn":
        return "radio" if int(_inherited(annot, "/Ff") or 0) & _RADIO else "check"
    return "choice" if kind == "/Ch" else "text"


def _value(annot: Any) -> str:
    """What a widget's field shows as filled in, "" for nothing."""
    kind = _inherited(annot, "/FT")
    value = _inherited(annot, "/V")
    flags = int(_inherited(annot, "/Ff") or 0)
    if kind == "/Tx":
        return " ".join(str(value).split()) if value is not None else ""
    if kind == "/Btn":
        if flags & _PUSHBUTTON or value is None or str(value) in ("/Off", ""):
            return ""
        state = annot.get("/AS")
        if state is not None and str(state) != str(value):  # another button of the group is the chosen one
            return ""
        chosen = str(value).lstrip("/")
        options = _inherited(annot, "/Opt")
        if options is not None and chosen.isdigit() and int(chosen) < len(options):
            chosen = str(options[int(chosen)])
        if not flags & _RADIO and chosen in ("On", "1", "True", "true", "on"):
            chosen = "Yes"
        return chosen
    if kind == "/Ch":
        chosen = value if isinstance(value, list) else [value] if value is not None else []
        options = _inherited(annot, "/Opt") or []
        display = {}
        for option in options:
            option = option.get_object() if hasattr(option, "get_object") else option
            if isinstance(option, list) and len(option) == 2:
                display[str(option[0])] = str(option[1])
        return ", ".join(display.get(str(v), str(v)) for v in chosen if str(v).strip())
    return ""


def _collector(fragments: list[tuple[float, float, str]]):
    """A pypdf ``visitor_text`` that records each text fragment at its page position."""

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: Any) -> None:
        if text.strip():
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            fragments.append((x, y, text.strip()))

    return visit


def _label(field: _Field, fields: list[_Field], fragments: list[tuple[float, float, str]]) -> str | None:
    """The text printed just left of the widget on its line (right of a check box), else just above it."""
    x0, y0, x1, y1 = field.rect
    height = max(y1 - y0, 1.0)
    on_line = [f for f in fragments if y0 - 2 <= f[1] <= y1 + 2]
    if field.kind == "check":
        right = [f for f in on_line if x1 - 1 <= f[0] <= x1 + 4 * height + 12]
        if right:
            return min(right, key=lambda f: f[0])[2]
    # where this widget's line starts: after any other widget to its left on the same line
    left_edge = max((f.rect[2] for f in fields if f is not field and f.rect[2] <= x0 and f.rect[1] < y1 and f.rect[3] > y0), default=-math.inf)
    left = [f for f in on_line if left_edge - 1 <= f[0] < x0]
    if left:
        return max(left, key=lambda f: f[0])[2]
    above = [f for f in fragments if y1 < f[1] <= y1 + 2 * height + 6 and x0 - 10 <= f[0] <= x1]
    if above:
        return min(above, key=lambda f: f[1])[2]
    return None


def _with_values(text: str, fields: list[_Field], fragments: list[tuple[float, float, str]]) -> str:
    """``text`` with each field's value after its label (or appended with its name)."""
    lines = text.split("\n")
    searched_to: dict[int, int] = {}  # line -> where the next search in it starts (after a value put there)
    extra: list[str] = []
    for field in sorted(fields, key=lambda f: (-f.rect[1], f.rect[0])):
        # a radio button's own label is one of the choices: the group's name says what was chosen
        label = field.label if field.kind == "radio" else _label(field, fields, fragments)
        spot = _find(lines, label, searched_to) if label else None
        if spot is None:
            extra.append(f"{field.label or label or 'Field'}: {field.value}")
            continue
        n, end = spot
        insert = ("" if label.endswith(":") else ":") + " " + field.value
        lines[n] = lines[n][:end] + insert + lines[n][end:]
        searched_to[n] = end + len(insert)
    return "\n".join(lines + extra)


def _find(lines: list[str], label: str, searched_to: dict[int, int]) -> tuple[int, int] | None:
    """(line, end of the label) of the label's first free place: a line that starts with it, else anywhere."""
    for starts in (True, False):
        for n, line in enumerate(lines):
            at = line.find(label, searched_to.get(n, 0))
            if at >= 0 and (not starts or not line[:at].strip()):
                return n, at + len(label)
    return None
