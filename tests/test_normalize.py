"""The one normalization of documents and questions (``rag.documents.normalize``)."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from rag.documents.normalize import _INVISIBLE_RE, normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\ufb01rewall \ufb02ow e\ufb03cient", "firewall flow efficient"),  # PDF ligatures
        ("synchro\u00adnization", "synchronization"),  # soft hyphen (&shy;)
        ("fire\u200bwall fire\u200cwall fire\u200dwall fire\u2060wall", "firewall firewall firewall firewall"),
        ("port\u00a05273 and\u202f5272", "port 5273 and 5272"),  # no-break and narrow no-break spaces
        ("\uff21\uff22\uff23\uff11\uff12\uff13", "ABC123"),  # full-width forms
        ("Gene\u0300ve", "Genève"),  # decomposed accent
        ("\ufeffTitle", "Title"),  # a BOM inside the text
        ("a\u202eb\u202cc", "abc"),  # bidi override and pop
        ("line\r\nnext\rlast\u2028more", "line\nnext\nlast\nmore"),
        ("nul\x00 bell\x07 tab\tkept", "nul bell tab\tkept"),
        ("İstanbul Iğdır çalışıyor", "İstanbul Iğdır çalışıyor"),  # Turkish letters stay as they are
        ("plain ascii", "plain ascii"),
    ],
)
def test_text_that_looks_the_same_becomes_the_same(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_normalizing_twice_changes_nothing() -> None:
    text = "ﬁle Gene\u0300ve ＡＢＣ soft\u00adhyphen"
    assert normalize_text(normalize_text(text)) == normalize_text(text)


def test_every_format_character_of_this_python_is_removed() -> None:
    """The hard-coded class must hold every Cf code point of the running Unicode database."""
    missing = [
        f"U+{cp:04X}" for cp in range(sys.maxunicode + 1)
        if unicodedata.category(chr(cp)) == "Cf" and not _INVISIBLE_RE.match(chr(cp))
    ]
    assert missing == []


@pytest.mark.parametrize("shown", ["10⁻⁶ s", "5 m²", "H₂O", "½ cup", "1º", "Word™"])
def test_what_nfkc_would_visibly_change_is_kept_as_written(shown: str) -> None:
    """The passage a user reads keeps 10⁻⁶ (NFKC would show "10−6"); search folds it (see test_analysis)."""
    assert normalize_text(shown) == shown
    assert normalize_text("ﬁle " + shown + " ＡＢＣ") == "file " + shown + " ABC"  # the rest is still folded


def test_every_superscript_subscript_and_fraction_of_this_python_is_kept() -> None:
    from rag.documents.normalize import _SHOWN_AS_WRITTEN_RE

    tags = ("<super>", "<sub>", "<fraction>")
    missing = [
        f"U+{cp:04X}" for cp in range(0x80, sys.maxunicode + 1)
        if unicodedata.decomposition(chr(cp)).startswith(tags) and not _SHOWN_AS_WRITTEN_RE.match(chr(cp))
    ]
    assert missing == []
