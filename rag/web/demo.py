"""The workshop's demo page: ``/demo``, the SLM and LLM side by side, streamed, timed and charted.

Unlike the chat (``app.py``: one question, the escalation pipeline, Chainlit's
socket), the demo page sends *the same prompt to each tier at once* and shows
the tiers' raw answers next to each other, for comparing speed and quality in a
workshop. It talks only to this app (same origin): the model servers and their
API keys stay on the server side, behind the same ``TierClient`` the chat uses.

One pass is ``POST /demo/api/run`` with a ``RunRequest``; the answer is a
stream of server-sent events, each ``event: NAME`` plus one ``data:`` line of
JSON, in this order (tiers interleaved as their tokens arrive)::

    pass        {"prep_ms", "context": "none"|"pasted"|"index", "prompt_chars", "tiers"}
    passages    {"hits": [{"n", "source", "heading", "text", "score", "page"}], "retrieval_ms", "covered"}   index only
    tier_down   {"tier", "reason"}                       a tier that is not configured, or was down at start
    tier_start  {"tier", "model"}
    queued      {"tier", "ahead"}            waiting for the model (the embedded server's queue), per move
    delta       {"tier", "kind": "answer"|"reasoning", "text"}                       as the server streams
    tier_end    {"tier", "model", "answer", "reasoning", "error", "note", "finish_reason", "truncated", "metrics"}
    done        {}

plus ``: keepalive`` comments while nothing arrives (a closed page is noticed
then, and the tiers' requests are closed). ``tier_end.answer`` is the tier's
final answer: a bare ``</think>`` can turn text already streamed as answer into
thinking, so the page replaces what it streamed with it; ``truncated`` is true
for a stream that ended without a ``finish_reason`` (the answer is cut: shown
as cut, never as done). ``metrics`` is
``TierMetrics`` in milliseconds plus the pass's ``prep_ms`` (prompt building,
retrieval included); token counts are the server's usage when it sent one,
else tiktoken's, with ``estimated`` true.

The pure part (``wire_event``, ``metrics_data``, ``demo_prompt``,
``encode``) turns ``TierClient`` events into wire events without I/O;
``run_pass`` drives the tiers; ``demo_router`` serves the page, its files
(``rag/web/demo_page/``) and plotly.js from the installed ``plotly`` package, so the
page works offline. ``mount`` puts the routes ahead of Chainlit's catch-all.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from rag.answer.prompts import build_prompt
from rag.errors import RagError, TruncatedStream
from rag.search.retrieval import Hit, search
from rag.tiers.base import Delta, Finished, Tier, TierName, Waiting
from rag.tiers.metrics import TierMetrics
from rag.tiers.prompt import Prompt

if TYPE_CHECKING:
    from rag.search.index import Index
    from rag.tiers.base import TierStatus
    from rag.tiers.discovery import Tiers
    from rag.tiers.server import ServerTier
    from rag.web.runtime import Parts

__all__ = [
    "COMPARE_PROMPT",
    "RunRequest",
    "WireEvent",
    "demo_prompt",
    "demo_router",
    "encode",
    "metrics_data",
    "mount",
    "run_pass",
    "wire_event",
]

# The workshop's compare prompt (``rag compare``'s default; COMPARE_PROMPT overrides both).
COMPARE_PROMPT = "Explain in two sentences what an edge AI model is."
TIERS = (TierName.SLM, TierName.LLM)
PAGE_DIR = Path(__file__).with_name("demo_page")
KEEPALIVE_S = 1.0  # a ": keepalive" comment after this long without an event
MAX_CONTEXT_CHARS = 20_000  # pasted reference text; more is refused with a message, never cut silently
ROUTE_PREFIX = "rag-demo:"  # names of the routes ``mount`` owns (a -w reload replaces them)


# ------------------------------------------------------------------ the request (a trust boundary)


class RunRequest(BaseModel):
    """One pass, as the page sends it."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=8000)
    context: str = Field("", max_length=MAX_CONTEXT_CHARS, description="pasted reference text (RAG context)")
    use_index: bool = Field(False, description="retrieve the context from the docs index instead")
    tiers: list[Literal["slm", "llm"]] = Field(default_factory=lambda: list(TIERS), min_length=1)
    temperature: float | None = Field(None, ge=0, le=2, description="None: each tier's setting")
    max_tokens: int | None = Field(None, ge=1, le=32768, description="None: each tier's setting")
    sequential: bool = Field(False, description="one tier after the other (fairer timings when both run on this machine)")


