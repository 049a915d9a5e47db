"""The demo page's server side (``rag.web.demo``): the pure wire events, and ``/demo``'s endpoints over real HTTP.

The pure part (``wire_event``, ``metrics_data``, ``encode``, ``demo_prompt``) is
tested on hand-made ``TierClient`` events. The endpoints run in a FastAPI app
that, like Chainlit's, ends with a catch-all ``GET /{full_path:path}``; the demo's
router is put ahead of it with ``rag.web.demo.mount``. The app is served by uvicorn on
127.0.0.1 inside the test's event loop and read with httpx over TCP, so the event
stream is read as the browser reads it, frame by frame. The tiers are real
``TierClient``s on the scripted OpenAI-compatible server; the docs index is
``SMALL_DOCS``. The browser side is ``test_demo_page.py``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import psutil
import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse

from rag.answer.prompts import build_prompt
from rag.errors import BackendUnavailable, ConfigError, TruncatedStream
from rag.search.index import Index, IndexReport
from rag.search.retrieval import search
from rag.settings import load_settings
from rag.tiers.base import Delta, Finished, TierStatus, Waiting
from rag.tiers.client import TierClient, TierConfig
from rag.tiers.discovery import Tiers
from rag.tiers.metrics import TierMetrics
from rag.tiers.queue import FairQueue
from rag.web.demo import COMPARE_PROMPT, KEEPALIVE, ROUTE_PREFIX, WireEvent, demo_prompt, demo_router, encode, metrics_data, mount, plotly_js, wire_event
from rag.web.runtime import Parts
from tests.support.helpers import free_port
from tests.support.scripted_server import Script, ScriptedServer, reasoning_script
from tests.support.tiers import served

SLM = "phi-4-mini-instruct-generic-cpu"
LLM = "gpt-oss-20b"
SECRET = "sk-demo-secret-4242"


# ------------------------------------------------------------------ the pure part


def test_a_delta_becomes_a_delta_event_of_its_tier_and_kind() -> None:
    assert wire_event("llm", Delta(text="Port ", kind="answer")) == WireEvent("delta", {"tier": "llm", "kind": "answer", "text": "Port "})
    assert wire_event("slm", Delta(text="The user asks", kind="reasoning")).data == {"tier": "slm", "kind": "reasoning", "text": "The user asks"}


def test_finished_becomes_tier_end_with_the_clean_answer_the_thinking_and_the_metrics() -> None:
    metrics = TierMetrics(
        tier="llm", model=LLM, ttft_ms=12.34, ttfa_ms=80.06, thinking_ms=67.7, generation_ms=400.0, total_ms=512.25,
        prompt_tokens=42, completion_tokens=30, reasoning_tokens=10,
    )
    event = wire_event("llm", Finished(text="Port 11434.", metrics=metrics, error=None, finish_reason="stop", reasoning="The user asks.", note="a note"), prep_ms=3.456)
    assert event.name == "tier_end"
    data = event.data
    assert (data["tier"], data["model"], data["answer"], data["reasoning"], data["error"], data["note"], data["finish_reason"]) == (
        "llm", LLM, "Port 11434.", "The user asks.", None, "a note", "stop",
    )
    m = data["metrics"]
    assert (m["prep_ms"], m["ttft_ms"], m["ttfa_ms"], m["thinking_ms"], m["generation_ms"], m["total_ms"]) == (3.5, 12.3, 80.1, 67.7, 400.0, 512.2)
    assert (m["prompt_tokens"], m["completion_tokens"], m["reasoning_tokens"], m["answer_tokens"]) == (42, 30, 10, 20)
    assert m["tokens_per_s"] == round(19 / 0.4, 1)  # answer tokens after the first, over answer generation time
    assert m["estimated"] is False and m["reasoning_estimated"] is False


def test_a_failed_tier_ends_with_its_error_in_words_and_estimated_counts_are_marked() -> None:
    metrics = TierMetrics(tier="llm", model=LLM, total_ms=5.0, estimated=True, prompt_tokens=9)
    error = BackendUnavailable("Nothing answers at http://127.0.0.1:9/v1: start the LLM server there (set RAG_LLM_BASE_URL).", "llm", "http://127.0.0.1:9/v1")
    data = wire_event("llm", Finished(text="", metrics=metrics, error=error)).data
    assert data["error"] == str(error)
    assert data["metrics"]["estimated"] is True
    assert data["metrics"]["ttft_ms"] is None and data["metrics"]["tokens_per_s"] is None


def test_a_cut_stream_ends_as_truncated_and_a_queued_one_says_how_many_are_ahead() -> None:
    cut = TruncatedStream("the SLM tier at http://127.0.0.1:9/v1 ended its stream before the model finished (no finish_reason): the answer is cut; ask again.")
    data = wire_event("slm", Finished(text="Edge AI runs", metrics=TierMetrics(tier="slm", queue_ms=812.34), error=cut)).data
    assert (data["answer"], data["error"], data["finish_reason"], data["truncated"]) == ("Edge AI runs", str(cut), None, True)
    assert data["metrics"]["queue_ms"] == 812.3
    other = BackendUnavailable("Nothing answers at http://127.0.0.1:9/v1.", "slm")
    assert wire_event("slm", Finished(text="", metrics=TierMetrics(tier="slm"), error=other)).data["truncated"] is False
    assert wire_event("slm", Finished(text="ok", metrics=TierMetrics(tier="slm"), error=None, finish_reason="stop")).data["truncated"] is False
    assert wire_event("slm", Waiting(ahead=2)) == WireEvent("queued", {"tier": "slm", "ahead": 2})


def test_metrics_without_an_answer_have_no_speed() -> None:
    m = metrics_data(TierMetrics(tier="slm", completion_tokens=1, generation_ms=0.0), 0.0)
    assert m["tokens_per_s"] is None and m["ttfa_ms"] is None


@pytest.mark.parametrize("text", ["plain", "two\nlines", "data: inside\n\nevent: fake", "ünïcode ✓", ""])
def test_encode_makes_one_sse_frame_whatever_the_text(text: str) -> None:
    frame = encode(WireEvent("delta", {"tier": "slm", "kind": "answer", "text": text}))
    assert frame.endswith("\n\n") and frame.count("\n\n") == 1  # a newline in the text cannot end the frame early
    head, data = frame[:-2].split("\n")
    assert head == "event: delta"
    assert json.loads(data.removeprefix("data: "))["text"] == text
    assert encode(KEEPALIVE) == ": keepalive\n\n"  # a comment: EventSource parsers ignore it


def test_the_prompt_alone_is_sent_as_rag_compare_sends_it() -> None:
    prompt = demo_prompt("Explain edge AI.")
    assert prompt.messages == [{"role": "user", "content": "Explain edge AI."}]
    assert prompt.text == "Question: Explain edge AI.\nAnswer:" and prompt.stop == ["\n\n"]


def test_pasted_reference_text_goes_whole_into_both_profiles() -> None:
    context = "The vault code is Owl-Lantern-7.\n\n" + "filler words " * 600  # longer than a chat source (2,400 chars)
    prompt = demo_prompt("What is the vault code?", context)
    assert context.strip() in prompt.messages[-1]["content"]
    assert prompt.messages[-1]["content"].endswith("What is the vault code?")
    assert " ".join(context.split()) in prompt.text and prompt.text.endswith("Question: What is the vault code?\nAnswer:")
    assert demo_prompt("q", "   \n ").messages == [{"role": "user", "content": "q"}]  # blank context: none


def test_index_passages_give_the_chats_grounded_prompt(small_index: Index) -> None:
    hits = search(small_index, "What port does Foundry Local listen on?", 3).hits
    assert demo_prompt("What port does Foundry Local listen on?", "ignored", hits, "en") == build_prompt("What port does Foundry Local listen on?", hits, "en")
    capped = demo_prompt("q", "", hits, "en", completion_max_tokens=200)
    assert capped.completion_max_tokens == 200  # the page's max tokens reaches a base model too


def test_the_default_prompt_is_rag_compares() -> None:
    from rag.cli import compare

    option = next(p for p in compare.params if p.name == "prompt")
    assert option.default == COMPARE_PROMPT and option.envvar == "COMPARE_PROMPT"


# ------------------------------------------------------------------ the endpoints, over HTTP


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """``app`` under uvicorn on 127.0.0.1, in this event loop; yields its URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="error", lifespan="off"))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("the demo app did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        await task


def tier_client(tier: str, base_url: str, model: str, **kw) -> TierClient:
    return TierClient(TierConfig(tier=tier, base_url=base_url, model=model, api_key=SECRET, env_hint=f"RAG_{tier.upper()}_BASE_URL", **kw))


def chainlit_like_app() -> FastAPI:
    """An app that ends with a catch-all GET route, as Chainlit's does (it serves its SPA there)."""
    app = FastAPI()

    @app.get("/{full_path:path}")
    async def spa(full_path: str) -> PlainTextResponse:
        return PlainTextResponse("the SPA")

    return app


class Demo:
    """The demo app on a real port: ``url``, ``runtime`` (swap ``tiers`` per test) and an httpx client."""

    def __init__(self, url: str, runtime: dict, http: httpx.AsyncClient) -> None:
        self.url, self.runtime, self.http = url, runtime, http

    async def run(self, **body) -> list[tuple[str, dict, float]]:
        """POST /demo/api/run; every event as (name, data, seconds since the request)."""
        return [e async for e in self.stream(**body)]

    async def stream(self, **body) -> AsyncIterator[tuple[str, dict, float]]:
        started = time.monotonic()
        async with self.http.stream("POST", f"{self.url}/demo/api/run", json=body) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"].startswith("text/event-stream")
            async for name, data in sse_events(response):
                yield name, data, time.monotonic() - started


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, dict]]:
    """(name, data) per SSE frame; keepalive comments are yielded as ("keepalive", {})."""
    buffer = ""
    async for text in response.aiter_text():
        buffer += text
        while "\n\n" in buffer:
            frame, buffer = buffer.split("\n\n", 1)
            if frame.startswith(":"):
                yield "keepalive", {}
                continue
            lines = dict(line.split(": ", 1) for line in frame.split("\n"))
            yield lines["event"], json.loads(lines["data"])


