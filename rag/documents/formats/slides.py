"""PPTX -> canonical Markdown, one page per slide (python-pptx).

Each slide is a page (``Page.number`` is the slide number) that opens with the
slide's title as a ``#`` heading ("Slide 3" for a slide without one). Then, in
reading order (top to bottom, left to right), the text of every shape: body
placeholders as list items indented by their level, other text boxes as
paragraphs, tables as Markdown tables, grouped shapes walked into. The speaker
notes follow as a paragraph that starts with "Speaker notes:". Hidden slides are
read too (the person editing the deck sees them).

Not read: text inside charts, SmartArt and pictures (alt text), and slide
masters' and layouts' own text (footers, logos).
"""

from __future__ import annotations

import io
from typing import Any

from rag.documents.formats import Page, Parsed
from rag.documents.formats.canonical import escape_text, heading, table
from rag.documents.formats.package import check_package
from rag.documents.normalize import normalize_text

__all__ = ["parse_pptx"]


def parse_pptx(data: bytes, stem: str) -> Parsed:
    """One canonical Markdown page per slide of a PPTX file."""
    check_package(data, "PPTX", "PowerPoint")
    from pptx import Presentation

    presentation = Presentation(io.BytesIO(data))
    pages: list[Page] = []
    first_title = ""
    for number, slide in enumerate(presentation.slides, 1):
        title_shape = slide.shapes.title
        title = _clean(title_shape.text_frame.text) if title_shape is not None and title_shape.has_text_frame else ""
        first_title = first_title or title
        lines = [heading(1, " ".join(title.split()) or f"Slide {number}"), ""]
        for shape in _reading_order(slide.shapes):
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            lines.extend(_shape(shape))
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            text = _clean(notes.text) if notes is not None else ""
            if text.strip():
                lines.extend(["", escape_text("Speaker notes: " + text), ""])
        pages.append(Page("\n".join(lines).strip("\n") + "\n", number))
    title = normalize_text(_core_title(presentation)).strip()
    return Parsed(title or first_title or stem, tuple(pages), "markdown")


def _core_title(presentation: Any) -> str:
    """The title in the file's core properties ("" without them: python-pptx would make one up)."""
    from pptx.opc.constants import RELATIONSHIP_TYPE as RT

    if not any(rel.reltype == RT.CORE_PROPERTIES for rel in presentation.part.package._rels.values()):
        return ""
    return presentation.core_properties.title or ""


def _clean(text: str) -> str:
    """Normalized text with PowerPoint's line breaks (vertical tab) as newlines."""
    return normalize_text(text.replace("\v", "\n")).strip()


def _reading_order(shapes: Any) -> list[Any]:
    return sorted(shapes, key=lambda s: ((s.top or 0) // 12700 // 10, s.left or 0))  # rows of 10 points


def _shape(shape: Any) -> list[str]:
    from pptx.enum.shapes import MSO_SHAPE_TYPE, PP_PLACEHOLDER

    if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
        return [line for inner in _reading_order(shape.shapes) for line in _shape(inner)]
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = [[_clean(cell.text) for cell in row.cells] for row in shape.table.rows]
        return ["", *table(rows), ""]
    if not getattr(shape, "has_text_frame", False) or not shape.has_text_frame:
        return []
    bulleted = False
    if shape.is_placeholder:
        try:
            bulleted = shape.placeholder_format.type in (PP_PLACEHOLDER.BODY, PP_PLACEHOLDER.OBJECT)
        except ValueError:  # a placeholder python-pptx cannot classify
            bulleted = False
    lines: list[str] = []
    for paragraph in shape.text_frame.paragraphs:
        text = _clean(paragraph.text)
        if not text:
            continue
        if bulleted:
            first, *rest = escape_text(text).split("\n")
            indent = "  " * max(paragraph.level, 0)
            lines.append(f"{indent}- {first}")
            lines.extend(f"{indent}  {line}" for line in rest)
        else:
            lines.extend([escape_text(text), ""])
    return [*lines, ""]
