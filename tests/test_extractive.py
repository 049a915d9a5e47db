"""The extractive tier: quotable units, and an answer that reads well.

``units`` is tested on a hand-written passage; ``extract_answer`` on hits from a
real ``Index`` over the small docs folder (its statistics give the idf
weights), and on the repo's own ``corpus/``, where the three questions of issue
13 get their whole answers checked: "How does escalation work?" (once half a
table row with a citation inside a cell), "Which document formats are
supported?" (once the `ungrounded` row of the escalation table) and "What port
does Ollama listen on?" with the small model's draft "11434." (led by it,
verified by the quote).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.search.index import Index, open_index
from rag.search.retrieval import search
from rag.tiers.extractive import Unit, extract_answer, short_phrase, units
from rag.tiers.prompt import NOT_COVERED

CORPUS = Path(__file__).resolve().parents[1] / "corpus"

PASSAGE = """# Setup

Install the runtime first. Then start the service! Does it answer? Check the log.

- The first item is long. It has two sentences.
- Second item
  continues on an indented line

1. **Retrieval.** Your question is matched
   against every passage.

| Device | Memory |
|---|---|
| Raspberry Pi. Small | 8 GB |
| Jetson Orin | 16 GB |

```python
print("code is never split.")
x = 1
```

## After the code

