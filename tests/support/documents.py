"""Builders for real test documents of every format, made in memory.

PDF files are written by hand (pypdf cannot add text): objects, an xref table
whose offsets are the objects' byte positions, a trailer. Text is shown in
Helvetica whose encoding maps a few byte codes to chosen glyph names
(``GLYPHS``: the ligatures ``ﬁ ﬂ ﬃ`` and invisible or odd characters), as
typesetting programs do. Pages can carry AcroForm widgets.

DOCX packages are zipped from WordprocessingML written here, so a test can
hold any construct Word writes (content controls, tracked changes, text
boxes, notes) without python-docx having an API for it. PPTX and XLSX files
are made with python-pptx and openpyxl.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field

# character -> (byte code in the font's encoding, glyph name)
GLYPHS = {
    "ﬁ": (1, "/fi"),
    "ﬂ": (2, "/fl"),
    "ﬃ": (3, "/ffi"),
    "\u00ad": (4, "/uni00AD"),
    "\u200b": (5, "/uni200B"),
    "\u00a0": (6, "/uni00A0"),
    "\u2010": (7, "/uni2010"),
    "\u0300": (8, "/uni0300"),
    "Ｆ": (14, "/uniFF26"),
    "Ｕ": (15, "/uniFF35"),
    "Ｌ": (16, "/uniFF2C"),
}


def pdf_string(text: str) -> str:
    """A PDF literal string for ``text`` in the test font's encoding."""
    out = []
    for ch in text:
        if ch in GLYPHS:
            out.append(f"\\{GLYPHS[ch][0]:03o}")
        elif ch in "()\\":
            out.append("\\" + ch)
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append(f"\\{ch.encode('cp1252'):03o}" if len(ch.encode("cp1252", "ignore")) == 1 else "?")
    return "(" + "".join(out) + ")"


@dataclass
class PdfPage:
    lines: Sequence[str]  # shown from the top (y=740), 16 points apart, at x=72
    widgets: Sequence[str] = ()  # widget annotation dictionaries, PDF syntax ("<< ... >>")
    extra: Sequence[tuple[float, float, str]] = ()  # (x, y, text) shown at a position


@dataclass
class _Objects:
    bodies: list[str] = field(default_factory=list)

    def add(self, body: str) -> int:
        self.bodies.append(body)
        return len(self.bodies)


def build_pdf(pages: Sequence[PdfPage], form_fields: Sequence[str] = (), title: str | None = None) -> bytes:
    """A PDF 1.4 with one page per ``PdfPage``.

    ``form_fields`` are extra field dictionaries (parents of widgets, e.g. a
    radio group) listed in the AcroForm. A widget or field may refer to another
    object as ``{obj:N}`` (the N-th of ``form_fields``, 0-based) or to its page
    as ``{page}``; widgets are listed both on their page and in the AcroForm.
    """
    objs = _Objects()
    catalog = objs.add("")  # filled in at the end
    pages_obj = objs.add("")
    font = objs.add(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding << /Type /Encoding"
        " /BaseEncoding /WinAnsiEncoding /Differences ["
        + " ".join(f"{code} {name}" for code, name in GLYPHS.values())
        + "] >> >>"
    )
    field_ids = [objs.add("") for _ in form_fields]
    page_ids, widget_ids = [], []
    for page in pages:
        shown = " ".join(f"{pdf_string(line)} Tj T*" for line in page.lines)
        placed = " ".join(f"BT /F1 12 Tf {x} {y} Td {pdf_string(t)} Tj ET" for x, y, t in page.extra)
        content = f"BT /F1 12 Tf 72 740 Td 16 TL {shown} ET {placed}"
        stream = objs.add(f"<< /Length {len(content.encode('latin-1'))} >>\nstream\n{content}\nendstream")
        page_id = objs.add("")
        ids = []
        for widget in page.widgets:
            ids.append(objs.add(_refs(widget, field_ids, page_id)))
        widget_ids.extend(ids)
        annots = f" /Annots [{' '.join(f'{i} 0 R' for i in ids)}]" if ids else ""
        objs.bodies[page_id - 1] = (
            f"<< /Type /Page /Parent {pages_obj} 0 R /MediaBox [0 0 612 792] /Contents {stream} 0 R"
            f" /Resources << /Font << /F1 {font} 0 R >> >>{annots} >>"
        )
        page_ids.append(page_id)
    for fid, body in zip(field_ids, form_fields):
        objs.bodies[fid - 1] = _refs(body, field_ids, page_ids[0])
    objs.bodies[pages_obj - 1] = f"<< /Type /Pages /Kids [{' '.join(f'{p} 0 R' for p in page_ids)}] /Count {len(page_ids)} >>"
    top_fields = [f"{i} 0 R" for i in field_ids] + [
        f"{w} 0 R" for w in widget_ids if "/Parent" not in objs.bodies[w - 1]
    ]
    acro = f" /AcroForm << /Fields [{' '.join(top_fields)}] /DA (/Helv 10 Tf 0 g) >>" if top_fields else ""
    objs.bodies[catalog - 1] = f"<< /Type /Catalog /Pages {pages_obj} 0 R{acro} >>"
    info = objs.add(f"<< /Title <FEFF{title.encode('utf-16-be').hex()}> >>") if title else None
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objs.bodies, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objs.bodies) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    info_ref = f" /Info {info} 0 R" if info else ""
    out += f"trailer\n<< /Size {len(objs.bodies) + 1} /Root {catalog} 0 R{info_ref} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _refs(body: str, field_ids: list[int], page_id: int) -> str:
    for n, fid in enumerate(field_ids):
        body = body.replace(f"{{obj:{n}}}", f"{fid} 0 R")
    return body.replace("{page}", f"{page_id} 0 R")


