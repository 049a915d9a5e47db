"""The model client: ``TierClient`` against a real scripted SSE server on 127.0.0.1.

Streaming order, usage vs. estimated token counts, timings, every failure
classified into our error types with the server's URL (partial text kept), the
completion profile, and model alias resolution against ``/v1/models``.

Only wire faults are reported: JSON that is not a completion (a wrong shape) and
bytes that are not UTF-8 are wire faults too (served through an injected
``httpx.MockTransport``, since the scripted server only speaks the right shape),
while a bug of ours (a prompt that cannot be serialized, a parser that raises)
raises out of ``stream()`` and ``complete()``, never becomes "the backend failed".

Token counts are checked against tiktoken on texts whose word count differs, so
a word counter could not pass; the server's usage is checked with a count that
neither words nor tiktoken give.

Reasoning models: each wire shape (a reasoning field under either name, Harmony
markup, ``<think>`` tags, thinking until ``max_tokens``) streamed and not
streamed, thinking kept apart from the answer, metrics split, ``reasoning_effort``
sent, dropped when a server refuses it; and ``/v1/models`` as Foundry Local,
Ollama, llama.cpp and vLLM document it.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from rag.documents.tokens import count_tokens
from rag.errors import (
    BackendError,
    BackendStatusError,
    BackendTimeout,
    BackendUnavailable,
    ModelNotServed,
    ReasoningBudgetExhausted,
    TruncatedStream,
)
from rag.tiers.base import Delta, Finished, Waiting
from rag.tiers.client import USE_CONFIG, TierClient, TierConfig
from rag.tiers.metrics import Prices, TierMetrics
from rag.tiers.models import model_key, resolve_model
from rag.tiers.prompt import Prompt
from rag.tiers.queue import FairQueue
from tests.support.helpers import free_port
from tests.support.scripted_server import SHAPES, Script, ScriptedServer, chunked, reasoning_script

SLM = "phi-4-mini-instruct-generic-cpu"
PROMPT = Prompt(
    messages=[{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What port does Foundry Local use?"}],
    text="Question: What port does Foundry Local use?\nAnswer:",
    stop=["\n"],
)


def config(base_url: str, **kw) -> TierConfig:
    return TierConfig(tier=kw.pop("tier", "slm"), base_url=base_url, model=kw.pop("model", SLM), **kw)


async def collect(cfg: TierConfig, prompt: Prompt = PROMPT) -> tuple[list[Delta | Finished], float]:
    client = TierClient(cfg)
    started = time.perf_counter()
    try:
        events = [e async for e in client.stream(prompt)]
    finally:
        await client.aclose()
    return events, time.perf_counter() - started


def dead_url() -> str:
    """A base URL on a port that nothing listens on (bound, then released)."""
    return f"http://127.0.0.1:{free_port()}/v1"


@pytest.mark.asyncio
async def test_stream_yields_deltas_in_order_then_one_finished(scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(["Foundry ", "Local ", "uses ", "5273."]))
    events, _ = await collect(config(scripted.base_url))
    deltas = [e for e in events if isinstance(e, Delta)]
    assert [d.text for d in deltas] == ["Foundry ", "Local ", "uses ", "5273."]
    assert isinstance(events[-1], Finished)
    assert sum(isinstance(e, Finished) for e in events) == 1
    finished = events[-1]
    assert finished.text == "Foundry Local uses 5273."
    assert finished.error is None
    assert finished.finish_reason == "stop"
    assert finished.metrics.error is None


@pytest.mark.asyncio
async def test_chat_request_asks_for_usage_and_sends_the_messages(scripted: ScriptedServer) -> None:
    events, _ = await collect(config(scripted.base_url, max_tokens=77))
    assert events[-1].text == "OK"  # the default script
    request = scripted.requests[-1]
    assert request["path"] == "/v1/chat/completions"
    body = request["body"]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == PROMPT.messages
    assert body["max_tokens"] == 77
    assert body["model"] == SLM


@pytest.mark.asyncio
async def test_usage_from_the_server_is_used_when_present(scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(["one ", "two ", "three"], completion_tokens=11))
    events, _ = await collect(config(scripted.base_url, prices=Prices(prompt=1.0, completion=2.0)))
    m = events[-1].metrics
    assert m.prompt_tokens == 42
    assert m.completion_tokens == 11  # the server's figure: neither the 3 words nor tiktoken's 3 tokens
    assert count_tokens(["one two three"]) == [3]
    assert m.estimated is False
    assert m.cost == pytest.approx(42 / 1000 * 1.0 + 11 / 1000 * 2.0)
    assert m.tier == "slm" and m.model == SLM


@pytest.mark.asyncio
async def test_tokens_are_estimated_with_tiktoken_without_usage(scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(["Foundry Local listens ", "on port 5273."], usage=False))
    events, _ = await collect(config(scripted.base_url))
    m = events[-1].metrics
    assert m.estimated is True
    prompt_text = "\n".join(msg["content"] for msg in PROMPT.messages)
    answer = "Foundry Local listens on port 5273."
    assert (m.prompt_tokens, m.completion_tokens) == tuple(count_tokens([prompt_text, answer]))
    # tiktoken, not a word counter: the two differ on both texts
    assert (m.prompt_tokens, m.completion_tokens) != (len(prompt_text.split()), len(answer.split()))
    assert m.completion_tokens != len(answer.split())
    assert m.prompt_tokens > 0 and m.completion_tokens > 0
    assert m.prompt_tokens != 42


@pytest.mark.asyncio
async def test_timings_are_measured_and_tokens_per_s_uses_generation_time(scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(["a ", "b ", "c ", "d ", "e"], chunk_delay=0.03))
    events, wall = await collect(config(scripted.base_url))
    m = events[-1].metrics
    assert m.ttft_ms is not None and m.ttft_ms > 0
    assert m.generation_ms >= 4 * 30 * 0.8  # four gaps of ~30 ms between the first and the last token
    assert m.ttft_ms + m.generation_ms <= m.total_ms + 1e-6
    assert m.total_ms <= wall * 1000 + 1
    assert m.completion_tokens == 5
    assert m.tokens_per_s == pytest.approx((5 - 1) / (m.generation_ms / 1000))


def test_tokens_per_s_is_none_without_generation_time() -> None:
    assert TierMetrics("slm", completion_tokens=11, generation_ms=2000.0).tokens_per_s == pytest.approx(5.0)
    assert TierMetrics("slm", completion_tokens=1, generation_ms=2000.0).tokens_per_s is None
    assert TierMetrics("slm", completion_tokens=10, generation_ms=0.0).tokens_per_s is None


@pytest.mark.asyncio
async def test_http_500_becomes_a_status_error_naming_the_url(scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(status=500), Script(status=500))  # the SDK retries once
    events, _ = await collect(config(scripted.base_url, env_hint="RAG_SLM_BASE_URL"))
    assert all(isinstance(e, Finished) for e in events) and len(events) == 1
    finished = events[0]
    assert isinstance(finished.error, BackendStatusError)
    assert finished.error.status == 500
    assert finished.error.url == scripted.base_url and finished.error.tier == "slm"
    assert scripted.base_url in str(finished.error)
    assert "500" in str(finished.error)
    assert finished.text == ""
    assert finished.metrics.error == str(finished.error)
    assert len(scripted.requests) == 2  # retried once before anything was shown


@pytest.mark.asyncio
async def test_http_429_says_rate_limited(scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(status=429), Script(status=429))
    events, _ = await collect(config(scripted.base_url))
    error = events[-1].error
    assert isinstance(error, BackendStatusError) and error.status == 429
    assert "is rate-limiting requests (HTTP 429): wait a moment and ask again" in str(error)
    assert len(scripted.requests) == 2  # retried once


@pytest.mark.asyncio
async def test_a_retry_before_any_text_can_still_succeed(scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(status=503), Script(["recovered"]))
    events, _ = await collect(config(scripted.base_url))
    assert events[-1].error is None
    assert events[-1].text == "recovered"
    assert len(scripted.requests) == 2


@pytest.mark.asyncio
async def test_stream_dying_midway_keeps_the_partial_text(scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(["Foundry Local's ", "port: 5273; ", "third ", "fourth"], die_after=2))
    events, _ = await collect(config(scripted.base_url))
    assert [e.text for e in events if isinstance(e, Delta)] == ["Foundry Local's ", "port: 5273; "]
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert finished.text == "Foundry Local's port: 5273; "
    assert isinstance(finished.error, BackendError)
    assert scripted.base_url in str(finished.error)
    assert finished.metrics.estimated is True  # no usage from a broken stream
    assert finished.metrics.completion_tokens == count_tokens([finished.text])[0]
    assert finished.metrics.completion_tokens != len(finished.text.split())  # tiktoken, not a word counter
    assert len(scripted.requests) == 1  # a broken stream is never retried


@pytest.mark.asyncio
async def test_stream_dying_midway_does_not_claim_the_server_is_down(scripted: ScriptedServer) -> None:
    # the server answered: "nothing answers, start the server" would be the wrong advice
    scripted.enqueue(SLM, Script(["first ", "second ", "third"], die_after=1))
    events, _ = await collect(config(scripted.base_url))
    error = events[-1].error
    assert error is not None
    assert not isinstance(error, BackendUnavailable)
    assert "Nothing answers" not in str(error)
    assert "mid-stream" in str(error) or "broke" in str(error)


@pytest.mark.asyncio
@pytest.mark.parametrize("profile", ["chat", "completion"])
@pytest.mark.parametrize("cut_after", [2, 3], ids=["mid-answer", "after-every-chunk"])
async def test_a_stream_that_ends_without_a_finish_reason_is_truncated_not_finished(scripted: ScriptedServer, profile: str, cut_after: int) -> None:
    """What llama-cpp-python's server sends a stream it interrupts: chunks, then ``[DONE]`` with no finish_reason.

    Cut after every chunk, the text even reads complete: only the missing finish_reason says it is not.
    """
    chunks = ["Foundry Local ", "listens on ", "port 5273."]
    scripted.enqueue(SLM, Script(chunks, cut_after=cut_after))
    events, _ = await collect(config(scripted.base_url, profile=profile))
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert finished.text == "".join(chunks[:cut_after])  # the partial text is kept
    assert [e.text for e in events if isinstance(e, Delta)] == chunks[:cut_after]
    assert finished.finish_reason is None
    assert isinstance(finished.error, TruncatedStream) and isinstance(finished.error, BackendError)
    assert str(finished.error) == (
        f"the SLM tier at {scripted.base_url} ended its stream before the model finished (no finish_reason): the answer is cut; ask again."
    )
    assert finished.metrics.error == str(finished.error)
    assert finished.metrics.estimated is True  # no usage came: counted with tiktoken
    assert len(scripted.requests) == 1  # not retried: the user saw the text


@pytest.mark.asyncio
async def test_queued_streams_go_one_at_a_time_in_order_and_each_waiter_is_told_its_place(scripted: ScriptedServer) -> None:
    """Three streams at once through one queue slot: the server sees one request at a time, in arrival order."""
    for n in range(3):
        scripted.enqueue(SLM, Script([f"answer{n} ", "part two"], chunk_delay=0.2))
    client = TierClient(config(scripted.base_url), queue=FairQueue(slots=1))
    seen_while: list[int] = []  # how many requests the server had seen when each stream's first delta came

    async def one(n: int) -> list:
        await asyncio.sleep(0.05 * n)  # arrive in order 0, 1, 2
        events = []
        async for event in client.stream(PROMPT):
            if isinstance(event, Delta) and not any(isinstance(e, Delta) for e in events):
                seen_while.append(len(scripted.requests))
            events.append(event)
        return events

    try:
        runs = await asyncio.gather(*(one(n) for n in range(3)))
    finally:
        await client.aclose()
    told = [[e.ahead for e in events if isinstance(e, Waiting)] for events in runs]
    assert told == [[], [1], [2, 1]]
    assert seen_while == [1, 2, 3]  # each was sent only after the one before it had finished
    for n, events in enumerate(runs):
        finished = events[-1]
        assert isinstance(finished, Finished) and finished.error is None and finished.finish_reason == "stop"
        assert finished.text == f"answer{n} part two"
        waits = [i for i, e in enumerate(events) if isinstance(e, Waiting)]
        assert all(i < next(j for j, e in enumerate(events) if isinstance(e, Delta)) for i in waits)  # before the first token
    first, second, third = (events[-1].metrics for events in runs)
    assert first.queue_ms == 0 and second.queue_ms > 300 and third.queue_ms > second.queue_ms + 300
    # TTFT and total count from when the request was sent, not from the wait: each stream alone takes ~0.4 s
    for m in (first, second, third):
        assert m.ttft_ms is not None and m.ttft_ms < 300 and m.total_ms < 1000
    assert client.queue.running == 0 and client.queue.waiting == 0


@pytest.mark.asyncio
async def test_a_stream_stopped_while_it_waits_leaves_the_queue(scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(["slow ", "answer"], chunk_delay=0.3))
    client = TierClient(config(scripted.base_url), queue=FairQueue())
    try:
        running = client.stream(PROMPT)
        assert isinstance(await anext(running), Delta)  # the first request holds the slot
        waiting = client.stream(PROMPT)
        assert await anext(waiting) == Waiting(ahead=1)
        await waiting.aclose()  # the chat was stopped while queued
        assert client.queue.waiting == 0 and len(scripted.requests) == 1  # never sent
        rest = [e async for e in running]
        assert rest[-1].error is None and client.queue.running == 0
    finally:
        await client.aclose()


@pytest.mark.asyncio
async def test_read_timeout_becomes_backend_timeout(scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(["late"], delay=3), Script(["late"], delay=3))
    events, wall = await collect(config(scripted.base_url, timeout=0.5))
    error = events[-1].error
    assert isinstance(error, BackendTimeout)
    assert "0.5 s" in str(error) and scripted.base_url in str(error)
    assert events[-1].text == ""
    assert events[-1].metrics.ttft_ms is None
    assert wall < 2.9  # gave up long before the server's 3 s delay


@pytest.mark.asyncio
async def test_nothing_listening_becomes_backend_unavailable() -> None:
    url = dead_url()
    events, _ = await collect(config(url, timeout=2.0, env_hint="RAG_SLM_BASE_URL"))
    assert len(events) == 1
    error = events[0].error
    assert isinstance(error, BackendUnavailable)
    assert url in str(error) and error.url == url
    assert "RAG_SLM_BASE_URL" in str(error)


@pytest.mark.asyncio
async def test_malformed_sse_line_ends_the_stream_without_raising(scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(["before ", "after"], malformed=True))
    events, _ = await collect(config(scripted.base_url))  # must not raise
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert finished.text == "before "  # what came before the bad line; nothing after it
    assert isinstance(finished.error, BackendError) and not isinstance(finished.error, BackendUnavailable)
    assert str(finished.error).startswith(f"the SLM tier at {scripted.base_url} sent a malformed stream (a line that is not JSON: ")
    assert str(finished.error).endswith("; the partial answer is kept.")
    assert finished.metrics.error == str(finished.error)


def sse_body(*events: bytes) -> bytes:
    return b"".join(b"data: " + e + b"\n\n" for e in events) + b"data: [DONE]\n\n"


FIRST_CHUNK = json.dumps({"id": "x", "object": "chat.completion.chunk", "created": 0, "model": SLM,
                          "choices": [{"index": 0, "delta": {"content": "Port "}, "finish_reason": None}]}).encode()


def injected(body: bytes, content_type: str = "text/event-stream") -> tuple[TierClient, list[httpx.Request]]:
    """A client whose every request gets ``body`` back (no network); the requests it sent."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, headers={"content-type": content_type}, content=body)

    return TierClient(config("http://127.0.0.1:9/v1"), http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler))), sent


