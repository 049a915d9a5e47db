"""What BM25 sees: text -> language -> folded, stemmed terms.

The same ``Analyzer`` turns documents and queries into terms, so a query word
matches the passages that contain any inflection of it. Per language:

- case folding that is right for the language: in Turkish ``I -> ı`` and
  ``İ -> i`` ("İSTANBUL" matches "istanbul"); everywhere else ``İ -> i``;
- Unicode word tokens (letters and digits); a suffix after an apostrophe is
  dropped ("Foundry Local'ın" -> "foundry", "local");
- diacritics of Latin and Greek letters folded ("Genève" = "Geneve",
  "şube" = "sube"), so text typed without them matches text with them;
- Snowball stemming (PyStemmer); stopwords are indexed like any word, but
  left out of a question that has other words (``query_terms``);
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
import threading
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from itertools import chain

import Stemmer

from rag.search.stopwords import QUESTION_WORDS, STOPWORDS

__all__ = ["LANGUAGES", "Analyzer", "detect_language", "fold", "fold_accents", "words"]

ALL_STOPWORDS = frozenset().union(*STOPWORDS.values())
ALL_QUESTION_WORDS = frozenset().union(*QUESTION_WORDS.values())
_NOT_CONTENT = ALL_STOPWORDS | ALL_QUESTION_WORDS

# Languages we stem; any other text is folded and tokenized only.
LANGUAGES = {"en": "english", "tr": "turkish"}

_WORD_RE = re.compile(r"\w+")  # "_" is replaced by a space first: \w+ is the fastest scan
_APOSTROPHE_SUFFIX_RE = re.compile(r"(\w)(?:['’]\w+)+")  # after a letter: not an opening quote
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


# Letters that carry no diacritic to strip but have a usual unaccented spelling.
_EXTRA_FOLDS = str.maketrans({"ı": "i", "ø": "o", "đ": "d", "ł": "l", "ħ": "h", "ŧ": "t", "ß": "ss", "æ": "ae", "œ": "oe", "þ": "th"})


@lru_cache(maxsize=4096)
def _fold_letter(ch: str) -> str:
    """A Latin or Greek letter without its diacritics (é -> e, ş -> s, ά -> α); others unchanged."""
    name = unicodedata.name(ch, "")
    if not name.startswith(("LATIN", "GREEK")):
        return ch
    base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
    return base or ch


def fold_accents(word: str) -> str:
    """``word`` with the diacritics of Latin and Greek letters removed ("Genève" -> "Geneve", "şube" -> "sube").

    Scripts whose marks are letters of their own (Devanagari, Arabic, ...) are left alone.
    """
    return "".join(map(_fold_letter, word.translate(_EXTRA_FOLDS)))


# Names, commands and identifiers written as one token with inner punctuation:
# chat_bootstrap.py, gpt-oss-20b, RAG_SLM_BASE_URL, phi-4-mini, 127.0.0.1, v1/models.
_IDENTIFIER_RE = re.compile(r"\b\w+(?:[._\-/:@+]\w+)+")  # \b: 2x faster, same matches
_MAX_IDENTIFIER = 64


def identifiers(folded: str) -> list[str]:
    """Whole identifiers in already-folded text, unstemmed (diacritics folded), as extra terms.

    Their parts are ordinary words too; the whole form is a rare, exact term that
    matches in any language, since it is never stemmed.
    """
    found = _IDENTIFIER_RE.findall(folded)
    return [f if f.isascii() else fold_accents(f) for f in found if len(f) <= _MAX_IDENTIFIER]


_FOLDED_STOPWORDS: dict[frozenset[str], frozenset[str]] = {}


def is_stopword(word: str, stopwords: frozenset[str] = ALL_STOPWORDS) -> bool:
    """Is the folded ``word`` in ``stopwords`` (of any language), however it was case-folded?

    English "I" read as Turkish is "ı"; Turkish "için" typed without its cedilla is "icin".
    """
    if word in stopwords:
        return True
    folded = _FOLDED_STOPWORDS.get(stopwords)
    if folded is None:
        folded = _FOLDED_STOPWORDS[stopwords] = frozenset(fold_accents(w) for w in stopwords)
    return (word if word.isascii() else fold_accents(word)) in folded


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
# measured here on the dev set (docs/retrieval.md).
TURKISH_PREFIX = 4


def _turkish_stem(word: str) -> tuple[str, ...]:
    """The first four letters of an already accent-folded word."""
    return (word[:TURKISH_PREFIX],)


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
    """Turns text into index terms; remembers each word's terms per language.

    Three views of the same analysis:

    - ``terms``: every word (stopwords included), what the index holds, so a
      question made only of stopwords ("to be or not to be") can still match;
    - ``content_terms``: without stopwords of any language we know (what the
      answer checks compare);
    - ``query_terms``: content terms without question-framing words; when that
      leaves nothing, every word of the question.

    Safe to share between threads: a word is looked up lock-free; learning new
    words (and calling the stemmer, which must not run concurrently) happens
    under a lock, and a full cache is replaced by a new dict, never cleared, so
    a reader holding the old one is never surprised.

    >>> Analyzer().content_terms("İSTANBUL'da çalışan modeller", "tr")
    ['ista', 'cali', 'mode']
    """

    max_cached_words = 100_000  # per language; re-stemming a forgotten word is cheap

    def __init__(self) -> None:
        self._stemmers: dict[str, Stemmer.Stemmer | None] = {}
        # lang -> folded surface word -> its terms
        self._cache: dict[str, dict[str, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def terms(self, text: str, lang: str) -> list[str]:
        """Index terms of ``text`` read as ``lang``: every word, then the whole identifiers."""
        folded = fold(text, lang)
        return list(chain.from_iterable(self._lookup(words(folded), lang))) + identifiers(folded)

    def content_terms(self, text: str, lang: str) -> list[str]:
        """Like ``terms``, without the stopwords of any language."""
        folded = fold(text, lang)
        tokens = [w for w in words(folded) if not is_stopword(w)]
        return list(chain.from_iterable(self._lookup(tokens, lang))) + identifiers(folded)

    def query_terms(self, text: str, lang: str) -> list[str]:
        """Terms of a question: stopwords and question-framing words dropped, unless nothing else is left."""
        folded = fold(text, lang)
        tokens = words(folded)
        kept = [w for w in tokens if not is_stopword(w, _NOT_CONTENT)]
        return list(chain.from_iterable(self._lookup(kept or tokens, lang))) + identifiers(folded)

    def _lookup(self, tokens: list[str], lang: str) -> list[tuple[str, ...]]:
        cache = self._cache.get(lang)
        if cache is not None:
            try:  # the common case once warm: every word already known
                return list(map(cache.__getitem__, tokens))
            except KeyError:
                pass
        with self._lock:
            cache = self._cache.get(lang)
            if cache is None or len(cache) > self.max_cached_words:  # bounded memory on huge vocabularies
                cache = self._cache[lang] = {}
            missing = set(tokens).difference(cache)
            if missing:
                cache.update(self._learn(missing, lang))
            return list(map(cache.__getitem__, tokens))

    def _learn(self, missing: Iterable[str], lang: str) -> dict[str, tuple[str, ...]]:
        """Terms of new words (called under the lock: the stemmer is not thread-safe)."""
        learned: dict[str, tuple[str, ...]] = {}
        todo = list(missing)
        if not all(map(str.isascii, todo)):  # an all-ASCII batch of new words skips the CJK check and folding
            cjk = [w for w in todo if _CJK_RE.search(w)]
            learned.update(zip(cjk, map(_cjk_terms, cjk)))
            todo = [w for w in todo if not _CJK_RE.search(w)]
        # superscripts, subscripts and fractions are kept in the text (rag.documents.normalize): fold them for search
        folded = [w if w.isascii() else fold_accents(unicodedata.normalize("NFKC", w)) for w in todo]
        if lang == "tr":
            learned.update(zip(todo, map(_turkish_stem, folded)))
            return learned
        stemmer = self._stemmer(lang)
        stems = stemmer.stemWords(folded) if stemmer is not None else folded
        learned.update(zip(todo, [(stem,) for stem in stems]))
        return learned

    def _stemmer(self, lang: str) -> Stemmer.Stemmer | None:
        if lang not in self._stemmers:
            name = LANGUAGES.get(lang)
            self._stemmers[lang] = Stemmer.Stemmer(name) if name else None
        return self._stemmers[lang]