def text_widget(name: str, rect: tuple[float, float, float, float], value: str | None, extra: str = "", flags: int = 4) -> str:
    """A text field's widget (``flags``: the annotation's /F, 4 = print, 2 = hidden)."""
    value_part = f" /V <FEFF{value.encode('utf-16-be').hex()}>" if value is not None else ""
    x0, y0, x1, y1 = rect
    return f"<< /Type /Annot /Subtype /Widget /FT /Tx /T ({name}){value_part} /Rect [{x0} {y0} {x1} {y1}] /F {flags} /P {{page}}{extra} >>"


# ---------------------------------------------------------------- DOCX

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_NAMESPACES = (
    f'xmlns:w="{W_NS}" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
    'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
    'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
    'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
    'xmlns:v="urn:schemas-microsoft-com:vml" '
    'xmlns:m="http://schemas.openxmlformats.org/officeDocument/2006/math" '
    'mc:Ignorable=""'
)
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CT_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml"

DEFAULT_STYLES = """
<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style>
<w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/><w:basedOn w:val="Normal"/></w:style>
<w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/><w:basedOn w:val="Normal"/><w:pPr><w:outlineLvl w:val="0"/></w:pPr></w:style>
<w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/><w:basedOn w:val="Normal"/><w:pPr><w:outlineLvl w:val="1"/></w:pPr></w:style>
<w:style w:type="paragraph" w:styleId="ListBullet"><w:name w:val="List Bullet"/><w:basedOn w:val="Normal"/></w:style>
"""


def p(text: str, style: str | None = None, extra_ppr: str = "") -> str:
    """A paragraph with one run of ``text`` (XML special characters escaped)."""
    ppr = f'<w:pStyle w:val="{style}"/>' if style else ""
    return f"<w:p><w:pPr>{ppr}{extra_ppr}</w:pPr>{run(text)}</w:p>"


def run(text: str) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<w:r><w:t xml:space="preserve">{escaped}</w:t></w:r>'


def tbl(rows: Sequence[Sequence[str]]) -> str:
    """A table; each cell is a string of block XML, or plain text (made a paragraph)."""
    out = ["<w:tbl><w:tblPr/>"]
    for row in rows:
        out.append("<w:tr>")
        for cell in row:
            inner = cell if cell.startswith("<") else p(cell)
            out.append(f"<w:tc><w:tcPr/>{inner}</w:tc>")
        out.append("</w:tr>")
    out.append("</w:tbl>")
    return "".join(out)