@pytest_asyncio.fixture
async def demo(scripted: ScriptedServer, small_index: Index) -> AsyncIterator[Demo]:
    """Both tiers on the scripted server (the SLM answers the chat profile), the small docs index."""
    slm, llm = tier_client("slm", scripted.base_url, SLM), tier_client("llm", scripted.base_url, LLM)
    statuses = [
        TierStatus(tier="slm", ok=True, base_url=scripted.base_url, model=SLM, origin="configured"),
        TierStatus(tier="llm", ok=True, base_url=scripted.base_url, model=LLM, origin="configured"),
    ]
    tiers = Tiers(served(slm), served(llm), statuses)
    runtime = {"value": Parts(load_settings(), small_index, IndexReport(), tiers)}  # what Runtime.ready() returns

    async def get_runtime():
        value = runtime["value"]
        if isinstance(value, Exception):
            raise value
        return value

    app = chainlit_like_app()
    mount(app, demo_router(get_runtime))
    try:
        async with serving(app) as url, httpx.AsyncClient(timeout=30) as http:
            yield Demo(url, runtime, http)
    finally:
        await slm.aclose()
        await llm.aclose()


def named(events, name: str, tier: str | None = None) -> list[dict]:
    return [d for n, d, _ in events if n == name and (tier is None or d.get("tier") == tier)]


