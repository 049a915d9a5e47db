"""The extractive tier: quotable units, and cited quotes picked by the question's rare terms.

``units`` is tested on a hand-written passage; ``extract_answer`` on hits from a
real ``Index`` over the small docs folder (its statistics give the idf weights).
"""

from __future__ import annotations

import re

from pathlib import Path

from rag.extractive import extract_answer, units
from rag.index import Index, open_index
from rag.prompts import NOT_COVERED
from rag.retrieval import search

PASSAGE = """# Setup

Install the runtime first. Then start the service! Does it answer? Check the log.

- The first item is long. It has two sentences.
- Second item

| Device | Memory |
|---|---|
| Raspberry Pi. Small | 8 GB |

```python
print("code is never split.")
x = 1
```

## After the code

The end. Really.
"""


def test_units_split_prose_into_sentences() -> None:
    got = units(PASSAGE)
    for sentence in ["Install the runtime first.", "Then start the service!", "Does it answer?", "Check the log.", "The end.", "Really."]:
        assert sentence in got


def test_units_keep_list_items_and_table_rows_whole() -> None:
    got = units(PASSAGE)
    assert "- The first item is long. It has two sentences." in got
    assert "- Second item" in got
    assert "| Raspberry Pi. Small | 8 GB |" in got
    assert "| Device | Memory |" in got


def test_units_keep_a_code_block_whole_without_its_fences() -> None:
    got = units(PASSAGE)
    assert 'print("code is never split.")\nx = 1' in got
    assert not any("```" in u for u in got)
    assert not any(u.startswith("python") for u in got)


def test_units_skip_headings_and_separator_rows() -> None:
    got = units(PASSAGE)
    joined = "\n".join(got)
    assert not any(u.startswith("#") for u in got)
    assert "Setup" not in joined and "After the code" not in joined
    assert not any(re.fullmatch(r"\|?[-|: ]+\|?", u) for u in got)


def test_units_keep_reading_order() -> None:
    got = units(PASSAGE)
    assert got.index("Install the runtime first.") < got.index("- Second item") < got.index("The end.")


def test_extract_picks_the_sentence_with_the_rare_term(small_index: Index) -> None:
    result = search(small_index, "Which command starts the Foundry service?", 5)
    assert result.confidence.covered
    extract = extract_answer(result.terms, result.hits, small_index.analyzer, small_index.stats, result.lang, True)
    assert extract.covered
    assert extract.text.startswith("From the documents:")
    quoted_units = [u for _, u in extract.quoted]
    assert "Start the service with the foundry service start command." in quoted_units
    n = next(n for n, u in extract.quoted if u.startswith("Start the service"))
    assert result.hits[n - 1].source == "foundry.md"
    assert f"> Start the service with the foundry service start command. [Source {n}]" in extract.text


def test_extract_cites_the_number_of_the_hit_it_quotes(small_index: Index) -> None:
    result = search(small_index, "How much memory does the Jetson Orin have?", 5)
    target = next(i for i, h in enumerate(result.hits) if h.source == "hardware.md")
    other = next(i for i, h in enumerate(result.hits) if h.source != "hardware.md")
    hits = [result.hits[other], result.hits[target]]  # the table is now Source 2
    extract = extract_answer(result.terms, hits, small_index.analyzer, small_index.stats, "en", True)
    assert "> | Jetson Orin | 16 GB | [Source 2]" in extract.text
    assert (2, "| Jetson Orin | 16 GB |") in extract.quoted
    assert "[Source 1]" not in extract.text


def test_a_chosen_sentence_ending_in_a_colon_brings_what_it_introduces(small_docs: Path, write_files) -> None:
    docs = write_files(small_docs, {
        "upgrade.md": "# Upgrade\n\nTo upgrade the zanzibar runtime run this:\n\n```\nzz-tool --apply-all\n```\n\nNothing else changes.\n",
    })
    index, _ = open_index(docs, None)
    result = search(index, "How do I upgrade the zanzibar runtime?", 5)
    extract = extract_answer(result.terms, result.hits, index.analyzer, index.stats, "en", True)
    units_quoted = [u for _, u in extract.quoted]
    assert "To upgrade the zanzibar runtime run this:" in units_quoted
    assert "zz-tool --apply-all" in units_quoted  # no question term: it came with the colon
    assert "```\nzz-tool --apply-all\n```\n[Source 1]" in extract.text
    assert "Nothing else changes." not in units_quoted


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


def test_extract_in_turkish_uses_the_turkish_intro(small_index: Index) -> None:
    result = search(small_index, "Foundry Local kurulumu için hangi komut çalıştırılır?", 5)
    assert result.lang == "tr"
    extract = extract_answer(result.terms, result.hits, small_index.analyzer, small_index.stats, result.lang, True)
    assert extract.text.startswith("Belgelerden:")
    assert any("winget" in u for _, u in extract.quoted)


def test_extract_quotes_at_most_max_units(small_index: Index) -> None:
    result = search(small_index, "quantization quality memory weights", 5)
    extract = extract_answer(result.terms, result.hits, small_index.analyzer, small_index.stats, "en", True, max_units=1)
    assert len(extract.quoted) == 1
    assert extract.text.count("[Source") == 1
