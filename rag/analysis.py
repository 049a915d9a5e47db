"""What BM25 sees: text -> language -> folded, stemmed terms.

The same ``Analyzer`` turns documents and queries into terms, so a query word
matches the passages that contain any inflection of it. Per language:

- case folding that is right for the language: in Turkish ``I -> ı`` and
  ``İ -> i`` ("İSTANBUL" matches "istanbul"); everywhere else ``İ -> i``;
- Unicode word tokens (letters and digits); a suffix after an apostrophe is
  dropped ("Foundry Local'ın" -> "foundry", "local");
- stopwords removed, then Snowball stemming (PyStemmer);
- Turkish stems are ASCII-folded afterwards (ı->i, ş->s, ...) so that text typed
  without Turkish letters ("nasil") and English loan words with a capital I
  ("AI" -> "aı") still match.

Each distinct surface word is stemmed once and remembered, which is what makes
analysis fast: a document costs one regex pass, one lowercase, and dict lookups.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import Stemmer

from rag.stopwords import STOPWORDS

__all__ = ["LANGUAGES", "Analyzer", "detect_language", "fold", "words"]

# Languages we stem; any other text is folded and tokenized only.
LANGUAGES = {"en": "english", "tr": "turkish"}

_WORD_RE = re.compile(r"([^\W_]+)(?:['’][^\W_]+)*")
_TURKISH_LOWER = str.maketrans({"I": "ı", "İ": "i"})
_DOTTED_I = str.maketrans({"İ": "i"})
_TURKISH_ASCII = str.maketrans("ıiğşçöüâîû", "iigscouaiu")
# Letters that (nearly) only Turkish uses among the languages we meet here.
_TURKISH_LETTERS = frozenset("ğşıİĞŞ")


def fold(text: str, lang: str) -> str:
    """Lowercase ``text`` the way ``lang`` does (Turkish dotted/dotless i)."""
    if lang == "tr":
        return text.translate(_TURKISH_LOWER).lower()
    return text.translate(_DOTTED_I).lower()


def words(folded: str) -> list[str]:
    """Word tokens of already-folded text, apostrophe suffixes dropped."""
    return _WORD_RE.findall(folded)


def detect_language(text: str, default: str = "en") -> str:
    """Guess ``en`` or ``tr`` from stopwords and Turkish letters.

    Short texts (queries) are decided by the first signal that exists: Turkish
    letters or Turkish function words beat English ones; with no signal at all
    the ``default`` (the collection's main language) is returned.
    """
    sample = text[:20000]
    tokens = words(fold(sample, "tr"))
    tr_hits = sum(1 for w in tokens if w in STOPWORDS["tr"])
    en_tokens = words(fold(sample, "en"))
    en_hits = sum(1 for w in en_tokens if w in STOPWORDS["en"])
    tr_letters = sum(1 for ch in sample if ch in _TURKISH_LETTERS)
    tr_score = tr_hits + 0.5 * min(tr_letters, max(4, len(tokens) // 10))
    if tr_score == 0 and en_hits == 0:
        return default
    return "tr" if tr_score > en_hits else "en"


class Analyzer:
    """Turns text into index terms; remembers each word's stem per language.

    >>> Analyzer().terms("İSTANBUL'da çalışan modeller", "tr")
    ['istanbul', 'calisa', 'model']
    """

    def __init__(self) -> None:
        self._stemmers: dict[str, Stemmer.Stemmer | None] = {}
        # lang -> folded surface word -> term ("" for a stopword)
        self._cache: dict[str, dict[str, str]] = {}

    def terms(self, text: str, lang: str) -> list[str]:
        """Index terms of ``text`` read as ``lang`` (order kept, stopwords out)."""
        tokens = words(fold(text, lang))
        cache = self._cache.get(lang)
        if cache is None:
            cache = self._cache[lang] = {}
        missing = set(tokens).difference(cache)
        if missing:
            self._learn(missing, lang, cache)
        return [t for t in map(cache.__getitem__, tokens) if t]

    def query_terms(self, text: str, lang: str) -> list[str]:
        """Like ``terms``; a query of only stopwords keeps them rather than none."""
        found = self.terms(text, lang)
        if found:
            return found
        return [self._stem_one(w, lang) for w in words(fold(text, lang))]

    def _learn(self, missing: Iterable[str], lang: str, cache: dict[str, str]) -> None:
        stop = STOPWORDS.get(lang, frozenset())
        todo = [w for w in missing if w not in stop]
        for w in missing:
            if w in stop:
                cache[w] = ""
        stemmer = self._stemmer(lang)
        stems = stemmer.stemWords(todo) if stemmer is not None else todo
        if lang == "tr":
            stems = [s.translate(_TURKISH_ASCII) for s in stems]
        cache.update(zip(todo, stems))

    def _stem_one(self, word: str, lang: str) -> str:
        stemmer = self._stemmer(lang)
        stem = stemmer.stemWord(word) if stemmer is not None else word
        return stem.translate(_TURKISH_ASCII) if lang == "tr" else stem

    def _stemmer(self, lang: str) -> Stemmer.Stemmer | None:
        if lang not in self._stemmers:
            name = LANGUAGES.get(lang)
            self._stemmers[lang] = Stemmer.Stemmer(name) if name else None
        return self._stemmers[lang]
