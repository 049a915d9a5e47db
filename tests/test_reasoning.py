"""The reasoning parser on hand-written streams: every shape, every way of cutting it into chunks.

Each stream below is written the way a server sends it (Harmony markup and
``<think>`` tags as the model emits them, see the README's "Reasoning models").
The central property: however the stream is cut into chunks (every single
split point, one character at a time, fixed and random chunk sizes), the
answer and the thinking come out the same. Then what "no added latency"
means: plain text comes out exactly as fed, and only a tail that could still
become a marker is held back.
"""

from __future__ import annotations

import random

import pytest

from rag.tiers.reasoning import ANSWER, REASONING, Piece, ReasoningParser, split_message

# name -> (the content stream, the answer, the thinking)
STREAMS = {
    "plain": (
        "Foundry Local listens on port 5273 [Source 1]. If a < b, write <b>bold</b> and <|not a token|>.",
        "Foundry Local listens on port 5273 [Source 1]. If a < b, write <b>bold</b> and <|not a token|>.",
        "",
    ),
    "plain, completion profile": (" 5273.", " 5273.", ""),
    "a literal <thinking> is not a tag": ("Wrap notes in <thinking> tags.", "Wrap notes in <thinking> tags.", ""),
    "think": (
        "<think>\nThe user asks for the port. Source 1 says 5273.\n</think>\n\nFoundry Local listens on port 5273. [Source 1]",
        "Foundry Local listens on port 5273. [Source 1]",
        "The user asks for the port. Source 1 says 5273.",
    ),
    "text before think": ("Let me check. <think>Source 1 has it.</think> Port 5273.", "Let me check. Port 5273.", "Source 1 has it."),
    "whitespace before think": ("\n\n<think>x</think>\n\nAnswer.", "Answer.", "x"),
    "unclosed think (cut by max_tokens)": ("<think>\nStill weighing sources 1 and 2", "", "Still weighing sources 1 and 2"),
    "two think blocks": ("<think>a</think>First. <think>b</think>Second.", "First. Second.", "a\n\nb"),
    "closing tag only (R1 template opens it in the prompt)": (
        "The user wants the port.\n</think>\n\nPort 5273.", "Port 5273.", "The user wants the port.",
    ),
    "harmony": (
        "<|channel|>analysis<|message|>User asks for the port. Source 1: 5273.<|end|>"
        "<|start|>assistant<|channel|>final<|message|>Foundry Local listens on port 5273. [Source 1]<|return|>",
        "Foundry Local listens on port 5273. [Source 1]",
        "User asks for the port. Source 1: 5273.",
    ),
    "harmony with a commentary preamble": (
        "<|channel|>analysis<|message|>Plan.<|end|><|start|>assistant<|channel|>commentary<|message|>Checking the sources.<|end|>"
        "<|start|>assistant<|channel|>final<|message|>Port 5273.<|return|>",
        "Port 5273.",
        "Plan.\n\nChecking the sources.",
    ),
    "harmony tool call on commentary": (
        "<|channel|>analysis<|message|>Need the lookup tool.<|end|>"
        '<|start|>assistant<|channel|>commentary to=functions.lookup <|constrain|>json<|message|>{"q": "port"}<|call|>',
        "",
        'Need the lookup tool.\n\n{"q": "port"}',
    ),
    "harmony from <|start|>": (
        "<|start|>assistant<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>final<|message|>ans<|end|>",
        "ans",
        "think",
    ),
    "harmony final only": ("<|channel|>final<|message|>Port 5273.<|return|>", "Port 5273.", ""),
    "harmony cut in analysis (max_tokens)": ("<|channel|>analysis<|message|>Considering the sources one by one", "", "Considering the sources one by one"),
}


def run(chunks: list[str]) -> tuple[str, str, list[Piece]]:
    parser = ReasoningParser()
    pieces: list[Piece] = []
    for chunk in chunks:
        pieces += parser.feed(chunk)
    pieces += parser.flush()
    return parser.answer, parser.reasoning, pieces


def every(text: str, n: int) -> list[str]:
    return [text[i:i + n] for i in range(0, len(text), n)]


def random_cuts(text: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(1, 12)))) if len(text) > 1 else []
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]


def chunkings(text: str) -> list[list[str]]:
    ways = [[text]] + [every(text, n) for n in (1, 2, 3, 5, 7, 11)]
    ways += [[text[:i], text[i:]] for i in range(1, len(text))]  # every single split point
    ways += [random_cuts(text, seed) for seed in range(20)]
    return ways


@pytest.mark.parametrize("name", list(STREAMS))
def test_any_chunking_gives_the_same_answer_and_thinking(name: str) -> None:
    text, answer, thinking = STREAMS[name]
    for chunks in chunkings(text):
        assert "".join(chunks) == text
        got_answer, got_thinking, pieces = run(chunks)
        assert got_answer == answer, chunks
        assert got_thinking.strip() == thinking, chunks
        if "closing tag only" not in name:  # what was handed out is exactly what was kept
            assert "".join(p.text for p in pieces if p.kind == ANSWER) == got_answer
            assert "".join(p.text for p in pieces if p.kind == REASONING) == got_thinking
        assert "<|" not in got_answer.replace("<|not a token|>", "") and "<think>" not in got_answer


@pytest.mark.parametrize("name", list(STREAMS))
def test_a_whole_message_splits_the_same_way(name: str) -> None:
    text, answer, thinking = STREAMS[name]
    assert split_message(text) == (answer, thinking)


