"""PDF: ligatures, hyphenation, form field values, running headers and footers; pages stay pages.

Every PDF is written here (``documents.build_pdf``): text in Helvetica whose
encoding maps byte codes to the ligature glyphs ``ﬁ ﬂ ﬃ`` as typesetters do,
lines 16 points apart from y=740 at x=72, and AcroForm widgets placed where a
form puts them (right of their label, under it, or beside a check box).
"""

from __future__ import annotations

from pathlib import Path

from rag.documents.chunking import ChunkConfig, chunk_document
from rag.documents.loading import load_bytes
from rag.documents.tokens import count_tokens
from rag.search.index import open_index
from rag.search.retrieval import search
from tests.conftest import SMALL_DOCS
from tests.support.documents import PdfPage, build_pdf, text_widget


def y(line: int) -> float:
    """Baseline of line ``line`` (0-based) of a ``PdfPage``."""
    return 740 - 16 * line


def box(line: int, x0: float = 180, x1: float = 430) -> tuple[float, float, float, float]:
    return (x0, y(line) - 4, x1, y(line) + 12)


def pdf_text(data: bytes) -> list[str]:
    return [p.text for p in load_bytes("form.pdf", data).pages]


# ---------------------------------------------------------------- glyphs and hyphens


def test_ligature_glyphs_are_indexed_as_letters_and_found(tmp_path: Path, write_files) -> None:
    data = build_pdf([PdfPage(["Router setup notes", "To change the ﬁrewall proﬁle, open the admin page.", "Export the rules before a ﬂash update; the ﬃx is ready."])])
    doc = load_bytes("router-notes.pdf", data)
    assert "To change the firewall profile, open the admin page." in doc.pages[0].text
    assert "flash" in doc.pages[0].text and "ffix" in doc.pages[0].text
    assert not any(ch in doc.pages[0].text for ch in "ﬁﬂﬃ")
    docs = write_files(tmp_path / "docs", SMALL_DOCS)
    (docs / "router-notes.pdf").write_bytes(data)
    index, _ = open_index(docs, None)
    hit = search(index, "firewall profile", 1).hits[0]
    assert hit.source == "router-notes.pdf" and "firewall profile" in hit.text


def test_words_hyphenated_across_a_line_break_are_joined() -> None:
    data = build_pdf([PdfPage([
        "Clock synchroni-", "zation uses NTP; soft\u00ad", "hyphens and non\u2010", "breaking ones too.", "Ask Jean-", "Pierre about the well-", "known issue.",
    ])])
    (text,) = pdf_text(data)
    assert "Clock synchronization uses NTP; softhyphens and nonbreaking ones too." in " ".join(text.split("\n"))
    assert "Jean-\nPierre" in text  # the next line starts with a capital: a name, kept as it is
    assert "wellknown" in text  # a compound broken at its own hyphen is joined as well (no dictionary)


# ---------------------------------------------------------------- form fields


def test_filled_text_fields_are_indexed_next_to_their_labels() -> None:
    page = PdfPage(
        ["Visitor registration", "Name:", "Company:", "Host employee:", "Badge colour", "", "Notes:"],
        widgets=[
            text_widget("name", box(1), "Marguerite Oyelaran"),
            text_widget("company", box(2), "Kestrel Logistics"),
            text_widget("host", box(3), "Tomasz Wieczorek"),
            text_widget("badge", box(5, 72, 300), "Green"),  # under its label
            text_widget("notes", box(6), None),  # left empty: nothing invented
        ],
    )
    (text,) = pdf_text(build_pdf([page]))
    lines = text.split("\n")
    assert "Name: Marguerite Oyelaran" in lines
    assert "Company: Kestrel Logistics" in lines
    assert "Host employee: Tomasz Wieczorek" in lines
    assert "Badge colour: Green" in lines
    assert "Notes:" in lines and "notes" not in text


def test_a_value_without_a_printed_label_uses_the_fields_tooltip() -> None:
    page = PdfPage(["Shipping form"], widgets=[text_widget("f12", (300, 100, 500, 116), "Dock 7", extra=" /TU (Loading dock)")])
    (text,) = pdf_text(build_pdf([page]))
    assert text.split("\n")[-1] == "Loading dock: Dock 7"


def test_two_fields_on_one_line_each_get_their_own_label() -> None:
    page = PdfPage(
        ["Date:"],
        widgets=[text_widget("date", box(0, 110, 200), "2026-03-14"), text_widget("room", box(0, 400, 500), "B-204")],
        extra=[(350, y(0), "Room:")],  # the second label is drawn at its own place on the line
    )
    text = " ".join(pdf_text(build_pdf([page]))[0].split("\n"))
    assert "Date: 2026-03-14" in text and "Room: B-204" in text


