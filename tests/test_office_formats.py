"""PPTX, XLSX and CSV: slides are pages with their titles as headings, sheets are tables.

Decks are made with python-pptx, workbooks with openpyxl (``documents``), CSV
as bytes. A long table is chunked with its header row at the top of every
chunk, so a row found alone still says what its columns are.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from rag.documents.chunking import ChunkConfig, chunk_document
from rag.documents.formats.canonical import match_heading
from rag.documents.loading import load_bytes
from rag.documents.tokens import count_tokens
from rag.errors import LoadError
from rag.search.index import open_index
from rag.search.retrieval import search
from tests.conftest import SMALL_DOCS
from tests.support.documents import build_pptx, build_xlsx

# ---------------------------------------------------------------- PPTX


def test_slides_are_pages_with_their_title_as_heading_and_everything_on_them() -> None:
    deck = build_pptx(
        [
            {"title": "Quarterly review", "bullets": [(0, "Revenue grew 12 percent"), (1, "Mostly in the harbour region")]},
            {"title": "Open risks", "table": [["Risk", "Owner"], ["Crane downtime", "Ops"]], "notes": "Mention the crane vendor call on Friday."},
            {"title": None, "box": "A slide without a title", "group": ["Grouped label one", "Grouped label two"]},
        ],
        title="Q3 deck",
    )
    doc = load_bytes("review.pptx", deck)
    assert doc.title == "Q3 deck"
    assert [p.number for p in doc.pages] == [1, 2, 3]
    first, second, third = (p.text.split("\n") for p in doc.pages)
    assert first[0] == "# Quarterly review"
    assert "- Revenue grew 12 percent" in first and "  - Mostly in the harbour region" in first
    assert second[0] == "# Open risks"
    assert "| Risk | Owner |" in second and "| Crane downtime | Ops |" in second
    assert "Speaker notes: Mention the crane vendor call on Friday." in second
    assert third[0] == "# Slide 3"
    assert "A slide without a title" in third and "Grouped label one" in third and "Grouped label two" in third
    chunks = chunk_document(doc, count_tokens, ChunkConfig())
    notes = next(c for c in chunks if "crane vendor" in c.text)
    assert (notes.heading, notes.page) == (("Open risks",), 2)


def test_a_deck_without_core_properties_is_titled_by_its_first_slide() -> None:
    assert load_bytes("d.pptx", build_pptx([{"title": "Kick-off"}])).title == "Kick-off"


# ---------------------------------------------------------------- XLSX


def test_each_visible_sheet_is_a_section_with_its_rows_as_a_table() -> None:
    book = build_xlsx(
        {
            "Inventory": [
                ["Host", "Port", "Since", "Active"],
                ["gw1", 8080.0, dt.datetime(2025, 3, 1), True],
                [None, None, None, None],
                ["gw2", 8443, dt.datetime(2025, 4, 2, 13, 30), False],
            ],
            "Owners": [[None, "Team", None, "Email"], [None, "Ops", None, "ops@example.com"]],
            "Secret": [["Key"], ["do-not-index-this"]],
        },
        hidden=["Secret"],
    )
    doc = load_bytes("inventory.xlsx", book)
    text = doc.pages[0].text
    lines = text.split("\n")
    assert [h for h in map(match_heading, lines) if h] == [(1, "Inventory"), (1, "Owners")]
    assert "| Host | Port | Since | Active |" in lines and "| --- | --- | --- | --- |" in lines
    assert "| gw1 | 8080 | 2025-03-01 | TRUE |" in lines  # whole numbers without .0, dates as dates
    assert "| gw2 | 8443 | 2025-04-02 13:30:00 | FALSE |" in lines
    assert "| Team | Email |" in lines  # empty columns dropped
    assert "do-not-index-this" not in text  # hidden sheet


def test_a_long_sheet_repeats_its_header_row_in_every_chunk() -> None:
    rows = [["Badge", "Holder", "Floor"]] + [[f"B-{n:04d}", f"Employee number {n}", f"Floor {n % 9}"] for n in range(400)]
    doc = load_bytes("badges.xlsx", build_xlsx({"Badges": rows}))
    chunks = chunk_document(doc, count_tokens, ChunkConfig(target=120, overlap=15))
    assert len(chunks) > 10
    for chunk in chunks:
        body = chunk.text.split("\n\n", 1)[-1]
        assert body.startswith("| Badge | Holder | Floor |\n| --- | --- | --- |\n| B-"), body[:80]
        assert chunk.tokens <= 120
    found = {line for c in chunks for line in c.text.split("\n")}
    assert all(f"| B-{n:04d} | Employee number {n} | Floor {n % 9} |" in found for n in range(400))


def test_a_found_row_comes_with_its_header(tmp_path: Path, write_files) -> None:
    rows = [["Badge", "Holder", "Floor"]] + [[f"B-{n:04d}", f"Employee number {n}", f"Floor {n % 9}"] for n in range(400)]
    docs = write_files(tmp_path / "docs", SMALL_DOCS)
    (docs / "badges.xlsx").write_bytes(build_xlsx({"Badges": rows}))
    index, report = open_index(docs, None)
    assert report.skipped == []
    hit = search(index, "B-0377", 3).hits[0]
    assert hit.source == "badges.xlsx" and "| B-0377 | Employee number 377 | Floor 8 |" in hit.text
    assert hit.text.split("\n\n")[-1].startswith("| Badge | Holder | Floor |")


# ---------------------------------------------------------------- CSV


@pytest.mark.parametrize(
    ("data", "row"),
    [
        pytest.param(b"host,port,owner\ngw1,8080,\"Ops, night shift\"\n", "| gw1 | 8080 | Ops, night shift |", id="comma-and-quotes"),
        pytest.param("ana;liman;sorumlu\nİzmir;3;Çağla\n".encode("cp1254"), "| İzmir | 3 | Çağla |", id="semicolon-cp1254"),
        pytest.param(b"a\tb\n1\t2|3\n", "| 1 | 2\\|3 |", id="tab-and-escaped-pipe"),
    ],
)
def test_csv_rows_become_a_table_with_a_header(data: bytes, row: str) -> None:
    doc = load_bytes("data.csv", data)
    lines = doc.pages[0].text.split("\n")
    assert lines[1].startswith("| --- |")
    assert row in lines
    assert doc.title == "data"


# ---------------------------------------------------------------- broken files say why


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("deck.pptx", b"PK\x03\x04 not really", "not a valid PPTX (it is not a zip archive): re-save it from PowerPoint"),
        ("book.xlsx", b"not a zip at all", "not a valid XLSX (it is not a zip archive): re-save it from Excel"),
        ("table.csv", b"\x00\x01\x02binary", "binary content"),
    ],
)
def test_broken_office_files_are_skipped_with_a_reason(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(LoadError) as info:
        load_bytes(name, data)
    assert reason in info.value.reason