def streamed(events, tier: str, kind: str = "answer") -> str:
    return "".join(d["text"] for d in named(events, "delta", tier) if d["kind"] == kind)


@pytest.mark.asyncio
async def test_both_tiers_stream_their_own_tokens_then_end_with_metrics_from_usage(demo: Demo, scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(["Edge AI ", "runs on ", "the device."], chunk_delay=0.2))
    scripted.enqueue(LLM, Script(["An edge model ", "is small."]))
    events = await demo.run(prompt="Explain edge AI.")
    names = [n for n, _, _ in events if n != "keepalive"]
    assert names[0] == "pass" and names[-1] == "done"
    assert sorted(d["tier"] for d in named(events, "tier_start")) == ["llm", "slm"]
    assert streamed(events, "slm") == "Edge AI runs on the device."
    assert streamed(events, "llm") == "An edge model is small."
    for tier, model, answer in (("slm", SLM, "Edge AI runs on the device."), ("llm", LLM, "An edge model is small.")):
        [end] = named(events, "tier_end", tier)
        assert (end["model"], end["answer"], end["error"], end["reasoning"]) == (model, answer, None, "")
        m = end["metrics"]
        assert m["prompt_tokens"] == 42 and m["estimated"] is False  # the scripted server's usage
        assert m["ttft_ms"] is not None and m["ttft_ms"] <= m["total_ms"]
        assert m["prep_ms"] == named(events, "pass")[0]["prep_ms"]
    # streamed, not buffered: the SLM's first token reached the client while two more were still 0.2 s apart
    first = next(t for n, d, t in events if n == "delta" and d["tier"] == "slm")
    end = next(t for n, d, t in events if n == "tier_end" and d["tier"] == "slm")
    assert end - first >= 0.3
    assert named(events, "pass")[0] == {
        "prep_ms": named(events, "pass")[0]["prep_ms"], "context": "none", "prompt_chars": len("Explain edge AI."), "tiers": ["slm", "llm"]
    }