def test_check_boxes_and_radio_buttons_give_their_chosen_value_only() -> None:
    check = "<< /Type /Annot /Subtype /Widget /FT /Btn /T ({name}) /V /{value} /AS /{value} /Rect [72 {y0} 84 {y1}] /F 4 /P {{page}} >>"
    radio_kid = (
        "<< /Type /Annot /Subtype /Widget /Parent {{obj:0}} /AS /{state} /AP << /N << /{option} 1 0 R /Off 1 0 R >> >>"
        " /Rect [72 {y0} 84 {y1}] /F 4 /P {{page}} >>"
    )
    # boxes at x=72, their labels printed to their right, as forms lay them out
    page = PdfPage(
        ["Options"],
        widgets=[
            check.format(name="parking", value="Yes", y0=y(1) - 2, y1=y(1) + 10),
            check.format(name="late", value="Off", y0=y(2) - 2, y1=y(2) + 10),
            radio_kid.format(state="Off", option="Morning", y0=y(4) - 2, y1=y(4) + 10),
            radio_kid.format(state="Afternoon", option="Afternoon", y0=y(5) - 2, y1=y(5) + 10),
        ],
        extra=[(90, y(1), "Parking needed"), (90, y(2), "Late arrival"), (72, y(3), "Arrival window"), (90, y(4), "Morning"), (90, y(5), "Afternoon")],
    )
    group = f"<< /FT /Btn /Ff {1 << 15} /T (window) /TU (Arrival window) /V /Afternoon >>"
    (text,) = pdf_text(build_pdf([page], form_fields=[group]))
    lines = [line.strip() for line in text.split("\n")]
    assert "Parking needed: Yes" in lines
    assert "Late arrival" in lines  # unchecked: nothing added
    assert "Arrival window: Afternoon" in lines  # the group's question, with the chosen button's value
    assert "Morning" in lines and "Afternoon" in lines


def test_hidden_widgets_push_buttons_and_signatures_add_nothing() -> None:
    page = PdfPage(["Form"], widgets=[
        text_widget("secret", box(0), "HiddenValue", flags=2),
        "<< /Type /Annot /Subtype /Widget /FT /Btn /Ff 65536 /T (submit) /V (Submit) /Rect [72 100 120 120] /P {page} >>",
        "<< /Type /Annot /Subtype /Widget /FT /Sig /T (sig) /Rect [72 60 200 90] /P {page} >>",
    ])
    (text,) = pdf_text(build_pdf([page]))
    assert text.strip() == "Form"


def test_a_choice_fields_selected_item_is_its_value() -> None:
    widget = (
        "<< /Type /Annot /Subtype /Widget /FT /Ch /T (dept) /V (ops) /Opt [[(ops) (Operations)] [(fin) (Finance)]]"
        f" /Rect [180 {y(1) - 4} 430 {y(1) + 12}] /F 4 /P {{page}} >>"
    )
    (text,) = pdf_text(build_pdf([PdfPage(["Request", "Department:"], widgets=[widget])]))
    assert "Department: Operations" in text.split("\n")


def test_a_value_goes_on_the_page_of_its_widget() -> None:
    pages = [PdfPage(["Page one text"]), PdfPage(["Second page", "Approved by:"], widgets=[text_widget("approver", box(1), "Ines Duarte")])]
    doc = load_bytes("form.pdf", build_pdf(pages))
    assert [p.number for p in doc.pages] == [1, 2]
    assert "Ines Duarte" not in doc.pages[0].text
    assert "Approved by: Ines Duarte" in doc.pages[1].text.split("\n")


# ---------------------------------------------------------------- page furniture and pages


def test_running_headers_and_footers_are_kept_once_not_once_per_page() -> None:
    # the body lines differ only in numbers too, but not in step with the page: they are content
    pages = [PdfPage(["ACME Corp - Internal", f"Body of page {n}: the fact number {n * 11}.", f"Page {n} of 6"]) for n in range(1, 7)]
    doc = load_bytes("report.pdf", build_pdf(pages))
    texts = [p.text for p in doc.pages]
    assert sum(t.count("ACME Corp - Internal") for t in texts) == 1
    assert sum(t.count(" of 6") for t in texts) == 1
    assert all(f"the fact number {n * 11}." in texts[n - 1] for n in range(1, 7))
    chunks = chunk_document(doc, count_tokens, ChunkConfig())
    assert [c.page for c in chunks] == [1, 2, 3, 4, 5, 6]  # pages stay the unit of position


def test_lines_repeated_on_only_two_pages_are_content() -> None:
    pages = [PdfPage(["Shared heading line", f"Text {n}."]) for n in range(1, 3)]
    texts = [p.text for p in load_bytes("two.pdf", build_pdf(pages)).pages]
    assert all("Shared heading line" in t for t in texts)


def test_the_title_comes_from_the_metadata_or_the_file_name() -> None:
    assert load_bytes("x.pdf", build_pdf([PdfPage(["Text."])], title="Annual ﬁgures")).title == "Annual figures"
    assert load_bytes("annual-report.pdf", build_pdf([PdfPage(["Text."])])).title == "annual-report"