WRONG_SHAPES = [
    pytest.param(b'{"choices": "oops"}', "chunk.choices is str, not a list", id="choices-not-a-list"),
    pytest.param(b'{"choices": {"0": {}}}', "chunk.choices is dict, not a list", id="choices-a-dict"),
    pytest.param(b'[1, 2]', "chunk is list", id="a-list-not-a-chunk"),
    pytest.param(b'{"choices": [3]}', "chunk.choices[0] is int", id="a-number-for-a-choice"),
    pytest.param(b'{"choices": [{"index": 0, "delta": "5273"}]}', "delta is str", id="delta-not-an-object"),
    pytest.param(b'{"choices": [{"index": 0, "delta": {"content": 5273}}]}', "delta.content is int, not text", id="content-a-number"),
    pytest.param(b'{"choices": [{"index": 0, "delta": {}, "finish_reason": 7}]}', "finish_reason is int, not text", id="finish-reason-a-number"),
    pytest.param(b'{"choices": [], "usage": "lots"}', "usage is str", id="usage-not-an-object"),
    pytest.param(
        b'{"choices": [], "usage": {"prompt_tokens": "many", "completion_tokens": 2}}', "usage.prompt_tokens is str, not a count",
        id="usage-count-not-a-number",
    ),
    pytest.param(b'{"choices": [{"index": 0, "delta": {"content": "\xff\xfe"}}]}', "bytes that are not UTF-8", id="bytes-not-utf-8"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("event", "said"), WRONG_SHAPES)
async def test_json_of_the_wrong_shape_is_a_malformed_stream_not_a_crash(event: bytes, said: str) -> None:
    """A server's fault, reported with the partial answer kept: never a KeyError or TypeError out of ``stream()``."""
    client, _ = injected(sse_body(FIRST_CHUNK, event))
    try:
        events = [e async for e in client.stream(PROMPT)]
    finally:
        await client.aclose()
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.text == "Port "
    assert isinstance(finished.error, BackendError) and not isinstance(finished.error, BackendUnavailable)
    assert "sent a malformed stream (" in str(finished.error) and said in str(finished.error)
    assert str(finished.error).endswith("the partial answer is kept.")


@pytest.mark.asyncio
async def test_an_error_event_in_the_stream_is_reported_with_its_message() -> None:
    client, _ = injected(sse_body(FIRST_CHUNK, b'{"error": {"message": "model overloaded"}}'))
    try:
        finished = [e async for e in client.stream(PROMPT)][-1]
    finally:
        await client.aclose()
    assert finished.text == "Port " and isinstance(finished.error, BackendError) and "model overloaded" in str(finished.error)


@pytest.mark.asyncio
async def test_a_whole_answer_of_the_wrong_shape_is_a_malformed_answer() -> None:
    client, _ = injected(json.dumps({"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": "5273"}]}).encode(), "application/json")
    try:
        finished = await client.complete(PROMPT)
    finally:
        await client.aclose()
    assert finished.text == "" and isinstance(finished.error, BackendError)
    assert "sent a malformed answer (JSON that is not a completion: message is str)" in str(finished.error)


