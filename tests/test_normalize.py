"""The one normalization of documents and questions (``rag.normalize``)."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from rag.normalize import _INVISIBLE_RE, normalize_text


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