# ------------------------------------------------------------------ pure: prompt and wire events


@dataclass(frozen=True)
class WireEvent:
    name: str  # "" for a keepalive comment
    data: dict[str, object] = field(default_factory=dict)


KEEPALIVE = WireEvent("")


def encode(event: WireEvent) -> str:
    """One SSE frame: ``event: delta\\ndata: {...}\\n\\n`` (JSON has no raw newline), or a ``: keepalive`` comment."""
    if not event.name:
        return ": keepalive\n\n"
    return f"event: {event.name}\ndata: {json.dumps(event.data, ensure_ascii=False)}\n\n"


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def metrics_data(metrics: TierMetrics, prep_ms: float) -> dict[str, object]:
    """What the page shows per pass: timings in ms (one decimal), tokens, answer tok/s, and which counts are estimates."""
    tps = metrics.tokens_per_s
    return {
        "prep_ms": _ms(prep_ms),
        "ttft_ms": _ms(metrics.ttft_ms),
        "ttfa_ms": _ms(metrics.ttfa_ms),
        "thinking_ms": _ms(metrics.thinking_ms),
        "generation_ms": _ms(metrics.generation_ms),
        "total_ms": _ms(metrics.total_ms),
        "queue_ms": _ms(metrics.queue_ms),  # waiting for the model before the request was sent (not in ttft or total)
        "prompt_tokens": metrics.prompt_tokens,
        "completion_tokens": metrics.completion_tokens,
        "reasoning_tokens": metrics.reasoning_tokens,
        "answer_tokens": metrics.answer_tokens,
        "tokens_per_s": None if tps is None else round(tps, 1),
        "estimated": metrics.estimated,  # token counts from tiktoken: the server sent no usage
        "reasoning_estimated": metrics.reasoning_estimated,
    }


def wire_event(tier: str, event: Waiting | Delta | Finished, prep_ms: float = 0.0) -> WireEvent:
    """A ``TierClient.stream`` event -> the wire event: ``queued`` for a ``Waiting``, ``delta`` for a ``Delta``,
    ``tier_end`` for the ``Finished``."""
    if isinstance(event, Waiting):
        return WireEvent("queued", {"tier": tier, "ahead": event.ahead})
    if isinstance(event, Delta):
        return WireEvent("delta", {"tier": tier, "kind": event.kind, "text": event.text})
    return WireEvent("tier_end", {
        "tier": tier,
        "model": event.metrics.model,
        "answer": event.text,
        "reasoning": event.reasoning,
        "error": None if event.error is None else str(event.error),
        "note": event.note,
        "finish_reason": event.finish_reason,
        "truncated": isinstance(event.error, TruncatedStream),
        "metrics": metrics_data(event.metrics, prep_ms),
    })


def passage_data(hits: Sequence[Hit]) -> list[dict[str, object]]:
    return [
        {"n": n, "source": h.source, "heading": h.heading, "text": h.text, "score": round(h.score, 2), "page": h.chunk.page}
        for n, h in enumerate(hits, 1)
    ]


def demo_prompt(prompt: str, context: str = "", hits: Sequence[Hit] = (), lang: str = "en", completion_max_tokens: int | None = None) -> Prompt:
    """The prompt of one pass, in both profiles (the tier's ``profile`` picks one).

    - passages from the docs index (``hits``): the chat's grounded prompt (``build_prompt``), so a
      pass costs what a chat turn costs;
    - pasted reference text (``context``): that text, whole, before the prompt;
    - neither: the prompt alone, exactly as ``rag compare`` sends it.

    ``completion_max_tokens`` caps a base model's answer (the completion profile); None keeps the chat's cap.
    """
    if hits:
        built = build_prompt(prompt, hits, lang)
    elif context.strip():
        flat = " ".join(context.split())
        built = Prompt(
            messages=[
                {"role": "system", "content": "Answer using the reference text below. If it does not contain the answer, say so."},
                {"role": "user", "content": f"Reference text:\n\n{context.strip()}\n\n{prompt}"},
            ],
            text=f"Context: {flat}\nQuestion: {' '.join(prompt.split())}\nAnswer:",
            stop=["\n"],
        )
    else:
        built = Prompt(messages=[{"role": "user", "content": prompt}], text=f"Question: {prompt}\nAnswer:", stop=["\n\n"])
    if completion_max_tokens is not None:
        built = Prompt(messages=built.messages, text=built.text, stop=built.stop, completion_max_tokens=completion_max_tokens)
    return built


