"""One bad file never stops the batch: any exception while reading a file becomes its skip reason.

Two kinds of evidence:

- a parser that raises what the libraries raise on broken files (IndexError
  from pypdf, RecursionError, lxml's XMLSyntaxError, KeyError, zipfile's
  BadZipFile...) gives a reason that names the exception type, in the folder
  walk, in ``open_index`` and in an upload;
- a seeded fuzz run: truncated and bit-flipped copies of real PDF, DOCX, PPTX,
  XLSX and HTML files, and Office files whose XML parts are truncated,
  bit-flipped or missing inside a valid zip, go through ``load_folder``,
  ``Overlay.add_bytes`` and ``open_index`` (what the app calls, cache included);
  every variant is either indexed or skipped with a reason, and nothing else
  escapes. The counts are printed (``pytest -s``).
"""

from __future__ import annotations

import io
import random
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from rag.documents import loading
from rag.documents.loading import load_folder
from rag.errors import LoadError
from rag.search.index import Index, open_index
from tests.conftest import SMALL_DOCS
from tests.support.documents import PdfPage, build_docx, build_pdf, build_pptx, build_xlsx, p, tbl, text_widget
from tests.test_bad_inputs import HOSTILE_HTML


def _raising(exc: BaseException) -> Callable[[str], Callable[..., object]]:
    def parser_for(suffix: str) -> Callable[..., object]:
        def parse(content: object, stem: str) -> object:
            raise exc

        return parse

    return parser_for


EXCEPTIONS = [
    (IndexError("list index out of range"), "not a readable PDF (IndexError: list index out of range)"),
    (RecursionError("maximum recursion depth exceeded"), "not a readable PDF (RecursionError: nested too deeply)"),
    (etree.XMLSyntaxError("StartTag: invalid element name", 68, 1, 2), "not a readable PDF (XMLSyntaxError: StartTag: invalid element name"),
    (KeyError("/Root"), "not a readable PDF (KeyError: '/Root')"),
    (zipfile.BadZipFile("Bad CRC-32 for file 'word/document.xml'"), "not a readable PDF (BadZipFile: Bad CRC-32"),
    (ZeroDivisionError(), "not a readable PDF (ZeroDivisionError)"),
]


@pytest.mark.parametrize(("exc", "reason"), EXCEPTIONS, ids=[type(e).__name__ for e, _ in EXCEPTIONS])
def test_any_exception_of_a_parser_becomes_a_skip_reason_naming_its_type(
    exc: BaseException, reason: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, write_files
) -> None:
    docs = write_files(tmp_path / "docs", {**SMALL_DOCS, "broken.pdf": b"%PDF-1.4 whatever"})
    real = loading._parser
    monkeypatch.setattr(loading, "_parser", lambda suffix: _raising(exc)(suffix) if suffix == ".pdf" else real(suffix))
    result = load_folder(docs)
    assert len(result.documents) == len(SMALL_DOCS)
    assert [s.source for s in result.skipped] == ["broken.pdf"] and result.skipped[0].reason.startswith(reason)
    index, report = open_index(docs, tmp_path / "cache")
    assert report.files == len(SMALL_DOCS) and report.skipped[0].reason.startswith(reason)
    overlay = index.new_overlay()
    with pytest.raises(LoadError) as info:
        overlay.add_bytes("upload.pdf", b"%PDF-1.4 whatever")
    assert info.value.reason.startswith(reason) and overlay.sources == []


# ---------------------------------------------------------------- fuzz

RICH_HTML = b"""<html><head><title>Ops &amp; support</title></head><body><h1>Runbook</h1>
<p>Restart the <b>gateway</b> with <code>svc restart gw</code>.</p>
<table><tr><th>Host</th><th>Port</th></tr><tr><td>gw1</td><td>8080</td></tr></table>
<ul><li>one<ul><li>nested</li></ul></li></ul><pre><code>echo hi</code></pre></body></html>"""


def _seeds() -> dict[str, bytes]:
    form = PdfPage(
        ["Visitor registration", "Name:", "Company:"],
        widgets=[text_widget("name", (180, 720, 430, 736), "Ines"), text_widget("company", (180, 704, 430, 720), "Kestrel")],
    )
    return {
        "pdf": build_pdf(
            [form, PdfPage(["ACME - Internal", "Second page about ﬁrewall rules.", "Page 2 of 3"]), PdfPage(["ACME - Internal", "Third.", "Page 3 of 3"])],
            title="Form",
        ),
        "docx": build_docx(
            p("Runbook", "Heading1") + p("Backups run nightly.") + tbl([["Host", "Port"], ["gw1", p("8080") + tbl([["a", "b"]])]]),
            headers=[p("Internal")],
            footnotes={1: "A note."},
        ),
        "pptx": build_pptx(
            [
                {"title": "Review", "bullets": [(0, "Revenue"), (1, "Harbour")]},
                {"title": "Risks", "table": [["Risk", "Owner"], ["Crane", "Ops"]], "notes": "Call the vendor."},
            ]
        ),
        "xlsx": build_xlsx({"Inventory": [["Host", "Port"], ["gw1", 8080], ["gw2", 8443]], "Owners": [["Team"], ["Ops"]]}),
        "html": RICH_HTML + HOSTILE_HTML,
    }


