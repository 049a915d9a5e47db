"""What BM25 sees: text -> language -> folded, stemmed terms.

The same ``Analyzer`` turns documents and queries into terms, so a query word
matches the passages that contain any inflection of it. Per language:

- case folding that is right for the language: in Turkish ``I -> ı`` and
  ``İ -> i`` ("İSTANBUL" matches "istanbul"); everywhere else ``İ -> i``;
- Unicode word tokens (letters and digits); a suffix after an apostrophe is
  dropped ("Foundry Local'ın" -> "foundry", "local");
- stopwords removed, then Snowball stemming (PyStemmer);
- scripts written without spaces (Chinese, Japanese) are cut into overlapping
  character pairs, so a query finds a passage that shares a two-character word;
- Turkish words are ASCII-folded (ı->i, ş->s, ...) and cut to their first four
  letters instead, so that text typed without Turkish letters ("nasil"),
  English loan words with a capital I ("AI" -> "aı") and the many suffixes of
  a Turkish root ("araç", "aracı", "araçları") all match.

Each distinct surface word is stemmed once and remembered, which is what makes
analysis fast: a document costs one regex pass, one lowercase, and dict lookups.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import chain

import Stemmer

from rag.stopwords import QUESTION_WORDS, STOPWORDS

__all__ = ["LANGUAGES", "Analyzer", "detect_language", "fold", "words"]

# Languages we stem; any other text is folded and tokenized only.
LANGUAGES = {"en": "english", "tr": "turkish"}

_WORD_RE = re.compile(r"\w+")  # "_" is replaced by a space first: \w+ is the fastest scan
_APOSTROPHE_SUFFIX_RE = re.compile(r"(\w)(?:['’]\w+)+")  # after a letter: not an opening quote
_TURKISH_ASCII = str.maketrans("ıiğşçöüâîû", "iigscouaiu")
# Letters that (nearly) only Turkish uses among the languages we meet here.
_TURKISH_LETTERS = frozenset("ğşıİĞŞ")
# Han, Hiragana, Katakana (and their compatibility blocks): written without spaces between words.
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_FENCED_RE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1", re.M | re.S)
_INLINE_CODE_RE = re.compile(r"`[^`\n]*`")


def fold(text: str, lang: str) -> str:
    """Lowercase ``text`` the way ``lang`` does (Turkish dotted/dotless i)."""
    # str.replace is C-speed; a translate table is ~10x slower on long text.
    if lang == "tr":
        return text.replace("I", "ı").replace("İ", "i").lower()
    return text.lower().replace("i\u0307", "i")  # "İ".lower() is "i" + combining dot


def words(folded: str) -> list[str]:
    """Word tokens of already-folded text, apostrophe suffixes dropped."""
    if "_" in folded:
        folded = folded.replace("_", " ")
    if "'" in folded or "’" in folded:
        folded = _APOSTROPHE_SUFFIX_RE.sub(r"\1", folded)
    return _WORD_RE.findall(folded)


def detect_language(text: str, default: str = "en") -> str:
    """Guess ``en`` or ``tr`` from Turkish letters and function words.

    Code (fenced blocks, inline code) is left out first: Turkish documents are
    full of English code and comments. Text where Turkish-only letters make up
    more than 0.5 % of the letters is Turkish; otherwise function words decide;
    with no signal at all (a bare keyword query) the ``default`` is returned.
    """
    prose = _INLINE_CODE_RE.sub(" ", _FENCED_RE.sub(" ", text))[:50000]
    letters = sum(1 for ch in prose if ch.isalpha())
    tr_letters = sum(1 for ch in prose if ch in _TURKISH_LETTERS)
    if letters and tr_letters / letters > 0.005:
        return "tr"
    tr_hits = sum(1 for w in words(fold(prose, "tr")) if w in STOPWORDS["tr"])
    en_hits = sum(1 for w in words(fold(prose, "en")) if w in STOPWORDS["en"])
    if tr_hits == 0 and en_hits == 0:
        return "tr" if tr_letters else default
    return "tr" if tr_hits + tr_letters > en_hits else "en"


# Turkish is agglutinative and the Snowball Turkish stemmer over- and under-cuts
# (it turns "ajan" into "aja" but "ajanlar" into "ajan"). Truncating to the first
# four letters (ASCII-folded) conflates inflections of a root far more reliably,
# as found in the Turkish IR literature (Can et al., 2008: "F4/F5" stemming), and
# measured here on the dev set (README, "Retrieval quality").
TURKISH_PREFIX = 4


def _turkish_stem(word: str) -> tuple[str, ...]:
    return (word.translate(_TURKISH_ASCII)[:TURKISH_PREFIX],)


def _cjk_terms(word: str) -> tuple[str, ...]:
    """A token holding Chinese or Japanese text: its character pairs (other parts kept whole)."""
    out: list[str] = []
    pos = 0
    for m in _CJK_RE.finditer(word):
        if m.start() > pos:
            out.append(word[pos : m.start()])
        run = m.group()
        out.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
        pos = m.end()
    if pos < len(word):
        out.append(word[pos:])
    return tuple(out)


class Analyzer:
    """Turns text into index terms; remembers each word's stem per language.

    >>> Analyzer().terms("İSTANBUL'da çalışan modeller", "tr")
    ['ista', 'cali', 'mode']
    """

    max_cached_words = 100_000  # per language; re-stemming a forgotten word is cheap

    def __init__(self) -> None:
        self._stemmers: dict[str, Stemmer.Stemmer | None] = {}
        # lang -> folded surface word -> term ("" for a stopword)
        self._cache: dict[str, dict[str, tuple[str, ...]]] = {}

    def terms(self, text: str, lang: str) -> list[str]:
        """Index terms of ``text`` read as ``lang`` (order kept, stopwords out)."""
        tokens = words(fold(text, lang))
        cache = self._cache.get(lang)
        if cache is None:
            cache = self._cache[lang] = {}
        try:  # the common case once warm: every word already known
            return list(chain.from_iterable(map(cache.__getitem__, tokens)))
        except KeyError:
            if len(cache) > self.max_cached_words:  # bounded memory on huge vocabularies
                cache.clear()
            self._learn(set(tokens).difference(cache), lang, cache)
            return list(chain.from_iterable(map(cache.__getitem__, tokens)))

    def query_terms(self, text: str, lang: str) -> list[str]:
        """Like ``terms``; a query of only stopwords keeps them rather than none."""
        framing = QUESTION_WORDS.get(lang)
        if framing:
            kept = [w for w in words(fold(text, lang)) if w not in framing]
            found = self.terms(" ".join(kept), lang)
        else:
            found = self.terms(text, lang)
        if found:
            return found
        return [t for w in words(fold(text, lang)) for t in self._stem_one(w, lang)]

    def _learn(self, missing: Iterable[str], lang: str, cache: dict[str, tuple[str, ...]]) -> None:
        stop = STOPWORDS.get(lang, frozenset())
        todo = [w for w in missing if w not in stop]
        cache.update(dict.fromkeys(stop.intersection(missing), ()))
        if not all(map(str.isascii, todo)):  # an all-ASCII batch of new words skips the CJK check
            cjk = [w for w in todo if _CJK_RE.search(w)]
            cache.update(zip(cjk, map(_cjk_terms, cjk)))
            todo = [w for w in todo if not _CJK_RE.search(w)]
        if lang == "tr":
            cache.update(zip(todo, map(_turkish_stem, todo)))
            return
        stemmer = self._stemmer(lang)
        stems = stemmer.stemWords(todo) if stemmer is not None else todo
        cache.update(zip(todo, [(stem,) for stem in stems]))

    def _stem_one(self, word: str, lang: str) -> tuple[str, ...]:
        if _CJK_RE.search(word):
            return _cjk_terms(word)
        if lang == "tr":
            return _turkish_stem(word)
        stemmer = self._stemmer(lang)
        return (stemmer.stemWord(word) if stemmer is not None else word,)

    def _stemmer(self, lang: str) -> Stemmer.Stemmer | None:
        if lang not in self._stemmers:
            name = LANGUAGES.get(lang)
            self._stemmers[lang] = Stemmer.Stemmer(name) if name else None
        return self._stemmers[lang]
