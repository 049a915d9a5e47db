"""Analysis: language-aware case folding, tokens, stopwords, stemming and language detection."""

from __future__ import annotations

import pytest

from rag.analysis import Analyzer, detect_language, fold, words


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


def test_turkish_stopwords_removed(analyzer: Analyzer) -> None:
    assert analyzer.terms("ve", "tr") == []
    assert analyzer.terms("için", "tr") == []
    assert analyzer.terms("model ve araç için", "tr") == analyzer.terms("model araç", "tr")


# ---------------------------------------------------------------- English terms


def test_english_stemming(analyzer: Analyzer) -> None:
    assert analyzer.terms("running models", "en") == analyzer.terms("run model", "en") == ["run", "model"]


def test_english_stopwords_removed(analyzer: Analyzer) -> None:
    assert analyzer.terms("what is the model", "en") == ["model"]
    assert analyzer.terms("the what", "en") == []


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


@pytest.mark.parametrize(("query", "lang"), [("what is the", "en"), ("ve için", "tr")])
def test_stopword_only_query_keeps_its_words(analyzer: Analyzer, query: str, lang: str) -> None:
    assert analyzer.terms(query, lang) == []
    assert len(analyzer.query_terms(query, lang)) == len(query.split())


def test_query_terms_equal_terms_when_there_is_content(analyzer: Analyzer) -> None:
    assert analyzer.query_terms("how do I run the model", "en") == ["run", "model"]


def test_unstemmed_language_still_yields_tokens(analyzer: Analyzer) -> None:
    assert analyzer.terms("Το Μοντέλο τρέχει", "el") == ["το", "μοντέλο", "τρέχει"]
    assert analyzer.terms("模型 运行", "zh") == ["模型", "运行"]


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

    def stemWords(self, batch: list[str]) -> list[str]:  # noqa: N802 (PyStemmer's name)
        self.seen.extend(batch)
        return [w.rstrip("s") for w in batch]

    def stemWord(self, word: str) -> str:  # noqa: N802
        self.seen.append(word)
        return word.rstrip("s")


def test_stemmer_sees_each_content_word_once(analyzer: Analyzer) -> None:
    stemmer = CountingStemmer()
    analyzer._stemmers["en"] = stemmer
    text = "models run models; the runner runs models"
    assert analyzer.terms(text, "en") == ["model", "run", "model", "runner", "run", "model"]
    analyzer.terms(text + " " + text, "en")
    assert sorted(stemmer.seen) == ["models", "run", "runner", "runs"]  # "the" is a stopword


def test_question_framing_words_are_dropped_from_queries_only() -> None:
    """'I think I've found...' frames a question; in a document 'think' is content."""
    analyzer = Analyzer()
    query = analyzer.query_terms("I think I've found a security hole", "en")
    assert "think" not in query and "secur" in query and "hole" in query
    assert "think" in analyzer.terms("Think before you deploy", "en")
    tr_query = analyzer.query_terms("Araçları bir türlü kullanmıyor. Neyi kontrol etmeliyim?", "tr")
    assert tr_query == analyzer.terms("Araçları kullanmıyor kontrol", "tr")


def test_a_query_of_only_framing_words_still_has_terms() -> None:
    assert Analyzer().query_terms("just wondering", "en")