def build_docx(
    body: str,
    styles: str = DEFAULT_STYLES,
    headers: Sequence[str] = (),
    footers: Sequence[str] = (),
    footnotes: dict[int, str] | None = None,
    sections: int = 1,
    title: str | None = None,
) -> bytes:
    """A DOCX whose body is ``body`` (block XML). Each of ``headers``/``footers``
    (block XML) is a part that every one of ``sections`` sections refers to."""
    rels = [("rIdStyles", "styles", "styles.xml")]
    overrides = [("/word/document.xml", f"{_CT_MAIN}.document.main+xml"), ("/word/styles.xml", f"{_CT_MAIN}.styles+xml")]
    parts = {"word/styles.xml": f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:styles {_NAMESPACES}>{styles}</w:styles>'}
    refs = []
    for kind, items in (("header", headers), ("footer", footers)):
        for n, xml in enumerate(items, 1):
            rid = f"rId{kind}{n}"
            rels.append((rid, kind, f"{kind}{n}.xml"))
            overrides.append((f"/word/{kind}{n}.xml", f"{_CT_MAIN}.{kind}+xml"))
            tag = "hdr" if kind == "header" else "ftr"
            parts[f"word/{kind}{n}.xml"] = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:{tag} {_NAMESPACES}>{xml}</w:{tag}>'
            refs.append(f'<w:{kind}Reference w:type="{"default" if n == 1 else "first"}" r:id="{rid}"/>')
    if footnotes:
        rels.append(("rIdFootnotes", "footnotes", "footnotes.xml"))
        overrides.append(("/word/footnotes.xml", f"{_CT_MAIN}.footnotes+xml"))
        notes = '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
        notes += "".join(f'<w:footnote w:id="{n}">{p(text)}</w:footnote>' for n, text in footnotes.items())
        parts["word/footnotes.xml"] = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:footnotes {_NAMESPACES}>{notes}</w:footnotes>'
    sect = f"<w:sectPr>{''.join(refs)}</w:sectPr>"
    section_breaks = "".join(f"<w:p><w:pPr>{sect}</w:pPr></w:p>" for _ in range(sections - 1))
    document = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {_NAMESPACES}><w:body>{body}{section_breaks}{sect}</w:body></w:document>'
    core = ""
    if title is not None:
        core = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><cp:coreProperties '
            'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            f'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title></cp:coreProperties>'
        )
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        + "".join(f'<Override PartName="{name}" ContentType="{ct}"/>' for name, ct in overrides)
        + ('<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>' if core else "")
        + "</Types>"
    )
    package_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="word/document.xml"/>'
        + (
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'
            if core
            else ""
        )
        + "</Relationships>"
    )
    document_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(f'<Relationship Id="{rid}" Type="{_REL}/{kind}" Target="{target}"/>' for rid, kind, target in rels)
        + "</Relationships>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", content_types)
        zf.writestr("_rels/.rels", package_rels)
        zf.writestr("word/document.xml", document)
        zf.writestr("word/_rels/document.xml.rels", document_rels)
        for name, xml in parts.items():
            zf.writestr(name, xml)
        if core:
            zf.writestr("docProps/core.xml", core)
    return buffer.getvalue()


# ---------------------------------------------------------------- PPTX and XLSX


def build_pptx(slides: Sequence[dict], title: str | None = None) -> bytes:
    """A deck; each slide dict may hold ``title``, ``bullets`` [(level, text)],
    ``box`` (a text box), ``table`` (rows), ``notes``, ``group`` (texts in a group shape)."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    for spec in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1 if "bullets" in spec else 5])
        if spec.get("title") is not None and slide.shapes.title is not None:
            slide.shapes.title.text = spec["title"]
        if "bullets" in spec:
            body = slide.placeholders[1].text_frame
            for n, (level, text) in enumerate(spec["bullets"]):
                para = body.paragraphs[0] if n == 0 else body.add_paragraph()
                para.text, para.level = text, level
        if "box" in spec:
            slide.shapes.add_textbox(Inches(1), Inches(5), Inches(6), Inches(1)).text_frame.text = spec["box"]
        if "table" in spec:
            rows = spec["table"]
            shape = slide.shapes.add_table(len(rows), len(rows[0]), Inches(1), Inches(2), Inches(6), Inches(2))
            for r, row in enumerate(rows):
                for c, text in enumerate(row):
                    shape.table.cell(r, c).text = text
        if "group" in spec:
            group = slide.shapes.add_group_shape()
            for n, text in enumerate(spec["group"]):
                group.shapes.add_textbox(Inches(1), Inches(6 + n * 0.3), Inches(3), Inches(0.3)).text_frame.text = text
        if "notes" in spec:
            slide.notes_slide.notes_text_frame.text = spec["notes"]
    if title:
        deck.core_properties.title = title
    buffer = io.BytesIO()
    deck.save(buffer)
    return buffer.getvalue()


def build_xlsx(sheets: dict[str, Sequence[Sequence[object]]], hidden: Sequence[str] = ()) -> bytes:
    """A workbook with one sheet per entry (rows of values), some hidden."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
        if name in hidden:
            sheet.sheet_state = "hidden"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