def test_harmony_split_inside_every_token() -> None:
    """The awkward boundaries the issue names: ``<|chan`` + ``nel|>``, inside <|message|> and <|end|>."""
    chunks = ["<|chan", "nel|>analy", "sis<|mess", "age|>Port is in Source 1.<|e", "nd|><|sta", "rt|>assistant<|channel|>fin",
              "al<|message|>Port 5273.<|ret", "urn|>"]
    answer, thinking, pieces = run(chunks)
    assert (answer, thinking) == ("Port 5273.", "Port is in Source 1.")
    assert [p.kind for p in pieces] == [REASONING, ANSWER]


def test_think_tag_split_inside_both_tags() -> None:
    answer, thinking, pieces = run(["<th", "ink>Source 1 says 5273.</thi", "nk>\n\n", "Port 5273."])
    assert (answer, thinking) == ("Port 5273.", "Source 1 says 5273.")
    assert pieces == [Piece(REASONING, "Source 1 says 5273."), Piece(ANSWER, "Port 5273.")]


def test_plain_text_comes_out_exactly_as_fed() -> None:
    """A model that never thinks gets no added latency: each chunk is handed out as it arrives."""
    chunks = ["Foundry ", "Local ", "listens ", "on port ", "5273 [Source 1]. ", "a < b ", "and <img src=x>."]
    parser = ReasoningParser()
    for chunk in chunks:
        assert parser.feed(chunk) == [Piece(ANSWER, chunk)]
    assert parser.flush() == []


def test_only_a_possible_marker_tail_is_held_back() -> None:
    parser = ReasoningParser()
    assert parser.feed("Port 5273 <") == [Piece(ANSWER, "Port 5273 ")]
    assert parser.feed("b>") == [Piece(ANSWER, "<b>")]
    assert parser.feed("x <thi") == [Piece(ANSWER, "x ")]
    assert parser.feed("s") == [Piece(ANSWER, "<this")]
    assert parser.feed(" <|chan") == [Piece(ANSWER, " ")]
    assert parser.feed("nel|>final<|message|>y") == [Piece(ANSWER, "y")]
    assert parser.answer == "Port 5273 <b>x <this y"


def test_a_held_tail_is_released_at_the_end() -> None:
    parser = ReasoningParser()
    assert parser.feed("Use the <") == [Piece(ANSWER, "Use the ")]
    assert parser.flush() == [Piece(ANSWER, "<")]
    assert parser.answer == "Use the <"


def test_leading_whitespace_waits_for_text_and_is_dropped_before_thinking() -> None:
    parser = ReasoningParser()
    assert parser.feed("\n") == []
    assert parser.feed("Hi") == [Piece(ANSWER, "\nHi")]
    parser = ReasoningParser()
    assert parser.feed("\n") == []
    assert parser.feed("<think>x</think>y") == [Piece(REASONING, "x"), Piece(ANSWER, "y")]
    assert parser.answer == "y"


def test_reasoning_field_then_content() -> None:
    """llama.cpp and vLLM (reasoning_content), Ollama, OpenRouter, LM Studio (reasoning): thinking in a field."""
    parser = ReasoningParser()
    pieces = parser.feed(reasoning="The user asks ") + parser.feed(reasoning="for the port.")
    pieces += parser.feed(content="Port ") + parser.feed(content="5273.") + parser.flush()
    assert [(p.kind, p.text) for p in pieces] == [
        (REASONING, "The user asks "), (REASONING, "for the port."), (ANSWER, "Port "), (ANSWER, "5273."),
    ]
    assert (parser.answer, parser.reasoning, parser.markup) == ("Port 5273.", "The user asks for the port.", "field")


def test_think_tags_that_repeat_a_reasoning_field_are_not_counted_twice() -> None:
    """llama.cpp's ``--reasoning-format deepseek-legacy``: ``<think>`` stays in the content *and* fills reasoning_content."""
    parser = ReasoningParser()
    pieces = parser.feed(content="<think>Check", reasoning="Check") + parser.feed(content=" source 1.</think>Port 5273.", reasoning=" source 1.")
    pieces += parser.flush()
    assert (parser.answer, parser.reasoning) == ("Port 5273.", "Check source 1.")
    assert "".join(p.text for p in pieces if p.kind == REASONING) == "Check source 1."


def test_a_bare_closing_tag_reclassifies_the_answer_so_far() -> None:
    parser = ReasoningParser()
    handed_out = parser.feed("Okay, the user wants ") + parser.feed("the port.</think>Port 5273.") + parser.flush()
    assert parser.reclassified is True
    assert (parser.answer, parser.reasoning) == ("Port 5273.", "Okay, the user wants the port.")
    assert handed_out[0] == Piece(ANSWER, "Okay, the user wants ")  # already shown: it cannot be taken back


def test_an_empty_stream_is_empty() -> None:
    assert run([]) == ("", "", [])
    assert split_message(None) == ("", "")


@pytest.mark.parametrize(
    "answer",
    [
        "Qwen3 wraps its thinking in `<think>` tags [Source 1]. Then it answers.",
        "The template asks for:\n\n```\n<think>\n{Thought section}\n</think>\n```\n\n[Source 2]",
        "Harmony marks the final answer with `<|channel|>final<|message|>` [Source 1].",
    ],
    ids=["inline-code", "fenced-block", "harmony-in-code"],
)
def test_tags_quoted_in_code_are_answer_text_in_any_chunking(answer: str) -> None:
    """The workshop's own docs show these tags; an answer quoting them must keep them, and its citation."""
    for chunks in chunkings(answer):
        got_answer, got_reasoning, _ = run(chunks)
        assert (got_answer, got_reasoning) == (answer, "")


def test_thinking_then_an_answer_that_quotes_the_tag() -> None:
    answer, reasoning, _ = run(["<think>the user asks about tags</think>", "Use `<think>` [Source 1]."])
    assert (answer, reasoning) == ("Use `<think>` [Source 1].", "the user asks about tags")