@pytest.mark.asyncio
async def test_tiers_run_at_once_unless_asked_one_after_the_other(demo: Demo, scripted: ScriptedServer) -> None:
    for _ in range(2):
        scripted.enqueue(SLM, Script([f"s{i} " for i in range(4)], chunk_delay=0.15))
        scripted.enqueue(LLM, Script([f"l{i} " for i in range(4)], chunk_delay=0.15))
    together = [(n, d.get("tier")) for n, d, _ in await demo.run(prompt="p") if n in ("delta", "tier_end")]
    first_llm = together.index(("delta", "llm"))
    assert first_llm < together.index(("tier_end", "slm"))  # the LLM streamed while the SLM still did
    apart = [(n, d.get("tier")) for n, d, _ in await demo.run(prompt="p", sequential=True) if n in ("tier_start", "delta", "tier_end")]
    assert apart.index(("tier_end", "slm")) < apart.index(("tier_start", "llm"))  # the LLM started after the SLM ended
    assert [r["model"] for r in scripted.requests] == [SLM, LLM, SLM, LLM]


@pytest.mark.asyncio
async def test_only_the_chosen_tiers_run_with_the_pages_temperature_and_max_tokens(demo: Demo, scripted: ScriptedServer) -> None:
    events = await demo.run(prompt="p", tiers=["llm"], temperature=0.7, max_tokens=77)
    assert [d["tier"] for d in named(events, "tier_end")] == ["llm"]
    [request] = scripted.requests
    assert (request["model"], request["body"]["temperature"], request["body"]["max_tokens"]) == (LLM, 0.7, 77)


@pytest.mark.asyncio
async def test_a_tier_that_is_down_says_why_and_what_to_set_while_the_other_runs(demo: Demo, scripted: ScriptedServer) -> None:
    tiers = demo.runtime["value"].tiers
    note = "the LLM tier is not configured (set RAG_LLM_BASE_URL)"
    demo.runtime["value"] = replace(demo.runtime["value"], tiers=Tiers(tiers.slm, None, [tiers.statuses[0], TierStatus(tier="llm", ok=False, model=LLM, note=note)]))
    scripted.enqueue(SLM, Script(["Edge AI is local."]))
    events = await demo.run(prompt="Explain edge AI.")
    assert named(events, "tier_down") == [{"tier": "llm", "reason": note}]
    [end] = named(events, "tier_end")
    assert (end["tier"], end["answer"], end["error"]) == ("slm", "Edge AI is local.", None)
    assert [r["model"] for r in scripted.requests] == [SLM]
    config = (await demo.http.get(f"{demo.url}/demo/api/config")).json()
    assert [(t["tier"], t["ok"], t["note"]) for t in config["tiers"]] == [("slm", True, ""), ("llm", False, note)]


