"""DOCX: everything Word shows is indexed, in document order, and nothing Word hides.

Each file is a real DOCX package zipped from WordprocessingML written here
(``documents.build_docx``), holding the constructs templates and reviewers
produce: content controls, tracked changes, nested tables, text boxes with a
VML fallback, headers and footers shared by sections, footnotes, localized and
derived heading styles, numbered lists, hidden text and fields.
"""

from __future__ import annotations

from rag.documents.chunking import ChunkConfig, chunk_document
from rag.documents.formats.canonical import match_heading
from rag.documents.loading import load_bytes
from rag.documents.tokens import count_tokens
from tests.support.documents import DEFAULT_STYLES, build_docx, p, run, tbl


def text_of(body: str, **kwargs) -> str:
    return load_bytes("doc.docx", build_docx(body, **kwargs)).pages[0].text


def lines_of(body: str, **kwargs) -> list[str]:
    return text_of(body, **kwargs).split("\n")


def headings(text: str) -> list[tuple[int, str]]:
    return [h for h in map(match_heading, text.split("\n")) if h]


# ---------------------------------------------------------------- content controls


def test_paragraphs_inside_content_controls_are_indexed() -> None:
    cover = (
        '<w:sdt><w:sdtPr><w:docPartObj><w:docPartGallery w:val="Cover Pages"/></w:docPartObj></w:sdtPr><w:sdtContent>'
        + p("Project Charter: Harbour Sensors", "Title")
        + p("Approved budget: 48,000 EUR for the pilot year")
        + "</w:sdtContent></w:sdt>"
    )
    inline = '<w:p><w:r><w:t xml:space="preserve">Start date: </w:t></w:r><w:sdt><w:sdtPr/><w:sdtContent>' + run("2026-03-01") + "</w:sdtContent></w:sdt></w:p>"
    placeholder = '<w:sdt><w:sdtPr><w:showingPlcHdr/></w:sdtPr><w:sdtContent>' + p("Click or tap here to enter text.") + "</w:sdtContent></w:sdt>"
    doc = load_bytes("charter.docx", build_docx(cover + inline + placeholder + p("Scope", "Heading1") + p("Two quays.")))
    lines = doc.pages[0].text.split("\n")
    assert doc.title == "Project Charter: Harbour Sensors"
    assert "Approved budget: 48,000 EUR for the pilot year" in lines
    assert "Start date: 2026-03-01" in lines
    assert "Click or tap" not in doc.pages[0].text  # a control still showing its prompt holds nothing
    assert headings(doc.pages[0].text) == [(1, "Project Charter: Harbour Sensors"), (1, "Scope")]


# ---------------------------------------------------------------- tracked changes


def test_tracked_insertions_are_kept_and_deletions_dropped() -> None:
    body = (
        '<w:p><w:r><w:t xml:space="preserve">The nightly backup window is </w:t></w:r>'
        '<w:ins w:id="1" w:author="R"><w:r><w:t>between 02:00 and 04:00 on Sundays</w:t></w:r></w:ins>'
        '<w:del w:id="2" w:author="R"><w:r><w:delText>at midnight</w:delText></w:r></w:del>'
        "<w:r><w:t>.</w:t></w:r></w:p>"
        '<w:p><w:ins w:id="3" w:author="R"><w:r><w:t>Escalation contact: extension 4417.</w:t></w:r></w:ins></w:p>'
        '<w:p><w:moveFrom w:id="4" w:author="R"><w:r><w:t>Moved sentence.</w:t></w:r></w:moveFrom></w:p>'
        '<w:p><w:moveTo w:id="5" w:author="R"><w:r><w:t>Moved sentence.</w:t></w:r></w:moveTo></w:p>'
        + tbl([["Step", "Owner"], ["Verify", "Ops"]]).replace(
            "</w:tbl>", '<w:tr><w:trPr><w:del w:id="6" w:author="R"/></w:trPr><w:tc>' + p("Deleted row") + "</w:tc><w:tc>" + p("x") + "</w:tc></w:tr></w:tbl>"
        )
    )
    text = text_of(body)
    assert "The nightly backup window is between 02:00 and 04:00 on Sundays." in text.split("\n")
    assert "Escalation contact: extension 4417." in text.split("\n")
    assert "midnight" not in text and "Deleted row" not in text
    assert text.count("Moved sentence.") == 1