@pytest.mark.asyncio
async def test_a_model_list_of_the_wrong_shape_is_a_classified_error() -> None:
    client, _ = injected(json.dumps({"object": "list", "data": "phi"}).encode(), "application/json")
    try:
        with pytest.raises(BackendError, match="malformed answer .*models.data is str"):
            await client.served_models()
    finally:
        await client.aclose()


class Unserializable:
    """Not JSON: a prompt holding it is a bug of ours, not a server's fault."""


def _broken_feed(self, content: str, reasoning: str = ""):
    raise TypeError("a bug in the reasoning parser")


def _broken_split(content, reasoning=None):
    raise TypeError("a bug in split_message")


@pytest.mark.asyncio
async def test_a_prompt_that_cannot_be_serialized_raises_out_of_stream_and_nothing_is_sent(scripted: ScriptedServer) -> None:
    prompt = Prompt(messages=[{"role": "user", "content": Unserializable()}], text="q", stop=[])  # type: ignore[dict-item]
    client = TierClient(config(scripted.base_url))
    try:
        with pytest.raises(TypeError, match="not JSON serializable"):
            [e async for e in client.stream(prompt)]
        with pytest.raises(TypeError, match="not JSON serializable"):
            await client.complete(prompt)
    finally:
        await client.aclose()
    assert scripted.requests == []


