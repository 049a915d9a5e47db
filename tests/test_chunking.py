"""Chunking: heading sections, whole blocks, the token budget and the overlap.

Tokens are counted as whitespace-separated words, so every size below can be
checked by eye.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from rag.documents.chunking import TRAIL_SEPARATOR, Chunk, ChunkConfig, chunk_document, split_sections
from rag.documents.loading import Document, Page


def count_words(texts: Sequence[str]) -> list[int]:
    return [len(t.split()) for t in texts]


def doc(text: str, title: str = "Doc Title", markup: str = "markdown", source: str = "doc.md") -> Document:
    return Document(source, title, (Page(text),), markup, "0" * 64)


def chunks_of(text: str, target: int = 300, overlap: int = 0, **kwargs: str) -> list[Chunk]:
    return chunk_document(doc(text, **kwargs), count_words, ChunkConfig(target=target, overlap=overlap))


def body(chunk: Chunk) -> str:
    """The chunk text without the heading line the first chunk of a section starts with."""
    first, _, rest = chunk.text.partition("\n\n")
    return rest if first.lstrip().startswith("#") and rest else chunk.text


# ---------------------------------------------------------------- sections


def test_heading_trail() -> None:
    text = (
        "# Module 4\n\nIntro.\n\n## llama.cpp\n\nAbout it.\n\n### Quantization\n\nFewer bits.\n\n"
        "## Other Tool\n\nSomething else.\n"
    )
    chunks = chunks_of(text)
    by_first_words = {c.text.split("\n\n")[-1]: c for c in chunks}
    quant = by_first_words["Fewer bits."]
    assert quant.heading == ("Module 4", "llama.cpp", "Quantization")
    assert quant.trail == "Module 4 › llama.cpp › Quantization"
    assert TRAIL_SEPARATOR == " › "
    assert by_first_words["Intro."].heading == ("Module 4",)
    assert by_first_words["Something else."].heading == ("Module 4", "Other Tool")  # sibling pops the deeper ones
    assert quant.text.startswith("### Quantization\n\n")


def test_heading_markup_is_cleaned_in_the_trail() -> None:
    (chunk,) = chunks_of("## Using [**llama.cpp**](https://github.com/ggml-org/llama.cpp) `server`\n\nText.\n")
    assert chunk.heading == ("Using llama.cpp server",)


def test_hash_lines_inside_fenced_code_are_not_headings() -> None:
    text = "# Build\n\nRun this:\n\n```bash\n# install the deps\npip install x\n## not a heading either\n```\n\nDone.\n"
    sections = split_sections(text, "markdown", "T")
    assert [s.trail for s in sections] == [("Build",)]
    chunks = chunks_of(text)
    assert {c.heading for c in chunks} == {("Build",)}
    assert any("# install the deps" in c.text for c in chunks)


def test_tilde_fence_and_longer_closing_fence() -> None:
    text = "# A\n\n~~~\n# comment\n~~~~\n\n# B\n\ntext\n"
    assert [s.trail for s in split_sections(text, "markdown", "T")] == [("A",), ("B",)]


def test_preamble_gets_the_document_title_as_trail() -> None:
    chunks = chunks_of("Some words before any heading.\n\n# First\n\nBody.\n", title="My Guide")
    assert chunks[0].heading == ("My Guide",)
    assert chunks[0].text == "Some words before any heading."
    assert chunks[1].heading == ("First",)


def test_plain_markup_is_one_section() -> None:
    text = "# looks like a heading\n\nbut this is plain text\n\n## and so is this\n"
    assert len(split_sections(text, "plain", "Notes")) == 1
    chunks = chunks_of(text, markup="plain", title="Notes")
    assert {c.heading for c in chunks} == {("Notes",)}
    assert chunks[0].text.startswith("# looks like a heading")


def test_empty_sections_make_no_chunks() -> None:
    chunks = chunks_of("# A\n\n## B\n\ntext\n")
    assert [c.heading for c in chunks] == [("A", "B")]


# ---------------------------------------------------------------- blocks and budget


def test_fenced_code_that_fits_stays_whole() -> None:
    code = "```python\ndef f():\n\n    return 1\n\n\nprint(f())\n```"
    text = "# Code\n\n" + "Words before the code block here. " * 3 + "\n\n" + code + "\n\n" + "After the code block. " * 3
    chunks = chunks_of(text, target=12)
    assert sum(code in c.text for c in chunks) == 1
    assert all(c.text.count("```") in (0, 2) for c in chunks)


def test_table_rows_are_never_split() -> None:
    rows = [f"| row {i} | value {i} |" for i in range(12)]
    text = "# Table\n\n" + "\n".join(rows) + "\n"
    chunks = chunks_of(text, target=20)
    assert len(chunks) > 1
    seen = []
    for chunk in chunks:
        for line in body(chunk).split("\n"):
            assert line in rows  # whole rows only
            seen.append(line)
    assert sorted(set(seen), key=rows.index) == rows


def test_chunks_respect_the_target() -> None:
    sentences = [f"Sentence number {i} has exactly seven words." for i in range(40)]
    paragraphs = [" ".join(sentences[i : i + 4]) for i in range(0, 40, 4)]
    text = "# Long\n\n" + "\n\n".join(paragraphs) + "\n\n- item one\n- item two\n"
    chunks = chunks_of(text, target=30, overlap=7)
    assert len(chunks) > 5
    for chunk in chunks:
        assert count_words([body(chunk)])[0] <= 30
    # the heading line is added on top of the first chunk's budget
    assert chunks[0].tokens <= 30 + len("# Long".split())
    assert all(s in "\n".join(c.text for c in chunks) for s in sentences)


def test_single_oversize_sentence_is_cut_into_word_windows() -> None:
    sentence = " ".join(f"w{i}" for i in range(50))
    chunks = chunks_of(sentence, target=10, markup="plain")
    assert all(c.tokens <= 10 for c in chunks)
    assert " ".join(c.text for c in chunks).split() == sentence.split()  # nothing lost or repeated


def test_overlap_carries_the_last_pieces_into_the_next_chunk() -> None:
    sentences = [f"Fact {i} here." for i in range(10)]  # three words each
    text = "# S\n\n" + " ".join(sentences) + "\n\n# T\n\nOther section text.\n"
    chunks = chunks_of(text, target=9, overlap=3)
    s_chunks = [c for c in chunks if c.heading == ("S",)]
    assert len(s_chunks) > 2
    for previous, current in zip(s_chunks, s_chunks[1:]):
        last_sentence = body(previous).split(". ")[-1].rstrip(".") + "."
        assert body(current).startswith(last_sentence)
    # no overlap across sections
    t_chunk = next(c for c in chunks if c.heading == ("T",))
    assert "Fact" not in t_chunk.text


def test_no_overlap_when_overlap_is_zero() -> None:
    sentences = [f"Fact {i} here." for i in range(10)]
    chunks = chunks_of(" ".join(sentences), target=9, overlap=0, markup="plain")
    assert sum(c.tokens for c in chunks) == 30  # every word exactly once


# ---------------------------------------------------------------- chunk fields


def test_pdf_page_number_propagates() -> None:
    document = Document("paper.pdf", "Paper", (Page("First page text.", 3), Page("Next page text.", 4)), "plain", "0" * 64)
    chunks = chunk_document(document, count_words, ChunkConfig(target=50, overlap=0))
    assert [(c.page, c.text) for c in chunks] == [(3, "First page text."), (4, "Next page text.")]
    assert all(c.source == "paper.pdf" and c.title == "Paper" for c in chunks)


def test_non_pdf_chunks_have_no_page() -> None:
    assert {c.page for c in chunks_of("# A\n\ntext\n\n# B\n\nmore\n")} == {None}


@pytest.mark.parametrize(("target", "overlap"), [(8, 0), (8, 3), (20, 5), (300, 30)])
def test_ordinals_and_token_counts(target: int, overlap: int) -> None:
    text = "Preamble words.\n\n# A\n\n" + "One two three four. " * 12 + "\n\n## B\n\n| x | y |\n| 1 | 2 |\n\n```\ncode line\n```\n"
    chunks = chunks_of(text, target=target, overlap=overlap)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert [c.tokens for c in chunks] == count_words([c.text for c in chunks])
    assert all(c.text.strip() for c in chunks)


def test_empty_document_has_no_chunks() -> None:
    assert chunk_document(Document("e.md", "E", (), "markdown", "0" * 64), count_words) == []