@pytest.mark.asyncio
@pytest.mark.parametrize("fault", ["refused", "http-500", "died-mid-stream"])
async def test_a_tier_that_fails_during_the_pass_reports_its_error_and_the_other_completes(demo: Demo, scripted: ScriptedServer, fault: str) -> None:
    tiers = demo.runtime["value"].tiers
    if fault == "refused":
        dead = tier_client("llm", f"http://127.0.0.1:{free_port()}/v1", LLM)  # nothing listens there
        demo.runtime["value"] = replace(demo.runtime["value"], tiers=Tiers(tiers.slm, served(dead), tiers.statuses))
    elif fault == "http-500":
        scripted.enqueue(LLM, Script(status=500), Script(status=500))  # the SDK retries a 5xx once
    else:
        scripted.enqueue(LLM, Script(["An edge model ", "is", " small"], die_after=2))
    scripted.enqueue(SLM, Script(["Edge AI ", "is local."], chunk_delay=0.05))
    try:
        events = await demo.run(prompt="Explain edge AI.")
    finally:
        if fault == "refused":
            await dead.aclose()
    [slm] = named(events, "tier_end", "slm")
    assert (slm["answer"], slm["error"]) == ("Edge AI is local.", None)
    [llm] = named(events, "tier_end", "llm")
    expected = {
        "refused": "start the LLM server there or point the tier elsewhere (set RAG_LLM_BASE_URL)",
        "http-500": "failed with HTTP 500",
        "died-mid-stream": "broke off the answer mid-stream",
    }[fault]
    assert expected in llm["error"]
    if fault == "died-mid-stream":
        assert llm["answer"] == "An edge model is"  # the partial answer is kept
    assert named(events, "done") == [{}]


@pytest.mark.asyncio
async def test_a_cut_stream_is_reported_as_truncated_with_its_partial_text_not_as_done(demo: Demo, scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(["Edge AI ", "runs on ", "the device."], cut_after=2))  # [DONE] with no finish_reason
    events = await demo.run(prompt="Explain edge AI.", tiers=["slm"])
    [end] = named(events, "tier_end", "slm")
    assert end["truncated"] is True and end["finish_reason"] is None
    assert end["answer"] == "Edge AI runs on " == streamed(events, "slm")
    assert "no finish_reason" in end["error"] and "the answer is cut" in end["error"]
    assert named(events, "done") == [{}]


@pytest.mark.asyncio
async def test_passes_on_a_queued_tier_wait_in_line_and_are_told_their_place(demo: Demo, scripted: ScriptedServer) -> None:
    """Two /demo passes at once on an SLM with a one-slot queue (the embedded server's): the second waits, then completes."""
    tiers = demo.runtime["value"].tiers
    queued = tier_client("slm", scripted.base_url, SLM)
    queued.queue = FairQueue()
    demo.runtime["value"] = replace(demo.runtime["value"], tiers=Tiers(served(queued), tiers.llm, tiers.statuses))
    scripted.enqueue(SLM, Script(["one ", "two ", "three"], chunk_delay=0.2), Script(["four ", "five"]))

    async def later() -> list:
        await asyncio.sleep(0.2)
        return await demo.run(prompt="p", tiers=["slm"])

    try:
        first, second = await asyncio.gather(demo.run(prompt="p", tiers=["slm"]), later())
    finally:
        await queued.aclose()
    assert named(first, "queued") == [] and named(second, "queued") == [{"tier": "slm", "ahead": 1}]
    names = [n for n, _, _ in second]
    assert names.index("tier_start") < names.index("queued") < names.index("delta")
    [end] = named(second, "tier_end", "slm")
    assert (end["answer"], end["error"], end["truncated"]) == ("four five", None, False)
    assert end["metrics"]["queue_ms"] > 100
    assert named(first, "tier_end", "slm")[0]["metrics"]["queue_ms"] == 0


@pytest.mark.asyncio
async def test_pasted_reference_text_reaches_both_tiers_prompts(demo: Demo, scripted: ScriptedServer) -> None:
    context = "The vault code is Owl-Lantern-7. It opens the north door."
    events = await demo.run(prompt="What is the vault code?", context=context)
    assert named(events, "pass")[0]["context"] == "pasted"
    assert not named(events, "passages")
    assert [r["model"] for r in sorted(scripted.requests, key=lambda r: r["model"])] == [LLM, SLM]
    for request in scripted.requests:
        user = request["body"]["messages"][-1]["content"]
        assert context in user and user.endswith("What is the vault code?")