# ---------------------------------------------------------------- tables


def test_tables_have_a_header_row_and_nested_tables_are_flattened_into_their_cell() -> None:
    nested = tbl([["Primary", "Ines"], ["Backup", "Tomasz"]])
    body = tbl([["Service", "Contacts"], ["Billing", p("On call:") + nested]])
    lines = lines_of(body)
    assert "| Service | Contacts |" in lines and "| --- | --- |" in lines
    assert "| Billing | On call: Primary / Ines; Backup / Tomasz |" in lines


def test_merged_cells_keep_the_table_rectangular() -> None:
    body = (
        '<w:tbl><w:tr><w:tc><w:tcPr><w:gridSpan w:val="2"/></w:tcPr>' + p("Quarter") + "</w:tc></w:tr>"
        "<w:tr><w:tc>" + p("Q1") + "</w:tc><w:tc>" + p("Q2") + "</w:tc></w:tr></w:tbl>"
    )
    lines = lines_of(body)
    assert "| Quarter |  |" in lines and "| Q1 | Q2 |" in lines


# ---------------------------------------------------------------- text boxes


def test_text_boxes_are_indexed_once_whatever_holds_them() -> None:
    box = lambda text: "<w:txbxContent>" + p(text) + "</w:txbxContent>"  # noqa: E731
    drawing = (
        '<w:p><w:r><w:t xml:space="preserve">Anchor paragraph. </w:t></w:r><w:r><mc:AlternateContent>'
        '<mc:Choice Requires="wps"><w:drawing><wp:anchor><a:graphic><a:graphicData><wps:wsp><wps:txbx>'
        + box("Sidebar: the gate code is 7319.")
        + "</wps:txbx></wps:wsp></a:graphicData></a:graphic></wp:anchor></w:drawing></mc:Choice>"
        "<mc:Fallback><w:pict><v:shape><v:textbox>" + box("Sidebar: the gate code is 7319.") + "</v:textbox></v:shape></w:pict></mc:Fallback>"
        "</mc:AlternateContent></w:r></w:p>"
    )
    vml_only = "<w:p><w:r><w:pict><v:shape><v:textbox>" + box("Old-style box: ask reception.") + "</v:textbox></v:shape></w:pict></w:r></w:p>"
    text = text_of(drawing + vml_only)
    assert text.count("Sidebar: the gate code is 7319.") == 1
    assert "Old-style box: ask reception." in text
    assert text.index("Anchor paragraph.") < text.index("Sidebar")


# ---------------------------------------------------------------- headers, footers, notes


def test_headers_and_footers_are_indexed_once_not_once_per_section() -> None:
    text = text_of(
        p("Body text."),
        headers=[p("Harbour Authority - Internal"), p("Harbour Authority - Internal")],  # default and first-page header, same words
        footers=[p("Document owner: Port IT")],
        sections=3,
    )
    assert text.count("Harbour Authority - Internal") == 1
    assert text.count("Document owner: Port IT") == 1
    assert text.index("Harbour Authority") < text.index("Body text.") < text.index("Document owner")


def test_footnotes_follow_the_paragraph_that_refers_to_them() -> None:
    body = '<w:p><w:r><w:t>Retention is seven years.</w:t></w:r><w:r><w:footnoteReference w:id="1"/></w:r></w:p>' + p("Next paragraph.")
    lines = lines_of(body, footnotes={1: "Per the 2024 archive policy, section 4."})
    assert "Retention is seven years.[^1]" in lines
    assert "[^1]: Per the 2024 archive policy, section 4." in lines
    assert lines.index("[^1]: Per the 2024 archive policy, section 4.") < lines.index("Next paragraph.")


