"""Analysis: language-aware case folding, tokens, stopwords, stemming and language detection."""

from __future__ import annotations

import pytest

from rag.search.analysis import Analyzer, detect_language, fold, fold_accents, identifiers, words


@pytest.fixture
def analyzer() -> Analyzer:
    return Analyzer()


# ---------------------------------------------------------------- folding


def test_turkish_case_folding() -> None:
    assert fold("İSTANBUL", "tr") == "istanbul"
    assert fold("IŞIK", "tr") == "ışık"


def test_non_turkish_folding_keeps_dotted_capital_i_plain() -> None:
    assert fold("İSTANBUL", "en") == "istanbul"  # no stray combining dot
    assert fold("LIGHT", "en") == "light"


def test_turkish_uppercase_query_matches_lowercase_text(analyzer: Analyzer) -> None:
    assert analyzer.terms("İSTANBUL", "tr") == analyzer.terms("istanbul", "tr") != []


# ---------------------------------------------------------------- Turkish terms


def test_turkish_inflections_conflate(analyzer: Analyzer) -> None:
    firsts = {analyzer.terms(word, "tr")[0] for word in ("araç", "aracı", "araçları")}
    assert len(firsts) == 1


def test_ascii_typed_turkish_matches_turkish_letters(analyzer: Analyzer) -> None:
    # "nasıl" is a stopword, so compare the content word.
    assert analyzer.terms("çalışır", "tr") == analyzer.terms("calisir", "tr") != []
    assert analyzer.terms("nasil calisir", "tr")[-1] == analyzer.terms("nasıl çalışır", "tr")[-1]


def test_turkish_stopwords_are_indexed_but_not_content(analyzer: Analyzer) -> None:
    assert analyzer.terms("ve", "tr") == ["ve"]
    assert analyzer.content_terms("ve için", "tr") == []
    assert analyzer.content_terms("model ve araç için", "tr") == analyzer.content_terms("model araç", "tr") == ["mode", "arac"]


# ---------------------------------------------------------------- English terms


def test_english_stemming(analyzer: Analyzer) -> None:
    assert analyzer.terms("running models", "en") == analyzer.terms("run model", "en") == ["run", "model"]


def test_english_stopwords_are_indexed_but_not_content(analyzer: Analyzer) -> None:
    """A document keeps every word (so "to be or not to be" can be found); checks and queries leave stopwords out."""
    assert analyzer.terms("what is the model", "en") == ["what", "is", "the", "model"]
    assert analyzer.content_terms("what is the model", "en") == ["model"]
    assert analyzer.content_terms("the what", "en") == []


@pytest.mark.parametrize("lang", ["en", "tr"])
def test_apostrophe_suffix_dropped(analyzer: Analyzer, lang: str) -> None:
    assert words(fold("Foundry Local'ın", lang)) == ["foundry", "local"]
    assert analyzer.terms("Foundry Local'ın", lang) == analyzer.terms("foundry local", lang)


def test_quoted_words_are_kept() -> None:
    # An opening quote is not an apostrophe suffix: the word after it stays.
    assert words("say 'hello' to ‘model’ now") == ["say", "hello", "to", "model", "now"]
    assert words("local'ın'da x") == ["local", "x"]


def test_words_are_unicode_letters_and_digits() -> None:
    assert words("phi-4 mini_instruct, v2.1!") == ["phi", "4", "mini", "instruct", "v2", "1"]


# ---------------------------------------------------------------- query terms


@pytest.mark.parametrize(("query", "lang"), [("what is the", "en"), ("ve için", "tr"), ("to be or not to be", "en")])
def test_stopword_only_query_keeps_its_words(analyzer: Analyzer, query: str, lang: str) -> None:
    assert analyzer.content_terms(query, lang) == []
    assert analyzer.query_terms(query, lang) == analyzer.terms(query, lang)
    assert len(analyzer.query_terms(query, lang)) == len(query.split())