@pytest.mark.asyncio
async def test_a_bug_in_the_parser_raises_out_of_stream_instead_of_becoming_a_backend_error(
    scripted: ScriptedServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    scripted.enqueue(SLM, Script(["Port ", "5273."]))
    monkeypatch.setattr("rag.tiers.client.ReasoningParser.feed", _broken_feed)
    client = TierClient(config(scripted.base_url))
    seen: list[Delta | Finished] = []
    try:
        with pytest.raises(TypeError, match="a bug in the reasoning parser"):
            async for event in client.stream(PROMPT):
                seen.append(event)
    finally:
        await client.aclose()
    assert not any(isinstance(e, Finished) for e in seen)  # no Finished carrying a "backend failed" error


@pytest.mark.asyncio
async def test_a_bug_while_reading_a_whole_answer_raises_out_of_complete(scripted: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    scripted.enqueue(SLM, Script(["Port 5273."]))
    monkeypatch.setattr("rag.tiers.client.split_message", _broken_split)
    client = TierClient(config(scripted.base_url))
    try:
        with pytest.raises(TypeError, match="a bug in split_message"):
            await client.complete(PROMPT)
    finally:
        await client.aclose()


@pytest.mark.asyncio
async def test_completion_profile_posts_prompt_and_stop(scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script([" 5273", "."]))
    events, _ = await collect(config(scripted.base_url, profile="completion"))
    assert events[-1].text == " 5273."
    assert events[-1].error is None
    request = scripted.requests[-1]
    assert request["path"] == "/v1/completions"
    assert request["body"]["prompt"] == PROMPT.text
    assert request["body"]["stop"] == ["\n"]
    assert "messages" not in request["body"]
    assert events[-1].metrics.prompt_tokens == 42


@pytest.mark.asyncio
async def test_served_models_lists_the_server_ids(scripted: ScriptedServer) -> None:
    client = TierClient(config(scripted.base_url))
    try:
        served = await client.served_models()
    finally:
        await client.aclose()
    assert served == ["phi-4-mini-instruct-generic-cpu", "gpt-oss-20b", "other-model"]


@pytest.mark.asyncio
async def test_served_models_raises_a_classified_error_when_nothing_listens() -> None:
    url = dead_url()
    client = TierClient(config(url, timeout=2.0))
    try:
        with pytest.raises(BackendUnavailable, match=url.replace(".", r"\.")):
            await client.served_models()
    finally:
        await client.aclose()


SERVED = ["phi-4-mini-instruct-generic-cpu", "gpt-oss-20b", "other-model"]


def test_resolve_model_exact() -> None:
    assert resolve_model("gpt-oss-20b", SERVED, config("http://127.0.0.1:1/v1")) == "gpt-oss-20b"


def test_resolve_model_prefix_and_case() -> None:
    cfg = config("http://127.0.0.1:1/v1")
    assert resolve_model("phi-4-mini", SERVED, cfg) == "phi-4-mini-instruct-generic-cpu"
    assert resolve_model("PHI-4-MINI", SERVED, cfg) == "phi-4-mini-instruct-generic-cpu"


def test_resolve_model_prefers_the_shortest_match() -> None:
    served = ["phi-4-mini-instruct-generic-gpu-long", "phi-4-mini-instruct-generic-cpu"]
    assert resolve_model("phi-4-mini", served, config("http://127.0.0.1:1/v1")) == "phi-4-mini-instruct-generic-cpu"


def test_resolve_model_not_served_lists_what_is_served() -> None:
    cfg = config("http://127.0.0.1:1/v1", tier="llm", model="gpt-oss-120b", env_hint="RAG_LLM_BASE_URL")
    with pytest.raises(ModelNotServed) as info:
        resolve_model("gpt-oss-120b", SERVED, cfg)
    message = str(info.value)
    assert "gpt-oss-120b" in message
    for served in SERVED:
        assert served in message
    assert "RAG_LLM_MODEL" in message
    assert info.value.tier == "llm"



# ------------------------------------------------------------------ reasoning models

LLM = "gpt-oss-20b"
THINKING = "The user asks which port Foundry Local uses. Source 1 says 5273, so answer that and cite it."
ANSWER = "Foundry Local listens on port 5273 by default. [Source 1]"
MARKUP = ("<|", "|>", "<think>", "</think>", "analysis", "assistant")


def llm_config(base_url: str, **kw) -> TierConfig:
    return config(base_url, tier="llm", model=LLM, **kw)


@pytest.mark.asyncio
@pytest.mark.parametrize("shape", [s for s in SHAPES if s != "length"])
async def test_each_shape_streams_the_thinking_apart_from_a_clean_answer(scripted: ScriptedServer, shape: str) -> None:
    scripted.enqueue(LLM, reasoning_script(shape, THINKING, ANSWER))
    events, _ = await collect(llm_config(scripted.base_url))
    deltas = [e for e in events if isinstance(e, Delta)]
    kinds = [d.kind for d in deltas]
    assert kinds == sorted(kinds, key=lambda k: k == "answer")  # all the thinking, then all the answer
    assert "".join(d.text for d in deltas if d.kind == "reasoning").strip() == THINKING
    assert "".join(d.text for d in deltas if d.kind == "answer") == ANSWER
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.error is None
    assert finished.text == ANSWER and finished.reasoning == THINKING
    assert not any(m in finished.text for m in MARKUP)
    m = finished.metrics
    assert m.ttft_ms is not None and m.ttfa_ms is not None and m.ttft_ms <= m.ttfa_ms
    assert m.estimated is False and m.reasoning_estimated is True  # usage, but no reasoning_tokens in it
    assert 0 < m.reasoning_tokens < m.completion_tokens and m.answer_tokens == m.completion_tokens - m.reasoning_tokens


@pytest.mark.asyncio
async def test_reasoning_tokens_come_from_the_servers_usage_when_it_sends_them(scripted: ScriptedServer) -> None:
    scripted.enqueue(LLM, reasoning_script("reasoning_content", THINKING, ANSWER, completion_tokens=40, reasoning_tokens=29))
    events, _ = await collect(llm_config(scripted.base_url, prices=Prices(completion=1.0)))
    m = events[-1].metrics
    assert (m.completion_tokens, m.reasoning_tokens, m.answer_tokens) == (40, 29, 11)
    assert m.estimated is False and m.reasoning_estimated is False
    assert m.cost == pytest.approx(40 / 1000 * 1.0)  # thinking is billed like any output
    data = m.to_json()
    assert (data["reasoning_tokens"], data["answer_tokens"]) == (29, 11)


@pytest.mark.asyncio
async def test_without_usage_thinking_and_answer_are_counted_with_tiktoken(scripted: ScriptedServer) -> None:
    scripted.enqueue(LLM, reasoning_script("think", THINKING, ANSWER, usage=False))
    events, _ = await collect(llm_config(scripted.base_url))
    m = events[-1].metrics
    thought, said = count_tokens([THINKING, ANSWER])
    assert (m.reasoning_tokens, m.answer_tokens, m.completion_tokens) == (thought, said, thought + said)
    assert m.estimated is True and m.reasoning_estimated is True


@pytest.mark.asyncio
async def test_a_model_that_does_not_think_has_no_thinking_metrics(scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(["Port ", "5273."]))
    events, _ = await collect(config(scripted.base_url))
    finished = events[-1]
    assert [e.kind for e in events if isinstance(e, Delta)] == ["answer", "answer"]
    assert finished.reasoning == "" and finished.metrics.reasoning_tokens == 0 and finished.metrics.thinking_ms == 0
    assert finished.metrics.ttfa_ms == finished.metrics.ttft_ms


@pytest.mark.asyncio
async def test_timings_split_thinking_from_answer_generation(scripted: ScriptedServer) -> None:
    """Four thinking deltas then three answer deltas, 40 ms apart: thinking is four gaps, generation two."""
    scripted.enqueue(LLM, Script(["Port ", "5273 ", "[Source 1]."], reasoning=["a ", "b ", "c ", "d "], chunk_delay=0.04,
                                 completion_tokens=7, reasoning_tokens=4))
    events, _ = await collect(llm_config(scripted.base_url))
    m = events[-1].metrics
    assert m.thinking_ms >= 4 * 40 * 0.8
    assert 2 * 40 * 0.8 <= m.generation_ms < m.thinking_ms
    assert m.ttfa_ms == pytest.approx(m.ttft_ms + m.thinking_ms, abs=1.0)
    assert m.ttft_ms + m.thinking_ms + m.generation_ms <= m.total_ms + 1e-6
    assert m.answer_tokens == 3
    assert m.tokens_per_s == pytest.approx((3 - 1) / (m.generation_ms / 1000))  # answer tokens over answer time


@pytest.mark.asyncio
async def test_thinking_until_max_tokens_is_a_budget_error_with_what_to_change(scripted: ScriptedServer) -> None:
    scripted.enqueue(LLM, reasoning_script("length", THINKING, ""))
    events, _ = await collect(llm_config(scripted.base_url, max_tokens=512, reasoning_effort="low"))
    finished = events[-1]
    assert isinstance(finished.error, ReasoningBudgetExhausted)
    assert str(finished.error) == (
        "gpt-oss-20b used all 512 tokens thinking and wrote no answer: raise RAG_LLM_MAX_TOKENS (now 512) "
        "or lower RAG_LLM_REASONING_EFFORT (now low)."
    )
    assert finished.error.tier == "llm" and finished.error.url == scripted.base_url
    assert finished.text == "" and finished.reasoning == THINKING and finished.finish_reason == "length"
    assert finished.metrics.error == str(finished.error) and finished.metrics.ttfa_ms is None


@pytest.mark.asyncio
async def test_harmony_cut_in_its_analysis_channel_is_a_budget_error_too(scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(chunked("<|channel|>analysis<|message|>Weighing sources 1 and 2", 5), finish_reason="length"))
    events, _ = await collect(config(scripted.base_url, max_tokens=64))
    assert isinstance(events[-1].error, ReasoningBudgetExhausted)
    assert "RAG_SLM_MAX_TOKENS (now 64)" in str(events[-1].error) and "not sent" in str(events[-1].error)


@pytest.mark.asyncio
async def test_an_answer_cut_by_max_tokens_is_not_a_budget_error(scripted: ScriptedServer) -> None:
    scripted.enqueue(LLM, Script(["Foundry Local listens on"], reasoning=["Check source 1."], finish_reason="length"))
    events, _ = await collect(llm_config(scripted.base_url))
    assert events[-1].error is None and events[-1].text == "Foundry Local listens on"


@pytest.mark.asyncio
async def test_both_field_names_in_one_delta_are_one_thought(scripted: ScriptedServer) -> None:
    scripted.enqueue(LLM, Script(["Port 5273."], reasoning=["Source ", "1."], reasoning_field="both"))
    events, _ = await collect(llm_config(scripted.base_url))
    assert (events[-1].reasoning, events[-1].text) == ("Source 1.", "Port 5273.")


@pytest.mark.asyncio
async def test_the_completion_profile_separates_think_tags_too(scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(["<thi", "nk>Context says 5273.</th", "ink>", " 5273."]))
    events, _ = await collect(config(scripted.base_url, profile="completion", reasoning_effort="low"))
    assert (events[-1].text, events[-1].reasoning) == ("5273.", "Context says 5273.")
    assert "reasoning_effort" not in scripted.requests[-1]["body"]  # base models have no such parameter


# ------------------------------------------------------------------ reasoning_effort


@pytest.mark.asyncio
async def test_reasoning_effort_is_sent_as_configured_or_per_call(scripted: ScriptedServer) -> None:
    client = TierClient(llm_config(scripted.base_url, reasoning_effort="low"))
    try:
        for effort in (USE_CONFIG, "high", None):
            [e async for e in client.stream(PROMPT, reasoning_effort=effort)]
    finally:
        await client.aclose()
    bodies = [r["body"] for r in scripted.requests]
    assert [b.get("reasoning_effort", "absent") for b in bodies] == ["low", "high", "absent"]
    await collect(llm_config(scripted.base_url))  # unset: not sent
    assert "reasoning_effort" not in scripted.requests[-1]["body"]


@pytest.mark.asyncio
async def test_a_server_that_refuses_reasoning_effort_is_asked_again_without_it_and_remembers(scripted: ScriptedServer) -> None:
    scripted.enqueue(LLM, Script(["First."], reject=("reasoning_effort",)), Script(["Second."], reject=("reasoning_effort",)))
    client = TierClient(llm_config(scripted.base_url, reasoning_effort="low"))
    try:
        first = [e async for e in client.stream(PROMPT)][-1]
        second = await client.complete(PROMPT)
    finally:
        await client.aclose()
    assert first.error is None and first.text == "First."
    assert first.note is not None and "reasoning_effort='low'" in first.note and "HTTP 400" in first.note
    assert "RAG_LLM_REASONING_EFFORT" in first.note
    assert second.error is None and second.text == "Second." and second.note is None
    assert client.effort_rejected is True
    assert ["reasoning_effort" in r["body"] for r in scripted.requests] == [True, False, False]


@pytest.mark.asyncio
async def test_a_400_that_is_not_about_reasoning_effort_is_reported_and_nothing_is_remembered(scripted: ScriptedServer) -> None:
    scripted.enqueue(LLM, Script(status=400), Script(status=400))
    client = TierClient(llm_config(scripted.base_url, reasoning_effort="low"))
    try:
        finished = [e async for e in client.stream(PROMPT)][-1]
    finally:
        await client.aclose()
    assert isinstance(finished.error, BackendStatusError) and finished.error.status == 400
    assert client.effort_rejected is False and finished.note is None
    assert ["reasoning_effort" in r["body"] for r in scripted.requests] == [True, False]


# ------------------------------------------------------------------ without streaming


@pytest.mark.asyncio
@pytest.mark.parametrize("shape", ["reasoning_content", "reasoning", "harmony", "think"])
async def test_complete_reads_the_whole_message_the_same_way(scripted: ScriptedServer, shape: str) -> None:
    scripted.enqueue(LLM, reasoning_script(shape, THINKING, ANSWER, reasoning_tokens=20))
    client = TierClient(llm_config(scripted.base_url))
    try:
        finished = await client.complete(PROMPT)
    finally:
        await client.aclose()
    assert scripted.requests[-1]["body"]["stream"] is False and "stream_options" not in scripted.requests[-1]["body"]
    assert (finished.text, finished.reasoning, finished.error) == (ANSWER, THINKING, None)
    m = finished.metrics
    assert m.ttft_ms is None and m.ttfa_ms is None and m.total_ms > 0 and m.tokens_per_s is None
    assert m.prompt_tokens == 42 and m.reasoning_tokens == 20 and m.estimated is False


@pytest.mark.asyncio
async def test_complete_reports_the_budget_and_the_completion_profile(scripted: ScriptedServer) -> None:
    scripted.enqueue(LLM, reasoning_script("length", THINKING, ""))
    scripted.enqueue(SLM, Script([" 5273."]))
    llm, slm = TierClient(llm_config(scripted.base_url, max_tokens=300)), TierClient(config(scripted.base_url, profile="completion"))
    try:
        budget, plain = await llm.complete(PROMPT), await slm.complete(PROMPT)
    finally:
        await llm.aclose()
        await slm.aclose()
    assert isinstance(budget.error, ReasoningBudgetExhausted) and "300 tokens" in str(budget.error)
    assert (plain.text, plain.error, scripted.requests[-1]["path"]) == (" 5273.", None, "/v1/completions")


@pytest.mark.asyncio
async def test_complete_classifies_failures() -> None:
    url = dead_url()
    client = TierClient(config(url, timeout=2.0))
    try:
        finished = await client.complete(PROMPT)
    finally:
        await client.aclose()
    assert isinstance(finished.error, BackendUnavailable) and finished.text == ""


# ------------------------------------------------------------------ model ids as real servers list them
#
# One /v1/models answer per server, in the shape its documentation or source gives (README, "Reasoning models"):
# Foundry Local lists variant ids with device and version suffixes (ids as `foundry model list` and Foundry
# Local's own SDK tests name them); Ollama writes `{id: name, object: "model", created, owned_by: namespace}`
# (ollama/openai/openai.go, ToListCompletion); llama.cpp gives the -m path (or --alias) with owned_by
# "llamacpp" and a meta object (tools/server/README.md, GET /v1/models); vLLM writes a ModelCard with
# owned_by "vllm", root, parent, max_model_len and permission (vllm/entrypoints/openai/protocol.py).

FOUNDRY_LOCAL_MODELS = {"object": "list", "data": [
    {"id": "Phi-4-mini-instruct-generic-cpu:4", "object": "model", "created": 1754006400, "owned_by": "Microsoft"},
    {"id": "Phi-4-mini-reasoning-generic-cpu:1", "object": "model", "created": 1754006400, "owned_by": "Microsoft"},
    {"id": "gpt-oss-20b-cuda-gpu:1", "object": "model", "created": 1754006400, "owned_by": "Microsoft"},
]}
OLLAMA_MODELS = {"object": "list", "data": [
    {"id": "gpt-oss:20b", "object": "model", "created": 1754438400, "owned_by": "library"},
    {"id": "phi4-mini:latest", "object": "model", "created": 1754438400, "owned_by": "library"},
    {"id": "qwen3:8b", "object": "model", "created": 1754438400, "owned_by": "library"},
]}
LLAMA_CPP_MODELS = {"object": "list", "data": [
    {"id": "../models/gpt-oss-20b-mxfp4.gguf", "object": "model", "created": 1754438400, "owned_by": "llamacpp",
     "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
     "meta": {"vocab_type": 2, "n_vocab": 201088, "n_ctx_train": 131072, "n_embd": 2880, "n_params": 20914757184, "size": 12109565632}},
]}
VLLM_MODELS = {"object": "list", "data": [
    {"id": "openai/gpt-oss-20b", "object": "model", "created": 1754438400, "owned_by": "vllm", "root": "openai/gpt-oss-20b",
     "parent": None, "max_model_len": 131072,
     "permission": [{"id": "modelperm-0", "object": "model_permission", "created": 1754438400, "allow_create_engine": False,
                     "allow_sampling": True, "allow_logprobs": True, "allow_search_indices": False, "allow_view": True,
                     "allow_fine_tuning": False, "organization": "*", "group": None, "is_blocking": False}]},
]}

LISTINGS = {  # server -> (its listing, what gpt-oss-20b resolves to, what phi-4-mini resolves to or None)
    "foundry-local": (FOUNDRY_LOCAL_MODELS, "gpt-oss-20b-cuda-gpu:1", "Phi-4-mini-instruct-generic-cpu:4"),
    "ollama": (OLLAMA_MODELS, "gpt-oss:20b", "phi4-mini:latest"),
    "llama.cpp": (LLAMA_CPP_MODELS, "../models/gpt-oss-20b-mxfp4.gguf", None),
    "vllm": (VLLM_MODELS, "openai/gpt-oss-20b", None),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("server_name", list(LISTINGS))
async def test_aliases_resolve_against_each_servers_real_listing(server_name: str) -> None:
    listing, gpt_oss, phi = LISTINGS[server_name]
    server = ScriptedServer([], listing=listing).start()
    try:
        client = TierClient(llm_config(server.base_url))
        try:
            served = await client.served_models()
        finally:
            await client.aclose()
    finally:
        server.stop()
    assert served == [m["id"] for m in listing["data"]]
    cfg = llm_config(server.base_url)
    assert resolve_model("gpt-oss-20b", served, cfg) == gpt_oss
    if phi is None:
        with pytest.raises(ModelNotServed, match="does not serve 'phi-4-mini'"):
            resolve_model("phi-4-mini", served, cfg)
    else:
        assert resolve_model("phi-4-mini", served, cfg) == phi


@pytest.mark.parametrize(("name", "key"), [
    ("Phi-4-mini-instruct-generic-cpu:4", "phi4mini"), ("phi4-mini:latest", "phi4mini"), ("PHI_4_MINI", "phi4mini"),
    ("gpt-oss-20b-cuda-gpu:1", "gptoss20b"), ("gpt-oss:20b", "gptoss20b"), ("openai/gpt-oss-20b", "gptoss20b"),
    ("../models/gpt-oss-20b-mxfp4.gguf", "gptoss20b"), ("Phi-4-mini-instruct-Q4_K_M.gguf", "phi4mini"),
    ("phi-3.5-mini-instruct-qnn-npu:2", "phi35mini"), ("Phi-4-mini-reasoning-generic-cpu:1", "phi4minireasoning"),
])
def test_model_key_drops_case_separators_devices_versions_and_instruct(name: str, key: str) -> None:
    assert model_key(name) == key


def test_one_model_on_several_devices_resolves_to_the_gpu_then_the_newest() -> None:
    cfg = config("http://127.0.0.1:1/v1")
    served = ["Phi-4-mini-instruct-generic-cpu:4", "Phi-4-mini-instruct-cuda-gpu:4", "Phi-4-mini-instruct-npu:4"]
    assert resolve_model("phi-4-mini", served, cfg) == "Phi-4-mini-instruct-cuda-gpu:4"
    assert resolve_model("phi-4-mini", ["Phi-4-mini-instruct-generic-cpu:4", "Phi-4-mini-instruct-generic-cpu:5"], cfg) == "Phi-4-mini-instruct-generic-cpu:5"


def test_the_reasoning_variant_is_a_different_model_and_never_picked_silently() -> None:
    cfg = config("http://127.0.0.1:1/v1")
    both = ["Phi-4-mini-reasoning-generic-cpu:1", "Phi-4-mini-instruct-generic-cpu:4"]
    assert resolve_model("phi-4-mini", both, cfg) == "Phi-4-mini-instruct-generic-cpu:4"
    assert resolve_model("phi-4-mini-reasoning", both, cfg) == "Phi-4-mini-reasoning-generic-cpu:1"
    with pytest.raises(ModelNotServed) as info:
        resolve_model("phi-4-mini", ["Phi-4-mini-reasoning-generic-cpu:1"], cfg)
    assert "Phi-4-mini-reasoning-generic-cpu:1 is a different model" in str(info.value) and "RAG_SLM_MODEL" in str(info.value)


def test_an_ambiguous_alias_lists_the_candidates() -> None:
    cfg = config("http://127.0.0.1:1/v1", tier="llm")
    served = ["Phi-4-mini-instruct-generic-cpu:4", "Phi-4-mini-reasoning-generic-cpu:1", "gpt-oss-20b-cuda-gpu:1"]
    with pytest.raises(ModelNotServed) as info:
        resolve_model("phi-4", served, cfg)
    message = str(info.value)
    assert "several models that 'phi-4' could mean" in message
    assert "Phi-4-mini-instruct-generic-cpu:4" in message and "Phi-4-mini-reasoning-generic-cpu:1" in message
    assert "gpt-oss" not in message and "RAG_LLM_MODEL" in message
