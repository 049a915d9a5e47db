"""One normalization at load for every format: text that looks the same is the same code points.

The same sentence, written with the characters real files hold (a ligature
glyph, a soft hyphen and a zero-width space inside words, a non-breaking
space, full-width letters, a decomposed accent), is put in a file of every
supported format; the loaded page holds it in the one normalized form
(``rag.documents.normalize.normalize_text``), so the words are found as typed.
"""

from __future__ import annotations

import csv
import io

import pytest

from rag.documents.loading import SUPPORTED_SUFFIXES, load_bytes
from tests.support.documents import PdfPage, build_docx, build_pdf, build_pptx, build_xlsx, p

ODD = "ﬁrewall soft\u00adware zero\u200bwidth non\u00a0breaking ＦＵＬＬ Gene\u0300ve"
EVEN = "firewall software zerowidth non breaking FULL Genève"
ODD_CHARACTERS = ("ﬁ", "\u00ad", "\u200b", "\u00a0", "Ｆ", "\u0300")


def _csv(text: str) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([["note"], [text]])
    return out.getvalue().encode()


FILES = {
    ".md": lambda: f"# Notes\n\n{ODD}\n".encode(),
    ".markdown": lambda: f"# Notes\n\n{ODD}\n".encode(),
    ".txt": lambda: f"{ODD}\n".encode(),
    ".rst": lambda: f"Notes\n=====\n\n{ODD}\n".encode(),
    ".html": lambda: f"<html><body><h1>Notes</h1><p>{ODD}</p></body></html>".encode(),
    ".htm": lambda: b"<p>&#xFB01;rewall soft&shy;ware zero&#8203;width non&nbsp;breaking &#xFF26;&#xFF35;&#xFF2C;&#xFF2C; Gene&#x300;ve</p>",
    ".csv": lambda: _csv(ODD),
    ".pdf": lambda: build_pdf([PdfPage([ODD])]),
    ".docx": lambda: build_docx(p("Notes", "Heading1") + p(ODD)),
    ".pptx": lambda: build_pptx([{"title": "Notes", "box": ODD}]),
    ".xlsx": lambda: build_xlsx({"Notes": [["note"], [ODD]]}),
}


def test_every_supported_format_is_covered() -> None:
    assert set(FILES) == set(SUPPORTED_SUFFIXES)


@pytest.mark.parametrize("suffix", sorted(FILES))
def test_the_loaded_text_is_normalized_in_every_format(suffix: str) -> None:
    doc = load_bytes("notes" + suffix, FILES[suffix]())
    text = "\n".join(page.text for page in doc.pages)
    assert EVEN in text
    assert not any(ch in text for ch in ODD_CHARACTERS)


def test_markdown_entities_for_the_same_characters_are_normalized_too() -> None:
    data = b"# Notes\n\n&#xFB01;rewall soft&shy;ware zero&#8203;width non&nbsp;breaking Gene&#x300;ve\n"
    assert "firewall software zerowidth non breaking Genève" in load_bytes("e.md", data).pages[0].text


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("t.md", "# ﬁrewall Ｒｕｌｅｓ\n\ntext\n".encode()),
        ("t.html", "<title>ﬁrewall&shy; Ｒｕｌｅｓ</title><p>text</p>".encode()),
        ("t.pdf", build_pdf([PdfPage(["text"])], title="ﬁrewall Ｒｕｌｅｓ")),
        ("t.docx", build_docx(p("text"), title="ﬁrewall Ｒｕｌｅｓ")),
    ],
)
def test_titles_are_normalized(name: str, data: bytes) -> None:
    assert load_bytes(name, data).title == "firewall Rules"