# ------------------------------------------------------------------ the runtime, as app.py hands it over


@dataclass(frozen=True)
class DemoRuntime:
    """What the demo needs of the app's process-wide runtime (``rag.web.runtime.Parts``)."""

    index: Index
    tiers: Tiers  # .slm, .llm (None when down), .statuses, .supervisor (the embedded SLM's)
    top_k: int = 5
    language: str = "auto"
    min_coverage: float | None = None

    @classmethod
    def of(cls, parts: Parts) -> DemoRuntime:
        settings = parts.settings
        return cls(parts.index, parts.tiers, settings.top_k, settings.language, settings.min_coverage)


def _down_reason(tiers: Tiers, tier: str) -> str:
    return tiers.status(tier).note


# ------------------------------------------------------------------ one pass


async def run_pass(request: RunRequest, runtime: DemoRuntime) -> AsyncIterator[WireEvent]:
    """The wire events of one pass (see the module docstring); the tiers run at once unless ``request.sequential``.

    Closing this generator (the page stopped or went away) cancels the tiers' streams, which closes
    their requests to the model servers.
    """
    started = time.perf_counter()
    hits: list[Hit] = []
    lang = "en"
    passages: WireEvent | None = None
    if request.use_index:
        kw = {} if runtime.min_coverage is None else {"min_coverage": runtime.min_coverage}
        result = await asyncio.to_thread(search, runtime.index, request.prompt, runtime.top_k, language=runtime.language, **kw)
        hits, lang = list(result.hits), result.lang
        passages = WireEvent("passages", {"hits": passage_data(hits), "retrieval_ms": round(result.elapsed_ms, 1), "covered": result.confidence.covered})
    prompt = demo_prompt(request.prompt, "" if request.use_index else request.context, hits, lang, request.max_tokens)
    prep_ms = (time.perf_counter() - started) * 1000
    context = "index" if request.use_index else "pasted" if request.context.strip() else "none"
    chars = len(prompt.messages[-1]["content"])
    yield WireEvent("pass", {"prep_ms": round(prep_ms, 1), "context": context, "prompt_chars": chars, "tiers": list(request.tiers)})
    if passages is not None:
        yield passages

    clients: list[tuple[str, Tier]] = []
    for name in request.tiers:
        tier: Tier | None = getattr(runtime.tiers, name)
        if tier is not None:
            await tier.prepare()  # the chat's restart of a crashed embedded server, shared
        if tier is None or not tier.status().ok:
            yield WireEvent("tier_down", {"tier": name, "reason": _down_reason(runtime.tiers, name)})
        else:
            clients.append((name, tier))
    if clients:
        async for event in _stream_tiers(clients, prompt, request, prep_ms):
            yield event
    yield WireEvent("done", {})


_END = object()


async def _stream_tiers(clients: list[tuple[str, Tier]], prompt: Prompt, request: RunRequest, prep_ms: float) -> AsyncIterator[WireEvent]:
    """The tiers' events merged in arrival order, with keepalives while none arrives."""
    queue: asyncio.Queue[object] = asyncio.Queue()

    async def pump(tier: str, client: Tier) -> None:
        queue.put_nowait(WireEvent("tier_start", {"tier": tier, "model": client.model}))
        stream = client.stream(prompt, max_tokens=request.max_tokens, temperature=request.temperature)
        async with aclosing(stream) as events:  # closed on cancel: the server's request is closed too
            async for event in events:
                queue.put_nowait(wire_event(tier, event, prep_ms))

    async def produce() -> None:
        try:
            if request.sequential:
                for tier, client in clients:
                    await pump(tier, client)
            else:
                await asyncio.gather(*(pump(tier, client) for tier, client in clients))
        finally:
            queue.put_nowait(_END)

    producer = asyncio.create_task(produce())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                yield KEEPALIVE
                continue
            if item is _END:
                break
            yield item
        await producer  # a bug in a pump raises here, not silently
    finally:
        if not producer.done():
            producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)


# ------------------------------------------------------------------ HTTP