def _variants(seed: bytes, rng: random.Random, count: int) -> list[bytes]:
    """Half truncations at random lengths, half copies with 1-16 random bytes flipped."""
    out = []
    for n in range(count):
        if n % 2 == 0:
            out.append(seed[: rng.randrange(1, len(seed))])
        else:
            data = bytearray(seed)
            for _ in range(rng.randint(1, 16)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            out.append(bytes(data))
    return out


def _inner_variants(seed: bytes, rng: random.Random, count: int) -> list[bytes]:
    """Valid zip archives whose parts are broken: a part truncated, bit-flipped or left out.

    A flipped bit in a compressed archive is mostly caught by the zip CRC; these
    get past it to the XML and the libraries that read it.
    """
    with zipfile.ZipFile(io.BytesIO(seed)) as zf:
        parts = {info.filename: zf.read(info) for info in zf.infolist()}
    out = []
    for n in range(count):
        broken = dict(parts)
        name = rng.choice(sorted(name for name in parts if name.endswith((".xml", ".rels"))))
        if n % 3 == 0:
            broken[name] = parts[name][: rng.randrange(len(parts[name]))]
        elif n % 3 == 1:
            data = bytearray(parts[name])
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            broken[name] = bytes(data)
        else:
            del broken[name]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
            for part, data in broken.items():
                zf.writestr(part, data)
        out.append(buffer.getvalue())
    return out


def test_truncated_and_bit_flipped_files_are_indexed_or_skipped_never_escape(tmp_path: Path, write_files, small_index: Index) -> None:
    rng = random.Random(20261130)
    seeds = _seeds()
    variants = {f"{kind}-{n:03d}.{kind}": data for kind, seed in seeds.items() for n, data in enumerate(_variants(seed, rng, 44))}
    for kind in ("docx", "pptx", "xlsx"):
        variants.update({f"{kind}-x{n:03d}.{kind}": data for n, data in enumerate(_inner_variants(seeds[kind], rng, 40))})
    assert len(variants) >= 300
    started = time.perf_counter()

    docs = write_files(tmp_path / "fuzz", variants)
    result = load_folder(docs)  # must not raise
    indexed = {d.source for d in result.documents}
    skipped = {s.source: s.reason for s in result.skipped}
    assert indexed.isdisjoint(skipped) and indexed | set(skipped) == set(variants)
    assert all(reason.strip() for reason in skipped.values())

    uploaded, refused, escaped = 0, 0, []
    overlay = small_index.new_overlay()
    for name, data in variants.items():
        try:
            overlay.add_bytes(name, data)
            uploaded += 1
        except LoadError:
            refused += 1
        except Exception as err:  # what this test exists to catch
            escaped.append(f"{name}: {type(err).__name__}: {err}")
    elapsed = time.perf_counter() - started
    by_kind = Counter((name.split("-")[0], name in indexed) for name in variants)
    print(
        f"\nfuzz: {len(variants)} variants; folder walk: {len(indexed)} indexed, {len(skipped)} skipped;"
        f" uploads: {uploaded} added, {refused} refused, {len(escaped)} escaped; {elapsed:.1f} s"
        f"\nindexed by kind: { {k: by_kind[(k, True)] for k in seeds} }"
        f"\nreasons: {Counter(r.split(' (')[0] for r in skipped.values()).most_common(8)}"
    )
    assert escaped == []
    assert (uploaded, refused) == (len(indexed), len(skipped))  # both paths decide alike

    # what the app and the CLI really call: open_index (loading, chunking, analysis, the cache), then a reopen
    _, report = open_index(docs, tmp_path / "cache")  # must not raise
    assert (report.files, len(report.skipped)) == (len(indexed), len(skipped))
    assert {s.source for s in report.skipped} == set(skipped)
    _, again = open_index(docs, tmp_path / "cache")
    assert (again.files, again.reused, again.processed) == (len(indexed), len(indexed), 0)
    assert time.perf_counter() - started < 180
