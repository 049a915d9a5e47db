"""File formats -> canonical Markdown pages: one parser module per format family.

``rag.documents.loading`` walks folders, decodes text, normalizes it and dispatches on the
suffix; the modules here turn one file's content into a ``Parsed`` (title, pages,
markup) and know nothing about folders, sizes or settings:

- ``markdown`` (CommonMark through markdown-it-py, front matter) and ``rst``;
- ``html`` (markdownify);
- ``pdf`` (pypdf: text, form field values, hyphenation, running headers);
- ``docx`` (python-docx's XML tree, walked in document order);
- ``slides`` (.pptx, python-pptx) and ``sheets`` (.xlsx with openpyxl, .csv);
- ``canonical``: the line shapes all of them emit and the chunker reads.

A parser raises ``rag.errors.LoadError`` for a file it can say something useful
about; anything else it raises is turned into a skip reason by ``rag.documents.loading``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Page", "Parsed"]


@dataclass(frozen=True)
class Page:
    """Canonical Markdown (or plain) text of one page.

    ``number`` is the page of a PDF or the slide of a PPTX (1-based), else None.
    """

    text: str
    number: int | None = None


@dataclass(frozen=True)
class Parsed:
    """What a format parser returns: the title it found ("" if none), pages, and
    ``markup``: "markdown" (canonical Markdown, see ``canonical``) or "plain"."""

    title: str
    pages: tuple[Page, ...]
    markup: str