@pytest.mark.asyncio
async def test_a_base_model_gets_the_reference_text_in_its_completion_prompt(demo: Demo, scripted: ScriptedServer) -> None:
    tiers = demo.runtime["value"].tiers
    base = tier_client("slm", scripted.base_url, SLM, profile="completion")
    demo.runtime["value"] = replace(demo.runtime["value"], tiers=Tiers(served(base), tiers.llm, tiers.statuses))
    try:
        await demo.run(prompt="What is the vault code?", context="The vault code is Owl-Lantern-7.", tiers=["slm"], max_tokens=64)
    finally:
        await base.aclose()
    [request] = scripted.requests
    assert request["path"] == "/v1/completions"
    assert request["body"]["prompt"] == "Context: The vault code is Owl-Lantern-7.\nQuestion: What is the vault code?\nAnswer:"
    assert request["body"]["max_tokens"] == 64


@pytest.mark.asyncio
async def test_the_docs_index_switch_retrieves_passages_and_grounds_the_prompt(demo: Demo, scripted: ScriptedServer) -> None:
    events = await demo.run(prompt="What port does Foundry Local listen on?", context="pasted text that must not be used", use_index=True, tiers=["slm"])
    [passages] = named(events, "passages")
    assert passages["hits"][0]["source"] == "foundry.md"
    assert "port 5273" in passages["hits"][0]["text"]
    assert [h["n"] for h in passages["hits"]] == list(range(1, len(passages["hits"]) + 1))
    assert passages["covered"] is True and passages["retrieval_ms"] >= 0
    assert named(events, "pass")[0]["context"] == "index"
    [request] = scripted.requests
    user = request["body"]["messages"][-1]["content"]
    assert "Source 1 (foundry.md › Foundry Local):" in user and "must not be used" not in user
    assert "Use only the sources below" in request["body"]["messages"][0]["content"]  # the chat's grounded prompt


@pytest.mark.asyncio
@pytest.mark.parametrize("shape", ["reasoning_content", "harmony", "think"])
async def test_a_thinking_models_thoughts_stream_apart_from_its_answer(demo: Demo, scripted: ScriptedServer, shape: str) -> None:
    thought, answer = "The user asks about edge AI. I will be brief.", "Edge AI runs models on the device itself."
    scripted.enqueue(LLM, reasoning_script(shape, thought, answer))
    events = await demo.run(prompt="Explain edge AI.", tiers=["llm"])
    assert streamed(events, "llm", "reasoning").strip() == thought
    assert streamed(events, "llm", "answer").strip() == answer
    [end] = named(events, "tier_end", "llm")
    assert (end["answer"].strip(), end["reasoning"]) == (answer, thought)
    assert end["metrics"]["ttfa_ms"] >= end["metrics"]["ttft_ms"]


def _connections_to(port: int) -> int:
    return sum(1 for c in psutil.Process().net_connections("tcp") if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED)


@pytest.mark.asyncio
async def test_stop_closes_the_model_request_and_the_tier_can_run_again(demo: Demo, scripted: ScriptedServer) -> None:
    """The page stops a pass by closing the event stream: the tier's request to its server is closed too."""
    scripted.enqueue(SLM, Script([f"chunk{i} " for i in range(200)], chunk_delay=0.05))
    seen = []
    async for name, data, _ in demo.stream(prompt="p", tiers=["slm"]):
        if name == "delta":
            seen.append(data["text"])
        if len(seen) == 3:
            assert _connections_to(scripted.port) == 1  # the SLM's stream, open
            break  # leaving the block closes the response: what the browser's AbortController does
    deadline = time.monotonic() + 10
    while _connections_to(scripted.port) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert _connections_to(scripted.port) == 0
    assert seen == ["chunk0 ", "chunk1 ", "chunk2 "]
    events = await demo.run(prompt="p", tiers=["slm"])
    assert named(events, "tier_end", "slm")[0]["answer"] == "OK"