The end. Really.
"""


def texts(got: list[Unit]) -> list[str]:
    return [u.text for u in got]


def test_units_split_prose_into_sentences() -> None:
    got = texts(units(PASSAGE))
    for sentence in ["Install the runtime first.", "Then start the service!", "Does it answer?", "Check the log.", "The end.", "Really."]:
        assert sentence in got


def test_units_keep_list_items_whole_with_their_continuation_lines() -> None:
    got = units(PASSAGE)
    assert "- The first item is long. It has two sentences." in texts(got)
    assert "- Second item continues on an indented line" in texts(got)
    assert "1. **Retrieval.** Your question is matched against every passage." in texts(got)
    assert [u.kind for u in got if u.text.startswith(("- ", "1. "))] == ["item", "item", "item"]
    assert "continues on an indented line" not in texts(got)  # not a sentence of its own


def test_units_carry_the_header_row_of_their_table() -> None:
    rows = [u for u in units(PASSAGE) if u.kind == "row"]
    assert [r.text for r in rows] == ["| Raspberry Pi. Small | 8 GB |", "| Jetson Orin | 16 GB |"]  # the header is no row of its own
    assert all(r.header == "| Device | Memory |\n|---|---|" for r in rows)
    assert rows[0].paragraph == rows[1].paragraph


def test_units_of_a_table_cut_before_its_header_have_none() -> None:
    rows = units("| Jetson Orin | 16 GB |\n| Raspberry Pi | 8 GB |")
    assert [(r.kind, r.header) for r in rows] == [("row", ""), ("row", "")]


def test_units_keep_a_code_block_whole_without_its_fences() -> None:
    code = [u for u in units(PASSAGE) if u.kind == "code"]
    assert [(u.text, u.header) for u in code] == [('print("code is never split.")\nx = 1', "python")]
    assert not any("```" in u for u in texts(units(PASSAGE)))


def test_units_skip_headings_and_mark_the_paragraph_each_opens() -> None:
    got = units(PASSAGE)
    joined = "\n".join(texts(got))
    assert not any(u.startswith("#") for u in texts(got))
    assert "Setup" not in joined and "After the code" not in joined
    assert not any(re.fullmatch(r"\|?[-|: ]+\|?", u) for u in texts(got))
    leads = {u.text: u.lead for u in got if u.lead}
    assert leads == {
        "Install the runtime first.": "Setup", "Then start the service!": "Setup", "Does it answer?": "Setup", "Check the log.": "Setup",
        "The end.": "After the code", "Really.": "After the code",
    }


def test_units_keep_reading_order() -> None:
    got = texts(units(PASSAGE))
    assert got.index("Install the runtime first.") < got.index("- Second item continues on an indented line") < got.index("The end.")


@pytest.mark.parametrize(
    ("draft", "phrase"),
    [
        ("11434.", "11434"),
        ("**11434** [Source 1].", "11434"),
        ("`foundry service start`", "`foundry service start`"),
        ("Python 3.12+", "Python 3.12+"),
        ("Ollama listens on port 11434, which is its default port for the API.", ""),  # a sentence
        (NOT_COVERED["en"], ""),
        ("", ""),
    ],
)
def test_short_phrase(draft: str, phrase: str) -> None:
    assert short_phrase(draft) == phrase


# ---------------------------------------------------------------- on the small docs folder


def test_extract_picks_the_sentence_with_the_rare_term(small_index: Index) -> None:
    result = search(small_index, "Which command starts the Foundry service?", 5)
    assert result.confidence.covered
    extract = extract_answer(result.terms, result.hits, small_index.analyzer, small_index.stats, result.lang, True)
    assert extract.covered
    assert extract.text == "From the documents:\n\n> Start the service with the foundry service start command. [Source 1]"
    assert extract.quoted == [(1, "Start the service with the foundry service start command.")]
    assert result.hits[0].source == "foundry.md"


def test_extract_renders_a_table_row_with_its_header_and_the_citation_below(small_index: Index) -> None:
    result = search(small_index, "How much memory does the Jetson Orin have?", 5)
    target = next(i for i, h in enumerate(result.hits) if h.source == "hardware.md")
    other = next(i for i, h in enumerate(result.hits) if h.source != "hardware.md")
    hits = [result.hits[other], result.hits[target]]  # the table is now Source 2
    extract = extract_answer(result.terms, hits, small_index.analyzer, small_index.stats, "en", True)
    assert "| Device | Memory |\n|---|---|\n| Jetson Orin | 16 GB |\n\n[Source 2]" in extract.text
    assert (2, "| Jetson Orin | 16 GB |") in extract.quoted
    assert "[Source 1]" not in extract.text
    assert not [line for line in extract.text.splitlines() if line.startswith("|") and "Source" in line]  # never inside a cell


def test_a_chosen_sentence_ending_in_a_colon_brings_what_it_introduces(small_docs: Path, write_files) -> None:
    docs = write_files(small_docs, {
        "upgrade.md": "# Upgrade\n\nTo upgrade the zanzibar runtime run this:\n\n```\nzz-tool --apply-all\n```\n\nNothing else changes.\n",
    })
    index, _ = open_index(docs, None)
    result = search(index, "How do I upgrade the zanzibar runtime?", 5)
    extract = extract_answer(result.terms, result.hits, index.analyzer, index.stats, "en", True)
    units_quoted = [u for _, u in extract.quoted]
    assert units_quoted == ["To upgrade the zanzibar runtime run this:", "zz-tool --apply-all"]  # no question term: it came with the colon
    assert extract.text == (
        "From the documents:\n\n> To upgrade the zanzibar runtime run this: [Source 1]\n\n```\nzz-tool --apply-all\n```\n[Source 1]"
    )


def test_a_sentence_introducing_a_list_brings_the_list_quoted_as_one(small_docs: Path, write_files) -> None:
    docs = write_files(small_docs, {
        "stick.md": "# Zanzibar Stick 2\n\nUSB plug-and-play accelerator:\n\n- **Myriad X VPU**\n\n- **Up to 4 TOPS** of "
        "performance\n\n- **USB 3.0 interface** for easy integration\n\nIt fits in a pocket.\n",
    })
    index, _ = open_index(docs, None)
    result = search(index, "What is the Zanzibar Stick 2?", 5)
    extract = extract_answer(result.terms, result.hits, index.analyzer, index.stats, "en", True)
    assert extract.text == (
        "From the documents:\n\n> USB plug-and-play accelerator: [Source 1]\n\n"
        "> - **Myriad X VPU**\n> - **Up to 4 TOPS** of performance\n> - **USB 3.0 interface** for easy integration [Source 1]"
    )


def test_a_weaker_passage_that_only_repeats_a_held_word_is_left_out(small_docs: Path, write_files) -> None:
    """The second unit must continue the first or add a question word: "supported" in an unrelated table is not enough."""
    docs = write_files(small_docs, {
        "formats.md": "# Supported formats\n\nMarkdown, plain text and PDF files. Scanned pages are skipped.\n",
        "checks.md": "# Checks\n\n| Check | Meaning |\n| --- | --- |\n| grounded | The answer is supported by the sources. |\n",
    })
    index, _ = open_index(docs, None)
    result = search(index, "Which formats are supported?", 5)
    extract = extract_answer(result.terms, result.hits, index.analyzer, index.stats, "en", True)
    assert extract.text == "From the documents:\n\n> Markdown, plain text and PDF files. Scanned pages are skipped. [Source 1]"
    assert "grounded" not in extract.text


def test_extract_says_not_covered_when_retrieval_is_not_confident(small_index: Index) -> None:
    result = search(small_index, "Which command starts the Foundry service?", 5)
    en = extract_answer(result.terms, result.hits, small_index.analyzer, small_index.stats, "en", covered=False)
    assert en.text == NOT_COVERED["en"] and en.quoted == [] and not en.covered
    tr = extract_answer(result.terms, result.hits, small_index.analyzer, small_index.stats, "tr", covered=False)
    assert tr.text == NOT_COVERED["tr"] and not tr.covered


def test_extract_with_no_hits_or_no_matching_unit_is_not_covered(small_index: Index) -> None:
    result = search(small_index, "Which command starts the Foundry service?", 5)
    assert extract_answer(result.terms, [], small_index.analyzer, small_index.stats, "en", True).text == NOT_COVERED["en"]
    nothing = extract_answer(["zebra"], result.hits, small_index.analyzer, small_index.stats, "en", True)
    assert nothing.text == NOT_COVERED["en"] and not nothing.covered


def test_extract_in_turkish_uses_the_turkish_lead(small_index: Index) -> None:
    result = search(small_index, "Foundry Local kurulumu için hangi komut çalıştırılır?", 5)
    assert result.lang == "tr"
    extract = extract_answer(result.terms, result.hits, small_index.analyzer, small_index.stats, result.lang, True, terms_by_lang=result.terms_by_lang)
    assert extract.text == "Belgelerden:\n\n> Foundry Local kurulumu için winget komutunu çalıştırın. [Source 1]"


def test_each_passage_is_matched_with_the_question_in_its_own_language(tmp_path: Path, write_files) -> None:
    """An English question over a Turkish page: the page's units are read with the question's Turkish terms."""
    docs = write_files(tmp_path / "docs", {
        "servis.md": "# Servis\n\nServisi başlatmak için `foundry service start` komutunu çalıştırın. Kapatmak için bilgisayarı yeniden başlatın.\n",
        "notlar.md": "# Notlar\n\nBu klasörde Türkçe notlar vardır ve hepsi kısadır.\n",
        "notes.md": "# Notes\n\nThe English notes of this folder are about the office kitchen and the plants.\n",
    })
    index, _ = open_index(docs, None)
    result = search(index, "How do I start the Foundry Local service?", 5)
    assert result.lang == "en" and result.hits[0].lang == "tr" and set(result.terms_by_lang) == {"en", "tr"}
    extract = extract_answer(result.terms, result.hits, index.analyzer, index.stats, "en", True, terms_by_lang=result.terms_by_lang)
    assert extract.text == "From the documents:\n\n> Servisi başlatmak için `foundry service start` komutunu çalıştırın. [Source 1]"
    # read with the English terms only, the Turkish page shares no term with the question
    english_only = extract_answer(result.terms, result.hits, index.analyzer, index.stats, "en", True)
    assert english_only.text == NOT_COVERED["en"]


def test_extract_quotes_at_most_max_units(small_index: Index) -> None:
    result = search(small_index, "quantization quality memory weights", 5)
    extract = extract_answer(result.terms, result.hits, small_index.analyzer, small_index.stats, "en", True, max_units=1)
    assert len(extract.quoted) == 1
    assert extract.text.count("[Source") == 1


# ---------------------------------------------------------------- the repo's corpus/: issue 13's three questions


@pytest.fixture(scope="module")
def corpus_index() -> Index:
    index, _ = open_index(CORPUS, None)
    return index


def ask(index: Index, question: str, draft: str = ""):
    result = search(index, question, 5)
    return result, extract_answer(result.terms, result.hits, index.analyzer, index.stats, result.lang, result.confidence.covered,
                                  terms_by_lang=result.terms_by_lang, draft=draft)


def test_how_does_escalation_work_is_answered_by_the_sections_opening_sentences(corpus_index: Index) -> None:
    result, extract = ask(corpus_index, "How does escalation work?")
    assert result.hits[0].source == "04-escalation.md"
    assert extract.text == (
        "From the documents:\n\n"
        "> The small model answers every question first. After its answer is complete, a policy decides whether the big "
        "model must take over. The decision is made *after seeing the answer*, so easy questions stay fast and cheap. [Source 1]"
    )
    assert "|" not in extract.text  # no half table row, no citation inside a cell


def test_which_formats_are_supported_quotes_the_supported_documents_section(corpus_index: Index) -> None:
    result, extract = ask(corpus_index, "Which document formats are supported?")
    assert extract.text == (
        "From the documents:\n\n"
        "> Markdown (`.md`), plain text (`.txt`), reStructuredText (`.rst`), HTML (`.html`), PDF (`.pdf`, with a text layer) "
        "and Word (`.docx`). A file that cannot be read is skipped with the reason, and the rest are still indexed. [Source 1]"
    )
    assert result.hits[0].source == "01-what-it-does.md"
    assert "ungrounded" not in extract.text and "|" not in extract.text


def test_the_small_models_short_answer_leads_when_a_quote_verifies_it(corpus_index: Index) -> None:
    _, extract = ask(corpus_index, "What port does Ollama listen on?", draft="11434.")
    assert extract.text == (
        "**11434** — “Ollama listens on port 11434.” [Source 1]\n\n"
        "*The small model's answer, verified: the quoted source says it word for word.*"
    )
    assert extract.verified == "11434" and extract.quoted == [(1, "Ollama listens on port 11434.")]


@pytest.mark.parametrize(
    "draft",
    [
        "5273",  # in the documents, but only in a sentence about Foundry Local: that verifies nothing about Ollama
        "Ollama",  # repeats the question
        "11435",  # in no source
        "Ollama listens on port 11434 by default, as its documentation says.",  # a sentence, not a phrase
    ],
)
def test_a_draft_the_quotes_do_not_verify_does_not_lead(corpus_index: Index, draft: str) -> None:
    _, extract = ask(corpus_index, "What port does Ollama listen on?", draft=draft)
    assert extract.text == "From the documents:\n\n> Ollama listens on port 11434. [Source 1]"
    assert extract.verified == ""


def test_a_verified_command_leads_its_code_block(corpus_index: Index) -> None:
    _, extract = ask(corpus_index, "Which command starts Foundry Local?", draft="`foundry service start`")
    assert extract.text.startswith("**`foundry service start`** —\n\n```bash\nfoundry service start\nfoundry model run phi-4-mini\n```\n[Source 1]")
    assert extract.text.endswith("*The small model's answer, verified: the quoted source says it word for word.*")


def test_a_turkish_question_gets_a_turkish_lead_and_the_turkish_section(corpus_index: Index) -> None:
    result, extract = ask(corpus_index, "Yükseltme nasıl çalışır?")
    assert result.lang == "tr"
    assert extract.text.startswith("Belgelerden:\n\n> Önce küçük model yanıt verir. Yanıt kısa, emin olmayan veya kaynaklarla desteklenmeyen")
    _, verified = ask(corpus_index, "Hangi model varsayılan olarak büyük modeldir?", draft="gpt-oss-20b")
    assert verified.text.endswith("*Küçük modelin yanıtı, doğrulandı: alıntılanan kaynak bunu aynen söylüyor.*")
