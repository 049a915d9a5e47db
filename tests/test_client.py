"""The model client: ``TierClient`` against a real scripted SSE server on 127.0.0.1.

Streaming order, usage vs. estimated token counts, timings, every failure
classified into our error types with the server's URL (partial text kept), the
completion profile, and model alias resolution against ``/v1/models``.
"""

from __future__ import annotations

import socket
import time

import pytest
from scripted_server import Script, ScriptedServer

from rag.client import Delta, Finished, TierClient, TierConfig, resolve_model
from rag.errors import BackendError, BackendStatusError, BackendTimeout, BackendUnavailable, ModelNotServed
from rag.metrics import Prices, TierMetrics
from rag.prompts import Prompt
from rag.tokens import count_tokens

SLM = "phi-4-mini-instruct-generic-cpu"
PROMPT = Prompt(
    [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What port does Foundry Local use?"}],
    "Question: What port does Foundry Local use?\nAnswer:",
    ["\n"],
)


def config(base_url: str, **kw) -> TierConfig:
    return TierConfig(kw.pop("tier", "slm"), base_url, kw.pop("model", SLM), **kw)


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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


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
    scripted.enqueue(SLM, Script(["one ", "two ", "three"]))
    events, _ = await collect(config(scripted.base_url, prices=Prices(prompt=1.0, completion=2.0)))
    m = events[-1].metrics
    assert m.prompt_tokens == 42
    assert m.completion_tokens == 3  # the scripted server counts words
    assert m.estimated is False
    assert m.cost == pytest.approx(42 / 1000 * 1.0 + 3 / 1000 * 2.0)
    assert m.tier == "slm" and m.model == SLM


@pytest.mark.asyncio
async def test_tokens_are_estimated_with_tiktoken_without_usage(scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(["Foundry Local listens ", "on port 5273."], usage=False))
    events, _ = await collect(config(scripted.base_url))
    m = events[-1].metrics
    assert m.estimated is True
    prompt_text = "\n".join(msg["content"] for msg in PROMPT.messages)
    assert (m.prompt_tokens, m.completion_tokens) == tuple(count_tokens([prompt_text, "Foundry Local listens on port 5273."]))
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


@pytest.mark.asyncio
async def test_http_429_says_rate_limited(scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(status=429), Script(status=429))
    events, _ = await collect(config(scripted.base_url))
    error = events[-1].error
    assert isinstance(error, BackendStatusError) and error.status == 429
    assert "rate" in str(error).lower()


@pytest.mark.asyncio
async def test_a_retry_before_any_text_can_still_succeed(scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(status=503), Script(["recovered"]))
    events, _ = await collect(config(scripted.base_url))
    assert events[-1].error is None
    assert events[-1].text == "recovered"
    assert len(scripted.requests) == 2


@pytest.mark.asyncio
async def test_stream_dying_midway_keeps_the_partial_text(scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(["first ", "second ", "third ", "fourth"], die_after=2))
    events, _ = await collect(config(scripted.base_url))
    assert [e.text for e in events if isinstance(e, Delta)] == ["first ", "second "]
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert finished.text == "first second "
    assert isinstance(finished.error, BackendError)
    assert scripted.base_url in str(finished.error)
    assert finished.metrics.estimated is True  # no usage from a broken stream
    assert finished.metrics.completion_tokens == count_tokens(["first second "])[0]
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
    assert finished.text.startswith("before ")
    if finished.error is not None:
        assert isinstance(finished.error, BackendError)
        assert scripted.base_url in str(finished.error)


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
