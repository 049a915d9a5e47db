"""One text normalization for everything that is searched: documents and questions alike.

Text that *looks* the same must be the same code points, or a search for it
misses. ``normalize_text`` is applied once to every loaded page (whatever its
format) and to every question, so:

- compatibility forms are folded (Unicode NFKC): the PDF ligature ``ﬁ`` becomes
  ``fi``, full-width ``ＡＢＣ１２３`` becomes ``ABC123``, a non-breaking or thin
  space becomes a space, and a decomposed accent (``e`` + U+0300) is composed
  (``è``), so ``firewall`` finds ``ﬁrewall`` and ``Genève`` typed either way
  finds the other;
- invisible format characters that split a word are removed: the soft hyphen
  (HTML ``&shy;``), zero-width space, joiner and non-joiner, word joiner, BOM,
  bidi marks and embeddings (Unicode category Cf), and variation selectors;
- line ends become ``\\n`` (U+2028 and U+2029 too) and control characters other
  than tab and newline are dropped (a NUL never reaches the index).

Passages are stored normalized, so what the user is shown is what was searched:
``ﬁ`` is shown as ``fi`` and a full-width ``Ａ`` as ``A``, which read the same. What
NFKC would visibly change is kept as written: superscripts and subscripts
(``10⁻⁶``, ``m²``, ``H₂O``), fractions (``½``), ``™``. The analyzer folds those
for search (``rag.search.analysis``: ``m2`` finds ``m²``).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize_text"]

# Unicode category Cf (format characters) as of Unicode 15.1, plus the variation
# selectors (category Mn, but invisible and never part of a word). A test checks
# this class against ``unicodedata`` of the running Python.
_INVISIBLE_RE = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ufe00-\ufe0f"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f\U000e0100-\U000e01ef]"
)
# C0 and C1 controls except tab (\t) and newline (\n); \r is turned into \n first.
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


# Compatibility characters NFKC would change in a way a reader sees: superscripts and
# subscripts (10⁻⁶, m², H₂O), vulgar fractions (½), ordinal indicators (º), ™. They are
# kept as written in the text; the analyzer folds them for search ("m²" is found by "m2").
# A test checks this class against the <super>, <sub> and <fraction> decompositions of the
# running Python's Unicode database.
_SHOWN_AS_WRITTEN_RE = re.compile(
    "[\u00aa\u00b2\u00b3\u00b9\u00ba\u00bc-\u00be\u02b0-\u02b8\u02e0-\u02e4\u10fc\u1d2c-\u1d6a\u1d78\u1d9b-\u1dbf"
    "\u2070-\u209f\u2120\u2122\u2150-\u215f\u2189\u2c7c\u2c7d\u2d6f\u3192-\u319f\ua69c\ua69d\ua770\ua7f2-\ua7f4"
    "\ua7f8\ua7f9\uab5c-\uab5f\uab69\U00010781-\U000107ba\U0001f16a-\U0001f16c]"
)


def _nfkc_except_shown(text: str) -> str:
    """NFKC, except for the characters of ``_SHOWN_AS_WRITTEN_RE`` (composed with NFC there)."""
    if _SHOWN_AS_WRITTEN_RE.search(text) is None:
        return unicodedata.normalize("NFKC", text)
    parts = _SHOWN_AS_WRITTEN_RE.split(text)
    kept = _SHOWN_AS_WRITTEN_RE.findall(text)
    out = [unicodedata.normalize("NFKC", parts[0])]
    for char, part in zip(kept, parts[1:]):
        out.append(char)
        out.append(unicodedata.normalize("NFKC", part))
    return unicodedata.normalize("NFC", "".join(out))


def normalize_text(text: str) -> str:
    """``text`` in the one form that is indexed and searched (see the module docstring).

    >>> normalize_text("ﬁre\\u00adwall  Gene\\u0300ve\\r\\n")
    'firewall  Genève\\n'
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii():
        text = _INVISIBLE_RE.sub("", text).replace("\u2028", "\n").replace("\u2029", "\n\n")
        text = _nfkc_except_shown(text)
    return _CONTROL_RE.sub("", text)
