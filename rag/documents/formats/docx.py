"""DOCX -> canonical Markdown: everything Word shows, walked in document order.

python-docx opens the package; the WordprocessingML tree (lxml) is then walked
element by element rather than through python-docx's paragraph list, which
skips whatever is wrapped in something else:

- content controls (``w:sdt``: cover pages, form fields) are walked into; one
  that still shows its placeholder prompt adds nothing;
- tracked changes read as Word shows the final text: insertions (``w:ins``,
  ``w:moveTo``) are kept, deletions (``w:del``, ``w:moveFrom``) dropped; hidden
  text (``w:vanish``) and field instructions (``PAGE``, ``HYPERLINK ...``) are
  not text, field results are;
- text boxes (DrawingML ``wps:txbx`` or VML ``v:textbox``; of a drawing with
  both, only the first choice) follow the paragraph that anchors them;
- tables become Markdown tables whose first row is the header; a table nested
  in a cell is flattened into that cell (``a / b; c / d``);
- footnotes and endnotes: the reference becomes ``[^n]`` and the note's text
  follows its paragraph as ``[^n]: ...``;
- headers and footers: each distinct one once (not once per section), headers
  before the body and footers after it;
- headings: a paragraph's outline level (``w:outlineLvl``, on the paragraph or
  its style) or a heading style (``Heading 2``, ``Title``; localized or custom
  styles found through their ``w:basedOn`` chain) becomes a ``#`` heading;
  numbered or bulleted paragraphs become ``- `` list items, indented by level.

Comments, equations' layout, charts, SmartArt and embedded objects are not read.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rag.documents.formats import Page, Parsed
from rag.documents.formats.canonical import escape_text, heading, table
from rag.documents.formats.package import check_package
from rag.documents.normalize import normalize_text
from rag.errors import LoadError

__all__ = ["parse_docx"]

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
M = "http://schemas.openxmlformats.org/officeDocument/2006/math"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _w(tag: str) -> str:
    return f"{{{W}}}{tag}"


# elements walked into, as if they were not there
_WRAPPERS = {_w(t) for t in ("hyperlink", "smartTag", "customXml", "fldSimple", "ins", "moveTo", "bdo", "dir", "sdtContent")}
_DROPPED = {_w(t) for t in ("del", "moveFrom", "delText", "instrText", "delInstrText", "commentReference")}
_HEADING_NAME = re.compile(
    r"(?:heading|berschrift|überschrift|titre|título|titulo|titolo|kop|başlık|baslik|rubrik|overskrift|otsikko|nagłówek|заголовок|标题|見出し)\s*(\d)",
    re.I,
)
_TRUE = {None, "1", "true", "on"}


@dataclass
class _Style:
    name: str
    based_on: str | None
    outline: int | None  # w:outlineLvl (0 = level 1)
    numbered: bool


@dataclass
class _Paragraph:
    text: list[str] = field(default_factory=list)
    boxes: list[Any] = field(default_factory=list)  # w:txbxContent elements anchored here
    notes: list[str] = field(default_factory=list)  # "[^n]: text" lines for the notes referenced here


def parse_docx(data: bytes, stem: str) -> Parsed:
    """Canonical Markdown of a DOCX file (see the module docstring)."""
    check_package(data, "DOCX", "Word")
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as err:  # python-docx raises KeyError, ValueError, lxml errors...
        raise LoadError(f"not a readable DOCX ({type(err).__name__})") from err
    walker = _Walker(document)
    lines = walker.body(document.element.body)
    text = "\n".join(lines).strip("\n") + "\n"
    title = normalize_text(_core_title(document)).strip()
    return Parsed(title or walker.first_heading or stem, (Page(text),), "markdown")


class _Walker:
    def __init__(self, document: Any) -> None:
        self.part = document.part
        self.styles, self.default_style = _styles(document)
        self.notes = {kind: _notes(self.part, kind) for kind in ("footnotes", "endnotes")}
        self.note_numbers: dict[tuple[str, str], int] = {}
        self.headings: list[tuple[int, str]] = []
        self._levels: dict[str | None, int | None] = {}

    @property
    def first_heading(self) -> str:
        return next((t for level, t in self.headings if level == 1), next((t for _, t in self.headings), ""))

    # ------------------------------------------------------------ document parts

    def body(self, body: Any) -> list[str]:
        headers, footers = self._headers_and_footers(body)
        out: list[str] = []
        seen: set[str] = set()
        for part in headers:
            out.extend(self._once(self.blocks(part), seen))
        out.extend(self.blocks(body))
        for part in footers:
            out.extend(self._once(self.blocks(part), seen))
        return out

    @staticmethod
    def _once(lines: list[str], seen: set[str]) -> list[str]:
        kept = []
        for line in lines:
            if line.strip() and line in seen:
                continue
            seen.add(line)
            kept.append(line)
        return kept

    def _headers_and_footers(self, body: Any) -> tuple[list[Any], list[Any]]:
        """The header and footer XML roots in the order sections refer to them, each part once."""
        found: dict[str, list[Any]] = {"headerReference": [], "footerReference": []}
        parts_seen: set[str] = set()
        for sect in body.iter(_w("sectPr")):
            for ref in sect:
                kind = ref.tag.rsplit("}", 1)[-1]
                if kind not in found:
                    continue
                rel = self.part.rels.get(ref.get(f"{{{R}}}id"))
                if rel is None or rel.is_external:
                    continue
                part = rel.target_part
                if str(part.partname) in parts_seen:
                    continue
                parts_seen.add(str(part.partname))
                found[kind].append(_root(part))
        return [p for p in found["headerReference"] if p is not None], [p for p in found["footerReference"] if p is not None]

    # ------------------------------------------------------------ blocks

    def blocks(self, parent: Any) -> list[str]:
        out: list[str] = []
        for el in _children(parent):
            tag = el.tag
            if tag == _w("p"):
                out.extend(self.paragraph(el))
            elif tag == _w("tbl"):
                out.extend(["", *self.table(el), ""])
        return out

    def paragraph(self, p: Any) -> list[str]:
        para = _Paragraph()
        self._inline(p, para)
        text = normalize_text("".join(para.text)).replace("\t", " ")
        text = "\n".join(line.strip() for line in text.split("\n")).strip("\n")
        out: list[str] = []
        if text.strip():
            level, list_level = self._kind(p)
            if level:
                words = " ".join(text.split())
                self.headings.append((level, words))
                out.extend(["", heading(level, words), ""])
            elif list_level is not None:
                indent = "  " * list_level
                first, *rest = escape_text(text).split("\n")
                out.append(f"{indent}- {first}")
                out.extend(f"{indent}  {line}" for line in rest if line.strip())
            else:
                out.extend([escape_text(text), ""])
        for note in para.notes:
            out.extend([escape_text(note), ""])
        for box in para.boxes:
            out.extend(["", *self.blocks(box), ""])
        return out

    def table(self, tbl: Any) -> list[str]:
        rows: list[list[str]] = []
        notes: list[str] = []
        for tr in _children(tbl):
            if tr.tag != _w("tr") or _deleted_row(tr):
                continue
            cells: list[str] = []
            for tc in _children(tr):
                if tc.tag != _w("tc"):
                    continue
                props = tc.find(_w("tcPr"))
                span, merged = 1, False
                if props is not None:
                    grid = props.find(_w("gridSpan"))
                    span = _int(grid.get(_w("val")) if grid is not None else None, 1)
                    vmerge = props.find(_w("vMerge"))
                    merged = vmerge is not None and vmerge.get(_w("val")) != "restart"
                cells.append("" if merged else self._cell_text(tc, notes))
                cells.extend([""] * (min(span, 64) - 1))
            rows.append(cells)
        return table(rows) + [line for note in notes for line in ("", escape_text(note))]

    def _cell_text(self, parent: Any, notes: list[str]) -> str:
        parts: list[str] = []
        for el in _children(parent):
            if el.tag == _w("p"):
                para = _Paragraph()
                self._inline(el, para)
                parts.append(normalize_text("".join(para.text)))
                notes.extend(para.notes)
                parts.extend(self._cell_text(box, notes) for box in para.boxes)
            elif el.tag == _w("tbl"):
                rows = []
                for tr in _children(el):
                    if tr.tag == _w("tr") and not _deleted_row(tr):
                        cells = [self._cell_text(tc, notes) for tc in _children(tr) if tc.tag == _w("tc")]
                        rows.append(" / ".join(c for c in cells if c))
                parts.append("; ".join(r for r in rows if r))
        return " ".join(" ".join(parts).split())

    # ------------------------------------------------------------ runs

    def _inline(self, parent: Any, para: _Paragraph) -> None:
        for el in _children(parent):
            tag = el.tag
            if tag == _w("r"):
                self._run(el, para)
            elif tag == f"{{{M}}}oMath" or tag == f"{{{M}}}oMathPara":
                para.text.append("".join(t.text or "" for t in el.iter(f"{{{M}}}t")))

    def _run(self, run: Any, para: _Paragraph) -> None:
        props = run.find(_w("rPr"))
        if props is not None:
            vanish = props.find(_w("vanish"))
            if vanish is not None and vanish.get(_w("val")) in _TRUE:
                return
        for el in _children(run):
            tag = el.tag
            if tag == _w("t"):
                para.text.append(el.text or "")
            elif tag in (_w("tab"), _w("ptab")):
                para.text.append("\t")
            elif tag in (_w("br"), _w("cr")):
                para.text.append("\n")
            elif tag == _w("noBreakHyphen"):
                para.text.append("-")
            elif tag == _w("softHyphen"):
                para.text.append("\u00ad")
            elif tag == _w("sym"):
                code = _int(el.get(_w("char")), 0, base=16)
                if code and not 0xE000 <= code <= 0xF8FF:  # symbol-font glyphs in the private use area mean nothing
                    para.text.append(chr(code))
            elif tag in (_w("footnoteReference"), _w("endnoteReference")):
                self._note(el, "footnotes" if tag == _w("footnoteReference") else "endnotes", para)
            elif tag in (_w("drawing"), _w("pict"), _w("object")):
                para.boxes.extend(_text_boxes(el))

    def _note(self, ref: Any, kind: str, para: _Paragraph) -> None:
        note = self.notes[kind].get(ref.get(_w("id")) or "")
        if note is None:
            return
        key = (kind, ref.get(_w("id")) or "")
        number = self.note_numbers.setdefault(key, len(self.note_numbers) + 1)
        para.text.append(f"[^{number}]")
        inner = _Paragraph()
        for p in note.iter(_w("p")):
            self._inline(p, inner)
            inner.text.append(" ")
        text = " ".join(normalize_text("".join(inner.text)).split())
        if text:
            para.notes.append(f"[^{number}]: {text}")

    # ------------------------------------------------------------ styles

    def _kind(self, p: Any) -> tuple[int, int | None]:
        """(heading level or 0, list level or None) of a paragraph."""
        props = p.find(_w("pPr"))
        style_id = self.default_style
        list_level: int | None = None
        if props is not None:
            outline = props.find(_w("outlineLvl"))
            level = _int(outline.get(_w("val")) if outline is not None else None, 9)
            if level < 9:
                return min(level + 1, 6), None
            style = props.find(_w("pStyle"))
            if style is not None:
                style_id = style.get(_w("val"))
            numbering = props.find(_w("numPr"))
            if numbering is not None:
                num = numbering.find(_w("numId"))
                if num is None or num.get(_w("val")) != "0":
                    ilvl = numbering.find(_w("ilvl"))
                    list_level = _int(ilvl.get(_w("val")) if ilvl is not None else None, 0)
        level = self._style_level(style_id)
        if level:
            return level, None
        if list_level is None and self._style_is_list(style_id):
            list_level = 0
        return 0, list_level

    def _style_level(self, style_id: str | None) -> int:
        if style_id in self._levels:
            return self._levels[style_id] or 0
        level = 0
        seen: set[str] = set()
        current = style_id
        while current and current in self.styles and current not in seen:
            seen.add(current)
            style = self.styles[current]
            if style.outline is not None:
                level = min(style.outline + 1, 6) if style.outline < 9 else 0
                break
            name = style.name.strip().lower()
            if name == "title":
                level = 1
                break
            m = _HEADING_NAME.fullmatch(name) or _HEADING_NAME.fullmatch(current)
            if m:
                level = min(max(int(m.group(1)), 1), 6)
                break
            current = style.based_on
        self._levels[style_id] = level
        return level

    def _style_is_list(self, style_id: str | None) -> bool:
        seen: set[str] = set()
        current = style_id
        while current and current in self.styles and current not in seen:
            seen.add(current)
            style = self.styles[current]
            if style.numbered or "list" in style.name.lower():
                return True
            current = style.based_on
        return False


# ---------------------------------------------------------------- helpers


def _children(parent: Any) -> Iterator[Any]:
    """Child elements in document order, through wrappers, without deleted or alternate content."""
    for el in parent:
        tag = el.tag
        if not isinstance(tag, str) or tag in _DROPPED:
            continue
        if tag == _w("sdt"):
            props = el.find(_w("sdtPr"))
            if props is not None and props.find(_w("showingPlcHdr")) is not None:
                continue
            content = el.find(_w("sdtContent"))
            if content is not None:
                yield from _children(content)
        elif tag in _WRAPPERS:
            yield from _children(el)
        elif tag == f"{{{MC}}}AlternateContent":
            choice = el.find(f"{{{MC}}}Choice")
            chosen = choice if choice is not None else el.find(f"{{{MC}}}Fallback")
            if chosen is not None:
                yield from _children(chosen)
        else:
            yield el


def _text_boxes(drawing: Any) -> list[Any]:
    """The outermost text boxes of a drawing (a nested one is walked with its box), first choices only."""
    boxes = []
    for box in drawing.iter(_w("txbxContent")):
        node = box.getparent()
        while node is not None and node is not drawing and node.tag not in (_w("txbxContent"), f"{{{MC}}}Fallback"):
            node = node.getparent()
        if node is drawing:
            boxes.append(box)
    return boxes


def _deleted_row(tr: Any) -> bool:
    props = tr.find(_w("trPr"))
    return props is not None and props.find(_w("del")) is not None


def _int(value: str | None, default: int, base: int = 10) -> int:
    try:
        return int(value, base) if value is not None else default
    except ValueError:
        return default


def _root(part: Any) -> Any:
    element = getattr(part, "element", None)
    if element is not None:
        return element
    from docx.oxml.parser import parse_xml

    return parse_xml(part.blob)


def _notes(part: Any, kind: str) -> dict[str, Any]:
    """Footnotes or endnotes by id (separators left out)."""
    from docx.opc.constants import RELATIONSHIP_TYPE as RT

    reltype = RT.FOOTNOTES if kind == "footnotes" else RT.ENDNOTES
    for rel in part.rels.values():
        if rel.reltype == reltype and not rel.is_external:
            root = _root(rel.target_part)
            return {n.get(_w("id")): n for n in root if n.tag == _w(kind[:-1]) and n.get(_w("type")) in (None, "normal")}
    return {}


def _core_title(document: Any) -> str:
    """The title in the file's core properties ("" without them: python-docx would make up "Word Document")."""
    from docx.opc.constants import RELATIONSHIP_TYPE as RT

    if not any(rel.reltype == RT.CORE_PROPERTIES for rel in document.part.package.rels.values()):
        return ""
    return document.core_properties.title or ""


def _styles(document: Any) -> tuple[dict[str, _Style], str | None]:
    """Paragraph styles by id, and the id of the default paragraph style."""
    try:
        root = document.styles.element
    except Exception:  # no styles part: python-docx may still fail to make its default
        return {}, None
    styles: dict[str, _Style] = {}
    default = None
    for el in root.iter(_w("style")):
        if el.get(_w("type")) not in (None, "paragraph"):
            continue
        style_id = el.get(_w("styleId")) or ""
        name_el, based_el = el.find(_w("name")), el.find(_w("basedOn"))
        props = el.find(_w("pPr"))
        outline = props.find(_w("outlineLvl")) if props is not None else None
        styles[style_id] = _Style(
            name=name_el.get(_w("val")) or "" if name_el is not None else "",
            based_on=based_el.get(_w("val")) if based_el is not None else None,
            outline=_int(outline.get(_w("val")), 9) if outline is not None else None,
            numbered=props is not None and props.find(_w("numPr")) is not None,
        )
        if el.get(_w("default")) in ("1", "true", "on"):
            default = style_id
    return styles, default
