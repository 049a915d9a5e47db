"""Every chunk stays within the token budget, whatever the text, and no text is lost.

Counted with the real tokenizer (tiktoken, ``rag.documents.tokens``): the budget is about
tokens, and text without spaces (base64, Chinese) is where a word-based split
fails. The property test generates many documents from a seed and checks, for
every chunk: its count, and the real count of its text, are within the budget;
no U+FFFD appears; and with no overlap the chunks, put back together, hold every
character of the input in order (whitespace aside).
"""

from __future__ import annotations

import base64
import random
import re

import pytest

from rag.documents.chunking import Chunk, ChunkConfig, chunk_document
from rag.documents.formats.canonical import match_heading
from rag.documents.loading import Document, Page, load_bytes
from rag.documents.tokens import count_tokens

CHINESE = "本系统的日志文件每天凌晨自动压缩并上传到归档服务器，管理员可以在控制台查看上传状态和失败原因。"


def chunks_of(text: str, target: int, overlap: int = 0, markup: str = "markdown") -> list[Chunk]:
    return chunk_document(Document("d.md", "Doc", (Page(text),), markup, "0" * 64), count_tokens, ChunkConfig(target, overlap))


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def assert_within_budget(chunks: list[Chunk], target: int) -> None:
    real = count_tokens([c.text for c in chunks])
    for chunk, exact in zip(chunks, real):
        assert chunk.tokens <= target, (chunk.tokens, chunk.text[:80])
        assert exact <= target, (exact, chunk.text[:80])
        assert "\ufffd" not in chunk.text


# ---------------------------------------------------------------- the c12 instances


def test_a_20000_character_base64_line_is_cut_into_chunks_within_the_budget() -> None:
    line = base64.b64encode(random.Random(12).randbytes(15_000)).decode()  # 20,000 characters, no space
    text = "# Release artefact checksums\n\nThe signing key for release builds is embedded below.\n\n" + line + "\n"
    doc = load_bytes("artefacts.md", text.encode())
    chunks = chunk_document(doc, count_tokens, ChunkConfig(target=300, overlap=0))
    assert len(chunks) > 20  # ~14,500 tokens: one chunk of it was the fault
    assert_within_budget(chunks, 300)
    assert squeeze("".join(c.text for c in chunks)) == squeeze(doc.pages[0].text)  # every character, in order
    assert {c.heading for c in chunks} == {("Release artefact checksums",)}


def test_chinese_without_spaces_is_cut_at_full_stops_within_the_budget() -> None:
    text = "# 日志归档\n\n" + CHINESE * 60 + "\n"
    chunks = chunks_of(text, 300)
    assert len(chunks) > 3
    assert_within_budget(chunks, 300)
    # sentences end at 。: every chunk after the first starts a sentence
    assert all(c.text.startswith("本系统") for c in chunks[1:])
    assert squeeze("".join(c.text for c in chunks)) == squeeze(text)


def test_chinese_without_any_punctuation_is_cut_by_tokens() -> None:
    text = "日志文件自动压缩上传归档服务器" * 200  # no 。 no space: only a cut by tokens can fit it
    chunks = chunks_of(text, 50, markup="plain")
    assert len(chunks) > 10
    assert_within_budget(chunks, 50)
    assert "".join(c.text for c in chunks) == text


def test_a_cut_never_separates_a_letter_from_its_combining_mark() -> None:
    word = "e\u0301" * 400  # é written as two code points, no space
    chunks = chunks_of(word, 20, markup="plain")
    assert len(chunks) > 2
    assert all(not c.text[0] == "\u0301" for c in chunks)
    assert "".join(c.text for c in chunks) == word


def test_the_heading_line_does_not_push_the_first_chunk_over_the_budget() -> None:
    heading = "# " + " ".join(f"heading{i}" for i in range(4))  # 13 tokens
    body = " ".join(f"word{i}" for i in range(400))
    chunks = chunks_of(heading + "\n\n" + body + "\n", 60)
    assert chunks[0].text.startswith(heading)
    assert_within_budget(chunks, 60)


def test_a_heading_line_longer_than_a_quarter_of_the_budget_is_shortened_in_the_text_not_in_the_trail() -> None:
    words = [f"topic{i}" for i in range(80)]
    chunks = chunks_of("# " + " ".join(words) + "\n\nShort body.\n", 40)
    assert_within_budget(chunks, 40)
    assert chunks[0].heading == (" ".join(words),)  # the trail keeps it whole (and BM25 indexes the trail)
    assert chunks[0].text.endswith("Short body.")


# ---------------------------------------------------------------- tables split across chunks