# ---------------------------------------------------------------- headings and lists

LOCALIZED_STYLES = DEFAULT_STYLES + """
<w:style w:type="paragraph" w:styleId="berschrift1"><w:name w:val="Überschrift 1"/><w:basedOn w:val="Normal"/></w:style>
<w:style w:type="paragraph" w:styleId="Kop3"><w:name w:val="Kop 3"/></w:style>
<w:style w:type="paragraph" w:styleId="ReportSection"><w:name w:val="Report Section"/><w:basedOn w:val="Heading2"/></w:style>
<w:style w:type="paragraph" w:styleId="Caption"><w:name w:val="Caption"/><w:basedOn w:val="Normal"/></w:style>
"""


def test_headings_from_styles_their_based_on_chain_localized_names_and_outline_levels() -> None:
    body = (
        p("Jahresbericht", "berschrift1")
        + p("Derived section", "ReportSection")
        + p("Dutch level three", "Kop3")
        + p("Outline level paragraph", extra_ppr='<w:outlineLvl w:val="1"/>')
        + p("Figure 1: not a heading", "Caption")
        + p("# of sites: 12")
    )
    doc = load_bytes("r.docx", build_docx(body, styles=LOCALIZED_STYLES))
    assert headings(doc.pages[0].text) == [(1, "Jahresbericht"), (2, "Derived section"), (3, "Dutch level three"), (2, "Outline level paragraph")]
    assert "\\# of sites: 12" in doc.pages[0].text.split("\n")  # text that only looks like a heading is escaped
    chunks = chunk_document(doc, count_tokens, ChunkConfig())
    assert chunks[-1].heading == ("Jahresbericht", "Outline level paragraph")


def test_numbered_and_bulleted_paragraphs_stay_list_items() -> None:
    numbered = lambda text, level: p(text, extra_ppr=f'<w:numPr><w:ilvl w:val="{level}"/><w:numId w:val="3"/></w:numPr>')  # noqa: E731
    body = numbered("First step", 0) + numbered("Sub step", 1) + p("Bullet by style", "ListBullet") + p("Plain paragraph.")
    lines = lines_of(body)
    assert "- First step" in lines and "  - Sub step" in lines and "- Bullet by style" in lines
    assert "Plain paragraph." in lines


# ---------------------------------------------------------------- what Word does not show


def test_hidden_text_and_field_instructions_are_not_text_but_field_results_are() -> None:
    body = (
        '<w:p><w:r><w:t xml:space="preserve">Visible </w:t></w:r><w:r><w:rPr><w:vanish/></w:rPr><w:t>secret-hidden-note</w:t></w:r>'
        '<w:r><w:t xml:space="preserve">and page </w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> PAGE \\* MERGEFORMAT </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>7</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>'
        "<w:r><w:t>.</w:t></w:r></w:p>"
    )
    text = text_of(body)
    assert "Visible and page 7." in text.split("\n")
    assert "secret-hidden-note" not in text and "MERGEFORMAT" not in text


def test_breaks_tabs_and_special_hyphens_become_plain_text() -> None:
    body = '<w:p><w:r><w:t>Name:</w:t><w:tab/><w:t>Ines</w:t><w:br/><w:t>re</w:t><w:softHyphen/><w:t>boot non</w:t><w:noBreakHyphen/><w:t>stop</w:t></w:r></w:p>'
    lines = lines_of(body)
    assert "Name: Ines" in lines and "reboot non-stop" in lines


def test_the_core_title_is_the_document_title() -> None:
    assert load_bytes("x.docx", build_docx(p("Intro", "Heading1"), title="Harbour charter")).title == "Harbour charter"
