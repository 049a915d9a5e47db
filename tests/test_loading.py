"""Loading: every supported format becomes Markdown-like pages; bad files are skipped with a reason.

Real files are built in ``tmp_path``: a hand-written PDF with a Helvetica text
stream, DOCX files made with python-docx, zip archives made with ``zipfile``.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import docx
import pytest
from pypdf import PdfWriter

from rag.documents.loading import decode_text, load_bytes, load_file, load_folder
from rag.errors import DocsError, LoadError

# ---------------------------------------------------------------- helpers


def minimal_pdf(lines: list[str]) -> bytes:
    """A one-page PDF 1.4 whose content stream shows ``lines`` in Helvetica.

    Written by hand (pypdf cannot add text): five objects, then an xref table
    whose offsets are the byte positions of the objects, then the trailer.
    """
    shown = " ".join(f"({line}) Tj T*" for line in lines)
    content = f"BT /F1 12 Tf 72 720 Td 14 TL {shown} ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        " /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def blank_pdf(password: str | None = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    if password is not None:
        writer.encrypt(user_password=password)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def sample_docx() -> bytes:
    document = docx.Document()
    document.add_paragraph("Setup Guide", style="Heading 1")
    document.add_paragraph("Install the runtime before anything else.")
    document.add_paragraph("Requirements", style="Heading 2")
    document.add_paragraph("You need sixteen gigabytes of memory.")
    table = document.add_table(rows=2, cols=2)
    for (row, col), text in {(0, 0): "Model", (0, 1): "Size", (1, 0): "Phi-4", (1, 1): "3.8B"}.items():
        table.cell(row, col).text = text
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def reason_of(source: str, data: bytes, **kwargs: int) -> str:
    with pytest.raises(LoadError) as info:
        load_bytes(source, data, **kwargs)
    return info.value.reason


# ---------------------------------------------------------------- text formats


def test_markdown_title_from_first_h1_and_comments_stripped() -> None:
    text = "<!-- front matter: do not index -->\nIntro line.\n\n## Setup\n\n# Real Title\n\nBody <!-- a\nmulti-line note --> end.\n"
    doc = load_bytes("guide.md", text.encode())
    assert doc.title == "Real Title"  # the first H1, not the earlier H2
    assert doc.markup == "markdown"
    page = doc.pages[0]
    assert page.number is None
    assert "front matter" not in page.text and "multi-line note" not in page.text
    assert "Body  end." in page.text
    assert "## Setup" in page.text


def test_markdown_without_heading_is_titled_by_file_stem() -> None:
    doc = load_bytes("notes/quick-start.markdown", b"just some text\n")
    assert doc.title == "quick-start"
    assert doc.markup == "markdown"
    assert doc.source == "notes/quick-start.markdown"


def test_txt_is_plain_and_titled_by_stem() -> None:
    doc = load_bytes("readme.txt", b"# not a heading in plain text\nhello\n")
    assert doc.markup == "plain"
    assert doc.title == "readme"
    assert doc.pages[0].text.startswith("# not a heading")


def test_rst_section_titles_become_markdown_headings() -> None:
    rst = "Install Guide\n=============\n\nIntro text.\n\nPrerequisites\n-------------\n\nPython 3.11.\n\nOther Part\n==========\n\nMore.\n"
    doc = load_bytes("install.rst", rst.encode())
    lines = doc.pages[0].text.splitlines()
    assert "# Install Guide" in lines
    assert "## Prerequisites" in lines
    assert "# Other Part" in lines  # same adornment as the first title: same level
    assert not any(set(line) == {"="} for line in lines)
    assert doc.title == "Install Guide"
    assert doc.markup == "markdown"


def test_rst_overline_title() -> None:
    doc = load_bytes("a.rst", b"=======\n Title\n=======\n\nText.\n")
    assert "# Title" in doc.pages[0].text.splitlines()
    assert doc.title == "Title"


def test_html_headings_scripts_title_and_tables() -> None:
    html = b"""<html><head><title> My  Page </title><style>.x { color: red }</style></head>
    <body><h1>Top</h1><p>Hello <b>there</b>.</p>
    <script>var secretToken = 1;</script>
    <h3>Deep</h3>
    <table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>
    <noscript>enable javascript</noscript></body></html>"""
    doc = load_bytes("page.html", html)
    text = doc.pages[0].text
    lines = text.splitlines()
    assert doc.title == "My Page"
    assert "# Top" in lines and "### Deep" in lines
    assert "Hello there." in lines
    assert "| a | b |" in lines and "| 1 | 2 |" in lines
    assert "secretToken" not in text and "color: red" not in text and "enable javascript" not in text


def test_html_without_title_uses_first_heading() -> None:
    doc = load_bytes("page.htm", b"<body><h2>Only Heading</h2><p>text</p></body>")
    assert doc.title == "Only Heading"
    assert "## Only Heading" in doc.pages[0].text.splitlines()


# ---------------------------------------------------------------- PDF


def test_pdf_text_and_page_number() -> None:
    doc = load_bytes("paper.pdf", minimal_pdf(["Quantization shrinks models.", "Second line here."]))
    assert doc.markup == "plain"
    assert doc.title == "paper"
    assert len(doc.pages) == 1
    assert doc.pages[0].number == 1
    assert "Quantization shrinks models." in doc.pages[0].text
    assert "Second line here." in doc.pages[0].text


def test_encrypted_pdf_is_skipped() -> None:
    assert "encrypted" in reason_of("locked.pdf", blank_pdf(password="secret"))


def test_pdf_without_text_layer_is_skipped() -> None:
    assert "no text layer" in reason_of("scan.pdf", blank_pdf())


def test_garbage_pdf_is_skipped() -> None:
    assert "not a readable PDF" in reason_of("broken.pdf", b"%PDF-1.4\nthis is not really a pdf\n")


# ---------------------------------------------------------------- DOCX


def test_docx_headings_paragraphs_and_table() -> None:
    doc = load_bytes("guide.docx", sample_docx())
    lines = doc.pages[0].text.splitlines()
    assert doc.markup == "markdown"
    assert doc.title == "Setup Guide"
    assert "# Setup Guide" in lines
    assert "## Requirements" in lines
    assert "Install the runtime before anything else." in lines
    assert "| Model | Size |" in lines
    assert "| Phi-4 | 3.8B |" in lines


def test_corrupt_docx_is_skipped() -> None:
    assert "not a valid DOCX" in reason_of("broken.docx", b"PK\x03\x04 but not really a zip archive")


def test_zip_without_document_is_not_a_readable_docx() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("hello.txt", "not a word document")
    assert "not a readable DOCX" in reason_of("other.docx", buffer.getvalue())


def test_zip_bomb_docx_is_refused(tmp_path: Path) -> None:
    # The limit is min(512 MB, max(size, 1 MiB) * 100): a file this small may unpack
    # to 100 MiB at most, so the entry must be larger than that (a ~60 MB entry is
    # allowed through and then fails as "not a readable DOCX").
    path = tmp_path / "x.docx"
    block = b"\0" * (1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("word/document.xml", "w") as entry:
        for _ in range(110):
            entry.write(block)
    assert path.stat().st_size < 1 << 20  # small on disk
    with pytest.raises(LoadError) as info:
        load_file(path, tmp_path)
    assert "zip bomb" in info.value.reason


# ---------------------------------------------------------------- broken files


def test_empty_file_is_skipped() -> None:
    assert "empty" in reason_of("empty.md", b"")
    assert "empty" in reason_of("blank.txt", b"  \n\t\n")


def test_binary_content_under_text_suffix_is_skipped() -> None:
    assert "binary" in reason_of("image.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))


def test_file_over_max_bytes_is_too_large(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("word " * 1000)
    with pytest.raises(LoadError) as info:
        load_file(path, tmp_path, max_bytes=1000)
    assert "too large" in info.value.reason
    assert "RAG_MAX_FILE_MB" in info.value.reason
    assert "too large" in reason_of("big.txt", b"x" * 2000, max_bytes=1000)


def test_unsupported_suffix_is_refused() -> None:
    assert "unsupported file type .py" in reason_of("script.py", b"print('hi')\n")


# ---------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param("héllo wörld ✓".encode(), "héllo wörld ✓", id="utf-8"),
        pytest.param("\ufeffhéllo wörld".encode("utf-8"), "héllo wörld", id="utf-8-bom"),
        pytest.param("héllo wörld İstanbul".encode("utf-16"), "héllo wörld İstanbul", id="utf-16-bom"),
        pytest.param(
            "Iğdır'da şöyle güzel bir ılık İstanbul".encode("cp1254"),
            "Iğdır'da şöyle güzel bir ılık İstanbul",
            id="cp1254-turkish",
        ),
        pytest.param("café naïve".encode("latin-1"), "café naïve", id="latin-1"),
        pytest.param("café naïve – “quoted”".encode("cp1252"), "café naïve – “quoted”", id="cp1252"),
    ],
)
def test_decode_text(data: bytes, expected: str) -> None:
    text = decode_text(data)
    assert text == expected
    assert "\ufeff" not in text


def test_bom_is_not_in_loaded_document() -> None:
    doc = load_bytes("bom.md", "\ufeff# Başlık\n\nmetin\n".encode("utf-8"))
    assert doc.title == "Başlık"
    assert not doc.pages[0].text.startswith("\ufeff")


# ---------------------------------------------------------------- folders


def test_load_folder_walks_recursively_and_skips_hidden_and_unsupported(tmp_path: Path, write_files) -> None:
    write_files(tmp_path, {
        "a.md": "# A\n\nalpha\n",
        "sub/b.txt": "bravo\n",
        "sub/deeper/c.rst": "Charlie\n=======\n\ntext\n",
        ".git/config.md": "# hidden\n",
        ".rag-cache/x.md": "# cache\n",
        "sub/.hidden.md": "# hidden file\n",
        "image.png": b"\x89PNG\r\n",
        "script.py": "print(1)\n",
    })
    result = load_folder(tmp_path)
    assert [d.source for d in result.documents] == ["a.md", "sub/b.txt", "sub/deeper/c.rst"]
    assert result.skipped == []


def test_one_bad_file_is_skipped_and_the_batch_goes_on(tmp_path: Path, write_files) -> None:
    write_files(tmp_path, {"good1.md": "# One\n\nfirst\n", "bad.md": b"", "good2.txt": "second\n"})
    result = load_folder(tmp_path)
    assert sorted(d.source for d in result.documents) == ["good1.md", "good2.txt"]
    assert [(s.source, s.reason) for s in result.skipped] == [("bad.md", "empty file")]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_outside_the_folder_is_skipped(tmp_path: Path, write_files) -> None:
    root = tmp_path / "docs"
    write_files(root, {"inside.md": "# In\n\ntext\n"})
    write_files(tmp_path, {"outside.md": "# Secret\n\nprivate\n"})
    (root / "link.md").symlink_to(tmp_path / "outside.md")
    (root / "alias.md").symlink_to(root / "inside.md")  # a link inside the folder is fine
    result = load_folder(root)
    assert sorted(d.source for d in result.documents) == ["alias.md", "inside.md"]
    assert len(result.skipped) == 1
    assert result.skipped[0].source == "link.md"
    assert "outside" in result.skipped[0].reason


def test_missing_folder_is_a_docs_error(tmp_path: Path) -> None:
    with pytest.raises(DocsError, match="does not exist"):
        load_folder(tmp_path / "nope")


def test_file_passed_as_folder_is_a_docs_error(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text("# A\n")
    with pytest.raises(DocsError, match="is a file, not a folder"):
        load_folder(path)


# ---------------------------------------------------------------- the index cache


def test_a_cache_written_by_an_older_loader_is_rebuilt_not_reused(tmp_path: Path, write_files) -> None:
    """The loader's version is part of the cache fingerprint: what an older loader
    made of a file (ligatures, a blank form, setext underlines) is never served again."""
    from rag.documents.loading import LOADER_VERSION
    from rag.search.cache import cache_folder, read_cache, write_cache
    from rag.search.index import IndexConfig, open_index

    docs = write_files(tmp_path / "docs", {"a.md": "# A\n\nalpha\n", "b.md": "B\n=\n\nbravo\n"})
    cache = tmp_path / "cache"
    _, first = open_index(docs, cache)
    assert (first.processed, first.reused) == (2, 0)
    assert f".l{LOADER_VERSION}." in IndexConfig().fingerprint()
    folder = cache_folder(cache, docs)
    cached = read_cache(folder, IndexConfig().fingerprint())
    assert cached is not None
    # the same cache as the previous loader wrote it: its fingerprint had no loader version
    cached.fingerprint = cached.fingerprint.replace(f".l{LOADER_VERSION}", "")
    assert write_cache(folder, cached) is None
    _, again = open_index(docs, cache)
    assert (again.processed, again.reused) == (2, 0)
    _, third = open_index(docs, cache)  # and the rebuilt cache is used from then on
    assert (third.processed, third.reused) == (0, 2)