def _status_data(status: TierStatus, client: ServerTier | None) -> dict[str, object]:
    data = {k: getattr(status, k) for k in ("tier", "ok", "model", "base_url", "origin", "note")}
    if client is not None:
        data.update(model=client.config.model, max_tokens=client.config.max_tokens, temperature=client.config.temperature, profile=client.config.profile)
    return data


def plotly_js() -> Path:
    """plotly.min.js of the installed ``plotly`` package (the page never loads it from a CDN)."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


def demo_router(
    get_runtime: Callable[[], Awaitable[Parts]], compare_prompt: str | None = None, user: Callable[..., object] | None = None,
) -> APIRouter:
    """The demo's routes; ``get_runtime()`` returns the app's runtime parts (``Runtime.ready``), awaited per request.

    ``compare_prompt``: the page's default prompt (the app passes COMPARE_PROMPT; None: the workshop's).
    ``user``: a FastAPI dependency that raises HTTP 401 for a visitor who is not signed in (the app passes
    Chainlit's ``get_current_user``, which lets everyone in when login is off); it guards the API routes,
    which run models. The page and its files are public: they hold no data.
    """
    router = APIRouter()
    guarded = [Depends(user)] if user is not None else []
    default_prompt = compare_prompt or COMPARE_PROMPT
    files = {"demo.js": "text/javascript", "demo.css": "text/css"}

    async def runtime() -> DemoRuntime:
        try:
            return DemoRuntime.of(await get_runtime())
        except RagError as err:  # a bad setting: said on the page, like the chat says it
            raise HTTPException(503, f"The assistant could not start: {err}") from err

    @router.get("/demo", name=ROUTE_PREFIX + "page", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse((PAGE_DIR / "index.html").read_text(encoding="utf-8"), headers={"Cache-Control": "no-cache"})

    @router.get("/demo/static/plotly.min.js", name=ROUTE_PREFIX + "plotly", include_in_schema=False)
    async def plotly() -> FileResponse:
        return FileResponse(plotly_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    @router.get("/demo/static/{name}", name=ROUTE_PREFIX + "static", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        if name not in files:  # a fixed list: no path from the URL ever reaches the file system
            raise HTTPException(404, "no such file")
        return FileResponse(PAGE_DIR / name, media_type=files[name], headers={"Cache-Control": "no-cache"})

    @router.get("/demo/api/config", name=ROUTE_PREFIX + "config", dependencies=guarded)
    async def config() -> JSONResponse:
        rt = await runtime()
        tiers = []
        for tier in TIERS:
            client: ServerTier | None = getattr(rt.tiers, tier)
            if client is not None and not client.status().ok:  # crashed past its budget since the start: down, with the reason
                tiers.append({"tier": tier, "ok": False, "note": _down_reason(rt.tiers, tier)})
            else:
                tiers.append(_status_data(rt.tiers.status(tier), client))
        index = rt.index
        return JSONResponse({
            "default_prompt": default_prompt,
            "tiers": tiers,
            "top_k": rt.top_k,
            "passages": len(index.chunks),
            "documents": len(index.sources),
            "max_context_chars": MAX_CONTEXT_CHARS,
        })

    @router.post("/demo/api/run", name=ROUTE_PREFIX + "run", dependencies=guarded)
    async def run(request: RunRequest) -> StreamingResponse:
        rt = await runtime()

        async def frames() -> AsyncIterator[str]:
            async with aclosing(run_pass(request, rt)) as events:
                async for event in events:
                    yield encode(event)

        return StreamingResponse(frames(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return router


def _owned(route: object) -> bool:
    """A route of the demo's, or what ``include_router`` made of them (FastAPI 0.16x adds the router as one entry)."""
    if str(getattr(route, "name", "")).startswith(ROUTE_PREFIX):
        return True
    inner = getattr(route, "original_router", None)
    return inner is not None and any(_owned(r) for r in getattr(inner, "routes", []))


def mount(app: FastAPI, router: APIRouter) -> None:
    """Add ``router``'s routes *ahead of* the app's own, so Chainlit's catch-all ``GET /{full_path:path}``
    (which serves its SPA) does not shadow them (Chainlit 2.12 adds that route when the app starts, after app.py has imported). Mounting again (a ``-w`` reload
    re-imports app.py) replaces the demo's routes instead of adding a second set."""
    app.router.routes[:] = [r for r in app.router.routes if not _owned(r)]
    before = len(app.router.routes)
    app.include_router(router)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added
