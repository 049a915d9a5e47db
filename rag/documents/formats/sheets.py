"""Spreadsheets -> canonical Markdown tables: XLSX (openpyxl) and CSV (the standard library).

A table's first non-empty row is its header row; the chunker repeats it at the
top of every chunk that holds rows of the same table, so a row found alone still
says what its columns are.

- **XLSX**: read-only, with the values Excel last computed (``data_only``: a
  formula's cached result, nothing if the file was never saved by a program that
  computes). Each visible worksheet is a section headed by its name; empty rows
  and columns are dropped. Whole numbers are written without ``.0``, dates as
  ISO dates. Number formats (``25 %``, currency), charts, comments and hidden
  sheets are not read.
- **CSV**: the delimiter (``,`` ``;`` tab ``|``) is sniffed from the start of
  the file; the text was decoded and normalized by ``rag.documents.loading``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence

from rag.documents.formats import Page, Parsed
from rag.documents.formats.canonical import heading, table
from rag.documents.formats.package import check_package
from rag.documents.normalize import normalize_text

__all__ = ["parse_csv", "parse_xlsx"]


def parse_xlsx(data: bytes, stem: str) -> Parsed:
    """One section per visible worksheet of an XLSX file, its rows as a Markdown table."""
    check_package(data, "XLSX", "Excel")
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        lines: list[str] = []
        for sheet in workbook.worksheets:
            if getattr(sheet, "sheet_state", "visible") != "visible":
                continue
            rows = _trimmed([_value(v) for v in row] for row in sheet.iter_rows(values_only=True))
            if rows:
                lines.extend(["", heading(1, normalize_text(sheet.title) or "Sheet"), "", *table(rows), ""])
        title = normalize_text(workbook.properties.title or "").strip() if workbook.properties else ""
    finally:
        workbook.close()
    return Parsed(title or stem, (Page("\n".join(lines).strip("\n") + "\n"),), "markdown")


def parse_csv(text: str, stem: str) -> Parsed:
    """A CSV file's (decoded, normalized) ``text`` as one Markdown table."""
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = _trimmed(csv.reader(io.StringIO(text, newline=""), dialect))
    return Parsed(stem, (Page("\n".join(table(rows)) + "\n"),), "markdown")


def _value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return normalize_text(str(value))


def _trimmed(rows: Iterable[Sequence[str]]) -> list[list[str]]:
    """Rows without the empty ones, and without columns that are empty in every row."""
    kept = [list(row) for row in rows if any(str(c).strip() for c in row)]
    if not kept:
        return []
    width = max(len(r) for r in kept)
    used = [i for i in range(width) if any(i < len(r) and str(r[i]).strip() for r in kept)]
    return [[r[i] if i < len(r) else "" for i in used] for r in kept]