def test_a_long_table_repeats_its_header_row_in_every_chunk() -> None:
    header = "| Host | Port | Owner |\n| --- | --- | --- |"
    rows = [f"| host{i}.example | {8000 + i} | team {i % 7} |" for i in range(80)]
    chunks = chunks_of("# Inventory\n\n" + header + "\n" + "\n".join(rows) + "\n", 80, overlap=10)
    assert len(chunks) > 5
    assert_within_budget(chunks, 80)
    for chunk in chunks:
        body = chunk.text.split("\n\n", 1)[1] if chunk.text.startswith("# ") else chunk.text
        assert body.startswith(header + "\n| host"), body[:60]
        assert sum(line.startswith("| Host ") for line in body.split("\n")) == 1
    seen = {line for c in chunks for line in c.text.split("\n")}
    assert set(rows) <= seen


def test_a_table_that_fits_is_one_piece_with_its_header_once() -> None:
    text = "| a | b |\n| --- | --- |\n| 1 | 2 |\n"
    (chunk,) = chunks_of(text, 300)
    assert chunk.text == text.strip()


# ---------------------------------------------------------------- property test

_WORDS = ["the", "model", "quantization", "llama.cpp", "Foundry", "İstanbul", "çalışma", "naïve", "x86_64", "2025-11-30", "e.g."]


def _generated_document(rng: random.Random) -> str:
    """A random canonical Markdown page: headings, paragraphs, lists, code, tables, long unbroken runs."""
    parts = []
    for section in range(rng.randint(1, 4)):
        if section or rng.random() < 0.5:
            parts.append("#" * rng.randint(1, 3) + f" Section {section} " + rng.choice(_WORDS))
        for _ in range(rng.randint(1, 4)):
            kind = rng.random()
            if kind < 0.35:
                words = [rng.choice(_WORDS) for _ in range(rng.randint(1, 300))]
                sentences = " ".join(w + ("." if rng.random() < 0.1 else "") for w in words)
                parts.append(sentences)
            elif kind < 0.5:
                parts.append("\n".join(f"- item {i} " + " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 30))) for i in range(rng.randint(1, 8))))
            elif kind < 0.6:
                parts.append("```\n" + "\n".join("    " + " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 40))) for _ in range(rng.randint(1, 30))) + "\n```")
            elif kind < 0.7:
                width = rng.randint(1, 4)
                name = rng.randrange(10**9)  # every table's header is its own
                rows = ["| " + " | ".join(f"h{c}t{name}" for c in range(width)) + " |", "| " + " | ".join("---" for _ in range(width)) + " |"]
                rows += [
                    "| " + " | ".join(" ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 12))) for _ in range(width)) + " |"
                    for _ in range(rng.randint(1, 40))
                ]
                parts.append("\n".join(rows))
            elif kind < 0.8:
                parts.append(base64.b64encode(rng.randbytes(rng.randint(10, 3000))).decode())
            elif kind < 0.9:
                parts.append("".join(rng.choice(CHINESE) for _ in range(rng.randint(5, 2000))))
            else:
                parts.append("".join(rng.choice("ağıüşöçé\u0301 😀🇹🇷xyz") for _ in range(rng.randint(5, 1500))))
    return "\n\n".join(parts) + "\n"


def _body(text: str) -> str:
    """``text`` without its heading lines (a long one is shortened in a chunk; the trail keeps it)."""
    return "\n".join(line for line in text.split("\n") if not match_heading(line))


def _reassembled(chunks: list[Chunk]) -> str:
    """The chunks' bodies put back together, less the table headers a chunk repeats from the one before."""
    out: list[str] = []
    headers: set[str] = set()
    for chunk in chunks:
        lines = _body(chunk.text).strip("\n").split("\n")
        if len(lines) > 2 and lines[0].startswith("| h0t") and re.fullmatch(r"\|( --- \|)+", lines[1]) and lines[0] in headers:
            lines = lines[2:]
        headers.update(line for line in lines if line.startswith("| h0t"))
        out.append("\n".join(lines))
    return "".join(out)


@pytest.mark.parametrize("target", [24, 60, 300])
def test_no_chunk_over_budget_and_no_text_lost_over_many_generated_documents(target: int) -> None:
    rng = random.Random(target)
    for _ in range(40):
        text = _generated_document(rng)
        chunks = chunks_of(text, target)
        assert_within_budget(chunks, target)
        assert squeeze(_reassembled(chunks)) == squeeze(_body(text))
        with_overlap = chunks_of(text, target, overlap=target // 5)
        assert_within_budget(with_overlap, target)
        assert set(squeeze(text)) == set(squeeze("".join(c.text for c in with_overlap)))