def test_stopwords_of_either_language_are_dropped_from_a_query_with_content(analyzer: Analyzer) -> None:
    """A question is analyzed for every language of the index: English glue words must not become Turkish terms."""
    assert analyzer.query_terms("How do I start the service?", "tr") == analyzer.content_terms("start service", "tr")


def test_query_terms_equal_terms_when_there_is_content(analyzer: Analyzer) -> None:
    assert analyzer.query_terms("how do I run the model", "en") == ["run", "model"]


def test_unstemmed_language_still_yields_tokens(analyzer: Analyzer) -> None:
    assert analyzer.terms("Το Μοντέλο τρέχει", "el") == ["το", "μοντελο", "τρεχει"]  # Greek accents folded
    assert analyzer.terms("模型 运行", "zh") == ["模型", "运行"]


# ---------------------------------------------------------------- any spelling


@pytest.mark.parametrize(
    ("typed", "written", "lang"),
    [
        ("Geneve", "Genève", "en"),
        ("cafe", "café", "en"),
        ("yazici kurulumu", "yazıcı kurulumu", "tr"),
        ("Izmir subesi", "İzmir şubesi", "tr"),
        ("Izmir subesi", "İzmir şubesi", "en"),  # Turkish names inside an English text
        ("sube", "ŞUBE", "tr"),
        ("μόντελο", "ΜΟΝΤΕΛΟ", "el"),
        ("strasse", "straße", "en"),
    ],
)
def test_text_typed_without_diacritics_matches_text_with_them(analyzer: Analyzer, typed: str, written: str, lang: str) -> None:
    assert analyzer.terms(typed, lang) == analyzer.terms(written, lang)


def test_diacritics_of_other_scripts_are_left_alone() -> None:
    assert fold_accents("नमस्ते") == "नमस्ते"  # Devanagari vowel signs are letters of their own
    assert fold_accents("مرحبا") == "مرحبا"
    assert fold_accents("Ağrı Dağı") == "Agri Dagi"


@pytest.mark.parametrize("lang", ["en", "tr"])
def test_identifiers_are_also_indexed_whole_and_unstemmed(analyzer: Analyzer, lang: str) -> None:
    terms = analyzer.terms("Run chat_bootstrap.py with gpt-oss-20b on 127.0.0.1 and RAG_SLM_BASE_URL.", lang)
    for whole in ("chat_bootstrap.py", "gpt-oss-20b", "127.0.0.1", "rag_slm_base_url"):
        assert whole in terms
    assert "bootstrap" in terms or "boot" in terms  # the parts are words too
    assert identifiers("x.") == [] and identifiers("a - b") == []


# ---------------------------------------------------------------- language detection


def test_detect_turkish_sentence() -> None:
    assert detect_language("Bu modeli yerel bilgisayarda nasıl çalıştırabilirim?") == "tr"


def test_detect_english_sentence() -> None:
    assert detect_language("How can I run this model on my own computer?") == "en"


def test_turkish_document_full_of_english_code_is_turkish() -> None:
    code = "```python\n" + "# load the model and run it with the tokenizer\nmodel = load_model('phi')\nprint(model.generate(prompt))\n" * 40 + "```\n"
    doc = "# Kurulum\n\nModeli indirip yerel olarak çalıştırın ve sonuçları kontrol edin.\n\n" + code + "\nBu adım `pip install` ile yapılır.\n"
    assert detect_language(doc) == "tr"
    assert detect_language(code) == "en"  # the same code alone reads as English


@pytest.mark.parametrize("default", ["en", "tr"])
def test_bare_keyword_gets_the_default(default: str) -> None:
    assert detect_language("llama.cpp", default=default) == default


# ---------------------------------------------------------------- the stem cache


def test_each_distinct_word_is_stemmed_once(analyzer: Analyzer) -> None:
    text = "The runners run and the runner runs; models run. " * 50
    first = analyzer.terms(text, "en")
    distinct = set(words(fold(text, "en")))
    assert len(analyzer._cache["en"]) == len(distinct)
    assert analyzer.terms(text, "en") == first
    assert len(analyzer._cache["en"]) == len(distinct)  # nothing new learnt
    assert "tr" not in analyzer._cache


