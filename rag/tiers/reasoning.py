"""Thinking vs answer: one incremental parser for every way servers stream a reasoning model.

Pure, like httpx's ``LineDecoder``: ``feed()`` what a chunk carried, get back the
``Piece``\\ s that are certain now; ``flush()`` at the end of the stream. The
client feeds it every chunk of both tiers (chat and completion profiles); it
knows no HTTP and no timing.

The shapes it separates (see docs/reasoning-models.md for which server
sends which):

- a reasoning *field* next to the content: ``delta.reasoning_content``
  (llama.cpp ``--reasoning-format deepseek``, vLLM before 0.11, DeepSeek's API)
  or ``delta.reasoning`` (Ollama, OpenRouter, LM Studio for gpt-oss, vLLM 0.11+);
  when a delta carries both names they are aliases and only one is kept;
- Harmony markup inside the content (gpt-oss behind a server that does not parse
  it): ``<|channel|>analysis<|message|>…<|end|><|start|>assistant<|channel|>final<|message|>…<|return|>``;
  ``analysis`` and ``commentary`` (tool preambles and calls) are thinking,
  ``final`` is the answer, any other or missing channel is thinking;
- ``<think>…</think>`` inside the content (Qwen3, DeepSeek-R1 distills,
  phi-4-mini-reasoning); text before ``<think>`` stays answer; an unclosed
  ``<think>`` is thinking to the end; a ``</think>`` with no opening tag (the
  R1 template puts ``<think>`` in the prompt) turns the answer so far into
  thinking (``reclassified``: pieces already handed out cannot be taken back,
  but ``answer`` and ``reasoning`` are corrected);
- plain text (a model that never thinks).

A marker inside code in the answer (an inline `` `<think>` `` span or a fenced
block) is text: an answer that quotes documentation about these tags keeps it.

Latency: nothing is held back except the shortest tail that could still become a
marker (``"<"``, ``"<thi"``, ``"<|chan"``), and whitespace at the very start of
the stream (invisible, and dropped if thinking follows). Plain text without a
``<`` at its end comes out exactly as fed. Whitespace right after a thinking
block is the separator, not answer, and is dropped.

Any split of the same stream gives the same ``answer`` and ``reasoning``
(``tests/test_reasoning.py`` checks every split point).

    >>> p = ReasoningParser()
    >>> p.feed("<thi")
    []
    >>> p.feed("nk>Port?</think>\\n\\n5273")
    [Piece(kind='reasoning', text='Port?'), Piece(kind='answer', text='5273')]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ANSWER", "REASONING", "Piece", "ReasoningParser", "split_message"]

ANSWER = "answer"
REASONING = "reasoning"

_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
_HARMONY = ("<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>", "<|return|>", "<|call|>")
_MARKERS = (_THINK_OPEN, _THINK_CLOSE, *_HARMONY)
_LONGEST = max(len(m) for m in _MARKERS)
_TEXT_RE = re.compile("|".join(re.escape(m) for m in _MARKERS))
_HARMONY_RE = re.compile("|".join(re.escape(m) for m in _HARMONY))
_CHANNEL_RE = re.compile(r"<\|channel\|>\s*([A-Za-z_]+)")
_ANSWER_CHANNELS = frozenset({"final"})


@dataclass(frozen=True)
class Piece:
    kind: str  # ANSWER or REASONING
    text: str


def _held_tail(text: str, markers: tuple[str, ...]) -> int:
    """Index where the longest suffix of ``text`` that is a proper prefix of a marker starts (len(text): none)."""
    start = max(0, len(text) - _LONGEST + 1)
    for i in range(start, len(text)):
        if text[i] == "<":
            tail = text[i:]
            if any(m.startswith(tail) and m != tail for m in markers):
                return i
    return len(text)


def _code_state(state: tuple[bool, bool], text: str) -> tuple[bool, bool]:
    """(inside a ``` fence, inside an inline `code` span) after ``text``, from ``state`` before it."""
    fence, inline = state
    if "`" not in text:
        return state
    i = 0
    while i < len(text):
        if text.startswith("```", i):
            fence, inline, i = not fence, False, i + 3
            continue
        if text[i] == "`" and not fence:
            inline = not inline
        i += 1
    return fence, inline


def _in_code(state: tuple[bool, bool], text: str) -> bool:
    fence, inline = _code_state(state, text)
    return fence or inline


class ReasoningParser:
    """Separates thinking from answer in one response, chunk by chunk (see the module docstring)."""

    def __init__(self) -> None:
        self._buf = ""  # content seen but not yet classified
        self._mode = "text"  # text | think | header (Harmony, between messages) | body (Harmony message)
        self._header = ""  # the current Harmony header (role, channel, recipient), never shown
        self._body_kind = REASONING
        self._lead = ""  # whitespace at the start of the stream, held until text or thinking follows
        self._holding_lead = True
        self._strip_answer = False  # drop whitespace between a thinking block and the answer
        self._strip_reasoning = True  # drop whitespace at the start of a thinking segment
        self._new_segment = False  # the next thinking text starts a new block: separate it by a blank line
        self._field_seen = False  # the server sends thinking in a field: tags in content only repeat it
        self._answer: list[str] = []
        self._segment = 0  # index in _answer where the current answer segment starts
        self._reasoning: list[str] = []
        self._code = (False, False)  # the answer so far is inside (a fenced block, an inline code span)
        self.reclassified = False  # a bare </think> turned answer already handed out into thinking
        self.markup: str | None = None  # "field", "think" or "harmony" once seen

    # ------------------------------------------------------------------ results

    @property
    def answer(self) -> str:
        return "".join(self._answer)

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)

    # ------------------------------------------------------------------ input

    def feed(self, content: str = "", reasoning: str = "") -> list[Piece]:
        """Pieces that are certain after this chunk: its reasoning field first, then its content."""
        out: list[Piece] = []
        if reasoning:
            self._field_seen = True
            self.markup = self.markup or "field"
            self._drop_lead()
            self._emit(out, REASONING, reasoning, from_field=True)
        if content:
            self._buf += content
            self._scan(out, final=False)
        return out

    def flush(self) -> list[Piece]:
        """The end of the stream: whatever was held back, classified as the state says."""
        out: list[Piece] = []
        self._scan(out, final=True)
        if self._lead:
            lead, self._lead = self._lead, ""
            self._holding_lead = False
            self._emit(out, ANSWER, lead)
        return out

    # ------------------------------------------------------------------ the state machine

    def _scan(self, out: list[Piece], final: bool) -> None:
        while self._buf:
            if self._mode == "text":
                m = _TEXT_RE.search(self._buf)
                if m is None:
                    self._release(out, ANSWER, _MARKERS, final)
                    return
                if _in_code(self._code, self._buf[: m.start()]):  # `<think>` quoted in code is text, not markup
                    self._emit(out, ANSWER, self._buf[: m.end()])
                    self._buf = self._buf[m.end():]
                    continue
                self._emit(out, ANSWER, self._buf[: m.start()])
                self._buf = self._buf[m.end():]
                self._text_marker(m.group(0))
            elif self._mode == "think":
                at = self._buf.find(_THINK_CLOSE)
                if at < 0:
                    self._release(out, REASONING, (_THINK_CLOSE,), final)
                    return
                self._emit(out, REASONING, self._buf[:at])
                self._buf = self._buf[at + len(_THINK_CLOSE):]
                self._mode = "text"
                self._end_thinking()
            elif self._mode == "header":
                m = _HARMONY_RE.search(self._buf)
                if m is None:
                    if final:  # a header that never reached <|message|> is markup, not text
                        self._buf = ""
                    return
                self._header += self._buf[: m.start()]
                self._buf = self._buf[m.end():]
                self._header_token(m.group(0))
            else:  # body
                m = _HARMONY_RE.search(self._buf)
                if m is None:
                    self._release(out, self._body_kind, _HARMONY, final)
                    return
                self._emit(out, self._body_kind, self._buf[: m.start()])
                self._buf = self._buf[m.end():]
                self._body_token(m.group(0))

    def _release(self, out: list[Piece], kind: str, markers: tuple[str, ...], final: bool) -> None:
        """Emit the buffer except a tail that may still become a marker (all of it at the end)."""
        cut = len(self._buf) if final else _held_tail(self._buf, markers)
        self._emit(out, kind, self._buf[:cut])
        self._buf = self._buf[cut:]

    def _text_marker(self, marker: str) -> None:
        self._drop_lead()
        if marker == _THINK_OPEN:
            self.markup = self.markup or "think"
            self._mode = "think"
            self._start_thinking()
        elif marker == _THINK_CLOSE:  # no opening tag: the answer so far was thinking
            self.markup = self.markup or "think"
            moved = self._answer[self._segment:]
            if any(part.strip() for part in moved):
                self.reclassified = True
                if not self._field_seen:
                    self._reasoning.extend(moved)
            del self._answer[self._segment:]
            self._end_thinking()
        else:  # the first Harmony token: from now on the content is Harmony messages
            self.markup = "harmony"
            self._mode = "header"
            self._header = ""
            self._header_token(marker)

    def _header_token(self, token: str) -> None:
        if token == "<|message|>":
            m = _CHANNEL_RE.search(self._header)
            channel = m.group(1).lower() if m else ""
            self._body_kind = ANSWER if channel in _ANSWER_CHANNELS else REASONING
            if self._body_kind == ANSWER:
                self._end_thinking()
            else:
                self._start_thinking()
            self._mode = "body"
            self._header = ""
        elif token == "<|channel|>" or token == "<|constrain|>":
            self._header += token
        else:  # <|start|> begins a new header; <|end|>, <|return|>, <|call|> close an empty one
            self._header = ""

    def _body_token(self, token: str) -> None:
        if token in ("<|message|>", "<|constrain|>"):  # stray header tokens inside a message: dropped
            return
        self._mode = "header"  # <|end|>, <|return|>, <|call|>, <|start|> end it; <|channel|> starts the next
        self._header = token if token == "<|channel|>" else ""

    def _start_thinking(self) -> None:
        if self._field_seen:  # thinking comes from the field; tags in the content don't begin new blocks of it
            return
        self._strip_reasoning = True
        self._new_segment = True

    def _end_thinking(self) -> None:
        self._strip_answer = True
        self._segment = len(self._answer)

    def _drop_lead(self) -> None:
        """Thinking follows: whitespace held at the start of the stream was not answer."""
        self._lead = ""
        self._holding_lead = False

    def _emit(self, out: list[Piece], kind: str, text: str, from_field: bool = False) -> None:
        if not text:
            return
        if kind == ANSWER:
            if self._holding_lead:
                self._lead += text
                if not self._lead.strip():
                    return
                text, self._lead, self._holding_lead = self._lead, "", False
            if self._strip_answer:
                text = text.lstrip()
                if not text:
                    return
                self._strip_answer = False
            self._answer.append(text)
            self._code = _code_state(self._code, text)
        else:
            if self._strip_reasoning:
                text = text.lstrip()
                if not text:
                    return
                self._strip_reasoning = False
            if self._field_seen and not from_field:
                return  # llama.cpp's deepseek-legacy: the same thinking again, inside <think> in the content
            if self._new_segment:
                self._new_segment = False
                if self._reasoning:
                    text = "\n\n" + text
            self._reasoning.append(text)
        if out and out[-1].kind == kind:
            out[-1] = Piece(kind, out[-1].text + text)
        else:
            out.append(Piece(kind, text))


def split_message(content: str | None, reasoning: str | None = None) -> tuple[str, str]:
    """A whole (non-streamed) message -> (answer, reasoning), by the same rules as the stream."""
    parser = ReasoningParser()
    parser.feed(content or "", reasoning or "")
    parser.flush()
    return parser.answer, parser.reasoning.strip()