@pytest.mark.asyncio
async def test_a_slow_first_token_is_bridged_with_keepalives(demo: Demo, scripted: ScriptedServer) -> None:
    scripted.enqueue(SLM, Script(["late"], delay=2.3))
    events = await demo.run(prompt="p", tiers=["slm"])
    names = [n for n, _, _ in events]
    assert names.count("keepalive") >= 1
    assert names.index("keepalive") < names.index("delta")
    assert streamed(events, "slm") == "late"


@pytest.mark.asyncio
@pytest.mark.parametrize("body, field", [
    ({"prompt": ""}, "prompt"),
    ({"prompt": "p", "tiers": []}, "tiers"),
    ({"prompt": "p", "tiers": ["gpu"]}, "tiers"),
    ({"prompt": "p", "temperature": 5}, "temperature"),
    ({"prompt": "p", "max_tokens": 0}, "max_tokens"),
    ({"prompt": "p", "context": "x" * 20_001}, "context"),
    ({"prompt": "p", "api_key": "mine"}, "api_key"),
])
async def test_a_bad_request_is_refused_naming_the_field(demo: Demo, scripted: ScriptedServer, body: dict, field: str) -> None:
    response = await demo.http.post(f"{demo.url}/demo/api/run", json=body)
    assert response.status_code == 422
    assert any(field in [str(p) for p in d["loc"]] for d in response.json()["detail"])
    assert scripted.requests == []


@pytest.mark.asyncio
async def test_the_page_its_files_and_plotly_are_served_ahead_of_the_catch_all(demo: Demo) -> None:
    page = await demo.http.get(f"{demo.url}/demo")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/demo/static/demo.js">' in page.text and '<script src="/demo/static/plotly.min.js">' in page.text
    js = await demo.http.get(f"{demo.url}/demo/static/demo.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript") and "serverEvents" in js.text
    assert (await demo.http.get(f"{demo.url}/demo/static/demo.css")).headers["content-type"].startswith("text/css")
    plotly = await demo.http.get(f"{demo.url}/demo/static/plotly.min.js")
    assert plotly.status_code == 200 and plotly.headers["content-type"].startswith("text/javascript")
    assert plotly.content == plotly_js().read_bytes()  # the installed package's own file
    for name in ("index.html", "nothing.js", "..%2Fdemo.py", "%2e%2e%2Fdemo.py"):  # only the listed files are served
        response = await demo.http.get(f"{demo.url}/demo/static/{name}")
        assert response.status_code == 404 or response.text == "the SPA", name
        assert "demo_router" not in response.text
    assert (await demo.http.get(f"{demo.url}/some/chat/route")).text == "the SPA"  # the catch-all still serves the rest


def test_mounting_again_replaces_the_demo_routes() -> None:
    """Chainlit's -w reload imports app.py again: the demo's routes must not pile up."""
    async def get_runtime():
        raise AssertionError("not called")

    app = chainlit_like_app()
    mount(app, demo_router(get_runtime))
    count = len(app.router.routes)
    mount(app, demo_router(get_runtime))
    assert len(app.router.routes) == count

    def names(routes) -> list[str]:  # FastAPI 0.16x keeps an included router as one entry
        return [n for r in routes for n in (names(r.original_router.routes) if hasattr(r, "original_router") else [r.name])]

    flat = names(app.router.routes)
    assert flat.index(ROUTE_PREFIX + "page") < flat.index("spa")
    assert sum(n.startswith(ROUTE_PREFIX) for n in flat) == 5


@pytest.mark.asyncio
async def test_config_gives_the_default_prompt_and_tiers_and_no_key_ever_leaves(demo: Demo, scripted: ScriptedServer) -> None:
    response = await demo.http.get(f"{demo.url}/demo/api/config")
    config = response.json()
    assert config["default_prompt"] == COMPARE_PROMPT
    assert [(t["tier"], t["ok"], t["model"], t["max_tokens"]) for t in config["tiers"]] == [("slm", True, SLM, 256), ("llm", True, LLM, 256)]
    assert (config["documents"], config["passages"]) == (6, len(demo.runtime["value"].index.chunks))
    stream = await demo.http.post(f"{demo.url}/demo/api/run", json={"prompt": "p"})
    assert SECRET not in response.text and SECRET not in stream.text
    assert all(r["body"].get("model") for r in scripted.requests)  # the key went to the model server only