class CountingStemmer:
    """A stand-in for PyStemmer that records every word it is asked to stem."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def stemWords(self, batch: list[str]) -> list[str]:  # PyStemmer's name
        self.seen.extend(batch)
        return [w.rstrip("s") for w in batch]

    def stemWord(self, word: str) -> str:  # PyStemmer's name
        self.seen.append(word)
        return word.rstrip("s")


def test_stemmer_sees_each_word_once(analyzer: Analyzer) -> None:
    stemmer = CountingStemmer()
    analyzer._stemmers["en"] = stemmer
    text = "models run models; the runner runs models"
    assert analyzer.content_terms(text, "en") == ["model", "run", "model", "runner", "run", "model"]
    analyzer.terms(text + " " + text, "en")
    assert sorted(stemmer.seen) == ["models", "run", "runner", "runs", "the"]


def test_one_analyzer_is_safe_to_share_between_threads() -> None:
    """Uploads are analyzed in worker threads while searches analyze questions on the event loop.

    A small cache bound makes the threads replace the cache many times while
    others read it; every call must still return exactly what a private
    analyzer returns (before, a cleared cache raised KeyError mid-lookup, and
    PyStemmer was called from two threads at once).
    """
    import threading
    import time

    shared = Analyzer()
    shared.max_cached_words = 50

    class OneAtATime:
        """PyStemmer's English stemmer, refusing to be entered by a second thread while one is inside."""

        def __init__(self, inner) -> None:
            self.inner, self.busy, self.calls = inner, threading.Lock(), 0

        def stemWords(self, batch: list[str]) -> list[str]:  # PyStemmer's name
            if not self.busy.acquire(blocking=False):
                raise AssertionError("the stemmer was called from two threads at once")
            try:
                self.calls += 1
                time.sleep(0.001)  # widen the window a concurrent call would fall into
                return self.inner.stemWords(batch)
            finally:
                self.busy.release()

    guard = OneAtATime(shared._stemmer("en"))
    shared._stemmers["en"] = guard
    texts = [" ".join(f"w{t}x{i} running models çalışan araçlar" for i in range(120)) for t in range(6)]
    expected = {(t, lang): Analyzer().terms(text, lang) for t, text in enumerate(texts) for lang in ("en", "tr")}
    errors: list[BaseException] = []
    wrong: list[tuple[int, str]] = []

    def work(t: int) -> None:
        try:
            for _ in range(15):
                for lang in ("en", "tr"):
                    if shared.terms(texts[t], lang) != expected[(t, lang)]:
                        wrong.append((t, lang))
                    shared.query_terms(texts[(t + 1) % len(texts)][:200], lang)
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and wrong == []
    assert guard.calls > 10  # the cache was replaced and words re-stemmed many times, one thread at a time
    assert all(len(cache) <= shared.max_cached_words + 800 for cache in shared._cache.values())


def test_question_framing_words_are_dropped_from_queries_only() -> None:
    """'I think I've found...' frames a question; in a document 'think' is content."""
    analyzer = Analyzer()
    query = analyzer.query_terms("I think I've found a security hole", "en")
    assert "think" not in query and "secur" in query and "hole" in query
    assert "think" in analyzer.terms("Think before you deploy", "en")
    tr_query = analyzer.query_terms("Araçları bir türlü kullanmıyor. Neyi kontrol etmeliyim?", "tr")
    assert tr_query == analyzer.content_terms("Araçları kullanmıyor kontrol", "tr")


def test_a_query_of_only_framing_words_still_has_terms() -> None:
    assert Analyzer().query_terms("just wondering", "en")


@pytest.mark.parametrize(("typed", "written"), [("m2", "m²"), ("h2o", "H₂O"), ("10 6", "10⁻⁶")])
def test_superscripts_kept_in_the_text_are_folded_for_search(analyzer: Analyzer, typed: str, written: str) -> None:
    assert analyzer.terms(typed, "en") == analyzer.terms(written, "en")