@pytest.mark.asyncio
async def test_compare_prompt_is_the_default_and_a_failed_start_is_said(scripted: ScriptedServer) -> None:
    state: dict[str, object] = {"error": ConfigError("Invalid setting: RAG_TOP_K: must be at most 50 (got 99)")}

    async def get_runtime():
        raise state["error"]

    app = chainlit_like_app()
    mount(app, demo_router(get_runtime, compare_prompt="Name two edge devices."))
    async with serving(app) as url, httpx.AsyncClient() as http:
        config = await http.get(f"{url}/demo/api/config")
        run = await http.post(f"{url}/demo/api/run", json={"prompt": "p"})
    assert config.status_code == 503 and "RAG_TOP_K" in config.json()["detail"]
    assert run.status_code == 503 and "could not start" in run.json()["detail"]
    assert scripted.requests == []


@pytest.mark.asyncio
async def test_the_runtime_object_of_app_py_is_understood(scripted: ScriptedServer, small_index: Index) -> None:
    """app.py hands over ``Runtime.ready``, whose parts have ``.settings/.index/.tiers``: top_k comes from the settings."""
    slm = tier_client("slm", scripted.base_url, SLM)
    tiers = Tiers(served(slm), None, [TierStatus(tier="slm", ok=True), TierStatus(tier="llm", ok=False, note="down")])
    parts = Parts(load_settings(top_k=2), small_index, IndexReport(), tiers)

    async def ready():
        return parts

    app = chainlit_like_app()
    mount(app, demo_router(ready, compare_prompt="Name two edge devices."))
    try:
        async with serving(app) as url, httpx.AsyncClient() as http:
            config = (await http.get(f"{url}/demo/api/config")).json()
            async with http.stream("POST", f"{url}/demo/api/run", json={"prompt": "Foundry Local port", "use_index": True}) as response:
                events = [(n, d) async for n, d in sse_events(response)]
    finally:
        await slm.aclose()
    assert config["default_prompt"] == "Name two edge devices." and config["top_k"] == 2
    [passages] = [d for n, d in events if n == "passages"]
    assert len(passages["hits"]) == 2
    assert [d for n, d in events if n == "tier_down"] == [{"tier": "llm", "reason": "down"}]


def test_the_page_files_are_package_data() -> None:
    """The page ships inside the package (pyproject's package-data), next to rag/web/demo.py."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]["rag.web"]
    for name in ("index.html", "demo.js", "demo.css"):
        assert (root / "rag" / "web" / "demo_page" / name).is_file()
        assert any(Path("demo_page", name).match(pattern) for pattern in data), (name, data)


@pytest.mark.asyncio
async def test_with_login_on_the_api_refuses_a_visitor_who_is_not_signed_in(demo: Demo, scripted: ScriptedServer) -> None:
    """The app passes Chainlit's get_current_user: with login on, the routes that run models need a signed-in user."""
    async def signed_in(request: Request) -> str:
        if request.headers.get("X-Test-User") != "alice":
            raise HTTPException(401, "Invalid authentication token")
        return "alice"

    app = chainlit_like_app()
    mount(app, demo_router(lambda: _value(demo.runtime["value"]), user=signed_in))
    async with serving(app) as url, httpx.AsyncClient() as http:
        refused = [await http.get(f"{url}/demo/api/config"), await http.post(f"{url}/demo/api/run", json={"prompt": "p"})]
        page = await http.get(f"{url}/demo")  # the page and its files hold no data: public
        allowed = await http.post(f"{url}/demo/api/run", json={"prompt": "p", "tiers": ["slm"]}, headers={"X-Test-User": "alice"})
    assert [r.status_code for r in refused] == [401, 401]
    assert page.status_code == 200
    assert allowed.status_code == 200 and "event: tier_end" in allowed.text
    assert [r["model"] for r in scripted.requests] == [SLM]  # only the signed-in pass reached a model


async def _value(value):
    return value
