"""The model client: one OpenAI-compatible tier, streamed (or not), timed and counted.

``TierClient.stream(prompt)`` is an async generator of ``Delta`` (text as it
arrives, each marked ``answer`` or ``reasoning``) ending with exactly one
``Finished`` (the answer, the thinking apart from it, the tier's metrics, and
the error if the stream broke). A client with a ``queue`` (``rag.tiers.queue.FairQueue``:
the embedded server, which serves one request at a time) first waits its turn
there, yielding ``Waiting(ahead)`` whenever its place in the line changes.
``complete(prompt)`` is the same request without streaming (queued the same way,
silently), returning the ``Finished``. A failure never raises out of either:
whatever was streamed before it is in ``Finished.text``, so the caller can keep
the partial answer. Failures are classified by the SDK's exception types
(``APITimeoutError``, ``APIConnectionError``, ``APIStatusError``), never by
message text.

Only what the wire can raise becomes a reported failure (``WIRE_ERRORS``): the
SDK's ``openai.APIError`` family, httpx's (and the SDK's httpx2's) errors, a
malformed SSE line (``json.JSONDecodeError``), bytes that are not UTF-8, and a
chunk or answer that is JSON but not the shape the API documents (``choices``
that are not a list, ``content`` that is not text: checked where each chunk is
read). Anything else is a bug of ours and raises out of ``stream()`` and
``complete()``: it must not be reported as "the backend failed" and escalated.

Reasoning models: every chunk goes through one ``rag.tiers.reasoning.ReasoningParser``,
whatever the shape (a ``reasoning_content`` or ``reasoning`` field, Harmony
markup or ``<think>`` tags in the content), in both prompt profiles. Thinking is
never part of ``Finished.text``. A model that hits ``max_tokens`` while still
thinking (``finish_reason == "length"``, no answer) ends with
``ReasoningBudgetExhausted``, which names the settings to change.

``reasoning_effort`` (``TierConfig.reasoning_effort``, or per call) is sent as
the OpenAI parameter on the chat profile (the completion profile is for base
models, which have none). A server that answers HTTP 400 to a request carrying
it is asked once more without it; when that succeeds, the client stops sending
it and says so in ``Finished.note``.

A stream that ends without a ``finish_reason`` (``[DONE]`` or the body's end
with none: llama-cpp-python's server cuts a running stream that way when another
request arrives, unless told not to) is a cut answer, never a success: it ends
with ``TruncatedStream``, the partial text kept.

Retries: the SDK retries only before a response starts (connection errors,
429/5xx), when nothing has been shown yet; a stream that breaks is not retried,
since that would repeat text the user already saw.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import openai
import pydantic
from openai import AsyncOpenAI

from rag.documents.tokens import count_tokens
from rag.errors import BackendError, BackendStatusError, BackendTimeout, BackendUnavailable, ReasoningBudgetExhausted, TruncatedStream
from rag.tiers.base import Delta, Finished, Waiting
from rag.tiers.metrics import Prices, TierMetrics
from rag.tiers.prompt import Prompt
from rag.tiers.queue import FairQueue, Ticket
from rag.tiers.reasoning import ANSWER, REASONING, ReasoningParser, split_message

__all__ = [
    "REASONING_EFFORTS",
    "USE_CONFIG",
    "WIRE_ERRORS",
    "Delta",
    "Finished",
    "MalformedResponse",
    "TierClient",
    "TierConfig",
    "Waiting",
    "classify",
]

REASONING_EFFORTS = ("low", "medium", "high")


class MalformedResponse(ValueError):
    """A chunk or answer that is valid JSON but not the shape the OpenAI API documents: a wire fault, not a bug."""


try:  # the HTTP library the SDK itself runs on (openai 3.x: httpx2); its errors can escape while a stream closes
    import httpx2

    _TIMEOUTS: tuple[type[Exception], ...] = (httpx.TimeoutException, httpx2.TimeoutException)
    _TRANSPORT: tuple[type[Exception], ...] = (httpx.TransportError, httpx2.TransportError)
    _HTTP: tuple[type[Exception], ...] = (httpx.HTTPError, httpx2.HTTPError)
except ImportError:  # openai 1.x and 2.x run on httpx
    _TIMEOUTS, _TRANSPORT, _HTTP = (httpx.TimeoutException,), (httpx.TransportError,), (httpx.HTTPError,)

# Everything a server, a proxy or the network can make the SDK raise; anything else is a bug and raises.
WIRE_ERRORS: tuple[type[Exception], ...] = (openai.APIError, *_HTTP, json.JSONDecodeError, UnicodeDecodeError, MalformedResponse)


class _UseConfig:
    """Sentinel: use the tier's configured value (as httpx's ``USE_CLIENT_DEFAULT``)."""

    def __repr__(self) -> str:
        return "USE_CONFIG"


USE_CONFIG = _UseConfig()


@dataclass(kw_only=True, frozen=True)
class TierConfig:
    """How to reach one model tier's server and what to ask it (``rag.tiers.discovery`` builds it from settings)."""

    tier: str  # a TierName: "slm" or "llm"
    base_url: str
    model: str
    api_key: str = field(default="not-needed", repr=False)  # never in a repr, a log or an error
    timeout: float = 60.0
    max_tokens: int = 256
    temperature: float = 0.0
    profile: str = "chat"  # "chat" or "completion" (see rag.answer.prompts)
    prices: Prices = Prices()
    env_hint: str = ""  # which setting points at this server, for error messages
    reasoning_effort: str | None = None  # "low" | "medium" | "high"; None: not sent (the server's default)


def classify(err: Exception, config: TierConfig, streaming: bool = False) -> BackendError:
    """An SDK or transport exception -> our error, with what to do next.

    ``streaming``: the server had already answered, so a dropped connection is a
    stream that broke off, not a server that is down.
    """
    where = f"the {config.tier.upper()} tier at {config.base_url}"
    hint = f" (set {config.env_hint})" if config.env_hint else ""
    if isinstance(err, BackendError):
        return err
    if isinstance(err, (openai.APITimeoutError, *_TIMEOUTS)):
        return BackendTimeout(f"{where} did not answer within {config.timeout:g} s: check the server, or raise the timeout{hint}.", config.tier, config.base_url)
    if isinstance(err, (json.JSONDecodeError, UnicodeDecodeError, MalformedResponse)):  # the SDK parses each SSE line as JSON
        what = {json.JSONDecodeError: "a line that is not JSON", UnicodeDecodeError: "bytes that are not UTF-8"}.get(type(err), "JSON that is not a completion")
        if streaming:
            return BackendError(f"{where} sent a malformed stream ({what}: {err}); the partial answer is kept.", config.tier, config.base_url)
        return BackendError(f"{where} sent a malformed answer ({what}: {err}): see the server's log.", config.tier, config.base_url)
    if streaming and isinstance(err, (openai.APIConnectionError, *_TRANSPORT)):
        return BackendError(f"{where} broke off the answer mid-stream ({type(err).__name__}); the partial answer is kept.", config.tier, config.base_url)
    if isinstance(err, (openai.APIConnectionError, *_TRANSPORT)):
        return BackendUnavailable(
            f"Nothing answers at {config.base_url}: start the {config.tier.upper()} server there or point the tier elsewhere{hint}.",
            config.tier, config.base_url,
        )
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        if status == 429:
            what = "is rate-limiting requests (HTTP 429): wait a moment and ask again"
        elif status == 404:
            what = f"does not know the model {config.model!r} (HTTP 404)"
        elif status in (401, 403):
            what = f"refused the API key (HTTP {status}): set the tier's API key"
        else:
            what = f"failed with HTTP {status}: see the server's log"
        return BackendStatusError(f"{where} {what}.", config.tier, config.base_url, status)
    return BackendError(f"{where} failed: {type(err).__name__}: {err}", config.tier, config.base_url)


class _Timeline:
    """When the first and last piece of each kind arrived (perf_counter seconds) -> the metrics' timings."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.first: float | None = None
        self.first_of: dict[str, float] = {}
        self.last_of: dict[str, float] = {}

    def mark(self, kind: str, now: float) -> None:
        if self.first is None:
            self.first = now
        self.first_of.setdefault(kind, now)
        self.last_of[kind] = now

    def fill(self, metrics: TierMetrics) -> None:
        if self.first is None:
            return
        metrics.ttft_ms = (self.first - self.started) * 1000
        first_answer = self.first_of.get(ANSWER)
        if first_answer is not None:
            metrics.ttfa_ms = (first_answer - self.started) * 1000
            metrics.generation_ms = (self.last_of[ANSWER] - first_answer) * 1000
        first_thought = self.first_of.get(REASONING)
        if first_thought is not None and (first_answer is None or first_thought < first_answer):
            until = first_answer if first_answer is not None else self.last_of[REASONING]
            metrics.thinking_ms = (until - first_thought) * 1000


def _reasoning_field(obj: object) -> str | None:
    """The thinking a delta or message carries in a field: ``reasoning_content`` or ``reasoning`` (aliases: one is kept)."""
    for name in ("reasoning_content", "reasoning"):
        value = getattr(obj, name, None)
        if isinstance(value, str) and value:
            return value
    return None


def _model(value: object, what: str) -> pydantic.BaseModel:
    """``value`` if the SDK could build its model from the JSON (it builds leniently: a wrong shape stays raw)."""
    if not isinstance(value, pydantic.BaseModel):
        raise MalformedResponse(f"{what} is {type(value).__name__}")
    return value


def _text(value: object, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise MalformedResponse(f"{what} is {type(value).__name__}, not text")


def _usage(obj: object) -> object | None:
    """The ``usage`` of a chunk or answer, if it has one with whole-number counts."""
    usage = getattr(obj, "usage", None)
    if usage is None:
        return None
    _model(usage, "usage")
    for name in ("prompt_tokens", "completion_tokens"):
        value = getattr(usage, name, None)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise MalformedResponse(f"usage.{name} is {type(value).__name__}, not a count")
    details = getattr(usage, "completion_tokens_details", None)
    if details is not None:
        reasoning = getattr(_model(details, "usage.completion_tokens_details"), "reasoning_tokens", None)
        if reasoning is not None and (not isinstance(reasoning, int) or isinstance(reasoning, bool)):
            raise MalformedResponse(f"usage.completion_tokens_details.reasoning_tokens is {type(reasoning).__name__}, not a count")
    return usage


def _first_choice(obj: object, what: str) -> object | None:
    """The first of ``obj.choices`` (None when there are none); raises ``MalformedResponse`` for any other shape."""
    choices = getattr(_model(obj, what), "choices", None)
    if not isinstance(choices, list):
        raise MalformedResponse(f"{what}.choices is {type(choices).__name__}, not a list")
    if not choices:
        return None
    choice = _model(choices[0], f"{what}.choices[0]")
    _text(getattr(choice, "finish_reason", None), "finish_reason")
    return choice


def _count(metrics: TierMetrics, usage: object | None, prompt_text: str, answer: str, reasoning: str) -> None:
    """Token counts: the server's usage when it sent one, else tiktoken (flagged); thinking split off either way.

    With usage but no ``completion_tokens_details.reasoning_tokens`` (llama.cpp, Ollama), the server's
    completion count is split between thinking and answer in the proportion tiktoken finds in the two texts.
    """
    if usage is not None:
        metrics.prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        metrics.completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        details = getattr(usage, "completion_tokens_details", None)
        reported = int(getattr(details, "reasoning_tokens", 0) or 0) if details is not None else 0
        if reported > 0:
            metrics.reasoning_tokens = min(reported, metrics.completion_tokens)
        elif reasoning.strip():
            thought, said = count_tokens([reasoning, answer])
            metrics.reasoning_tokens = round(metrics.completion_tokens * thought / (thought + said)) if thought + said else 0
            metrics.reasoning_estimated = True
    else:
        metrics.prompt_tokens, said, thought = count_tokens([prompt_text, answer, reasoning])
        metrics.completion_tokens = said + thought
        metrics.reasoning_tokens = thought
        metrics.estimated = True
        metrics.reasoning_estimated = thought > 0


async def _granted(ticket: Ticket) -> None:
    """Wait until ``ticket`` holds a slot (its positions unreported)."""
    async for _ in ticket.positions():
        pass


class TierClient:
    """Streams (or completes) requests to one OpenAI-compatible server.

    ``queue``: the line this server's requests wait in (``rag.tiers.queue.FairQueue``), for a server
    that serves one at a time; None sends every request at once (the server queues, if it must).
    """

    def __init__(self, config: TierConfig, http_client: httpx.AsyncClient | None = None, queue: FairQueue | None = None) -> None:
        self.config = config
        self.queue = queue
        self.effort_rejected = False  # the server refused reasoning_effort once: it is not sent again
        self._client = AsyncOpenAI(
            base_url=config.base_url,
            api_key=config.api_key or "not-needed",
            timeout=openai.Timeout(config.timeout, connect=min(config.timeout, 5.0)),  # the SDK's own httpx (openai 3.x: httpx2)
            max_retries=1,
            http_client=http_client,
        )

    async def aclose(self) -> None:
        await self._client.close()

    # ------------------------------------------------------------------ requests

    def _limit(self, prompt: Prompt, max_tokens: int | None) -> int:
        limit = max_tokens or self.config.max_tokens
        return min(limit, prompt.completion_max_tokens) if self.config.profile == "completion" else limit

    def _effort(self, override: str | None | _UseConfig) -> str | None:
        value = self.config.reasoning_effort if isinstance(override, _UseConfig) else override
        if self.effort_rejected or self.config.profile == "completion":
            return None
        return value or None

    def _prompt_text(self, prompt: Prompt) -> str:
        return prompt.text if self.config.profile == "completion" else "\n".join(m["content"] for m in prompt.messages)

    async def _request(self, prompt: Prompt, stream: bool, limit: int, temperature: float, effort: str | None):
        cfg = self.config
        options: dict[str, object] = {"stream_options": {"include_usage": True}} if stream else {}
        if cfg.profile == "completion":
            return await self._client.completions.create(
                model=cfg.model, prompt=prompt.text, stream=stream, stop=prompt.stop, max_tokens=limit, temperature=temperature, **options,  # type: ignore[call-overload]
            )
        if effort is not None:
            options["reasoning_effort"] = effort
        return await self._client.chat.completions.create(
            model=cfg.model, messages=prompt.messages, stream=stream, max_tokens=limit, temperature=temperature, **options,  # type: ignore[call-overload]
        )

    async def _create(self, prompt: Prompt, stream: bool, limit: int, temperature: float, effort: str | None):
        """The request; on HTTP 400 with ``reasoning_effort`` in it, once more without (remembered when that works)."""
        try:
            return await self._request(prompt, stream, limit, temperature, effort), None
        except openai.BadRequestError:
            if effort is None:
                raise
            result = await self._request(prompt, stream, limit, temperature, None)  # its failure is the one to report
        self.effort_rejected = True
        cfg = self.config
        note = (
            f"the {cfg.tier.upper()} tier at {cfg.base_url} refused reasoning_effort={effort!r} (HTTP 400), so it was asked "
            f"again without it and will not be sent it again; unset RAG_{cfg.tier.upper()}_REASONING_EFFORT to silence this"
        )
        return result, note

    def _budget_error(self, limit: int, effort: str | None) -> ReasoningBudgetExhausted:
        cfg = self.config
        tier = cfg.tier.upper()
        now = f"now {effort}" if effort else "not sent now: the server's default"
        return ReasoningBudgetExhausted(
            f"{cfg.model} used all {limit} tokens thinking and wrote no answer: raise RAG_{tier}_MAX_TOKENS (now {limit}) "
            f"or lower RAG_{tier}_REASONING_EFFORT ({now}).",
            cfg.tier, cfg.base_url,
        )

    def _cut(self) -> TruncatedStream:
        cfg = self.config
        return TruncatedStream(
            f"the {cfg.tier.upper()} tier at {cfg.base_url} ended its stream before the model finished (no finish_reason): "
            "the answer is cut; ask again.",
            cfg.tier, cfg.base_url,
        )

    def _finish(
        self, metrics: TierMetrics, usage: object | None, prompt: Prompt, answer: str, reasoning: str,
        finish_reason: str | None, error: BackendError | None, limit: int, effort: str | None,
    ) -> BackendError | None:
        """Counts and cost into ``metrics``; the error a stream that thought to the token limit ends with."""
        _count(metrics, usage if error is None else None, self._prompt_text(prompt), answer, reasoning)
        metrics.cost = self.config.prices.cost(metrics.prompt_tokens, metrics.completion_tokens)
        if error is None and finish_reason == "length" and not answer.strip() and (reasoning.strip() or metrics.reasoning_tokens):
            error = self._budget_error(limit, effort)
        if error is not None:
            metrics.error = str(error)
        return error

    async def stream(
        self, prompt: Prompt, max_tokens: int | None = None, temperature: float | None = None,
        reasoning_effort: str | None | _UseConfig = USE_CONFIG,
    ) -> AsyncIterator[Waiting | Delta | Finished]:
        """``Waiting`` while queued, then deltas as the server streams them (thinking marked ``reasoning``), then one ``Finished``.

        ``Finished.metrics.queue_ms`` is the time spent waiting in ``queue``; TTFT and total are
        measured from when the request is sent, after that wait.
        """
        cfg = self.config
        temperature = cfg.temperature if temperature is None else temperature
        limit, effort = self._limit(prompt, max_tokens), self._effort(reasoning_effort)
        metrics = TierMetrics(tier=cfg.tier, model=cfg.model)
        parser = ReasoningParser()
        usage = None
        finish_reason: str | None = None
        error: BackendError | None = None
        note: str | None = None
        ticket = self.queue.join() if self.queue is not None else None
        timeline = _Timeline(time.perf_counter())
        stream = None
        try:
            if ticket is not None and not ticket.granted:  # granted at once: no wait, queue_ms stays 0
                async for ahead in ticket.positions():
                    yield Waiting(ahead=ahead)
                metrics.queue_ms = (time.perf_counter() - timeline.started) * 1000
                timeline = _Timeline(time.perf_counter())  # the request is sent now: TTFT and total count from here
            stream, note = await self._create(prompt, True, limit, temperature, effort)
            async for chunk in stream:
                usage = _usage(chunk) or usage
                choice = _first_choice(chunk, "chunk")
                if choice is None:
                    continue
                if choice.finish_reason:
                    finish_reason = choice.finish_reason
                if cfg.profile == "completion":
                    content, thinking = _text(getattr(choice, "text", None), "text"), None
                else:
                    delta = getattr(choice, "delta", None)
                    delta = None if delta is None else _model(delta, "delta")
                    content = _text(getattr(delta, "content", None), "delta.content")
                    thinking = _reasoning_field(delta)
                pieces = parser.feed(content or "", thinking or "")
                if pieces:
                    now = time.perf_counter()
                    for piece in pieces:
                        timeline.mark(piece.kind, now)
                        yield Delta(text=piece.text, kind=piece.kind)
        except WIRE_ERRORS as err:  # what the server or the network did; a bug of ours raises
            error = classify(err, cfg, streaming=stream is not None)
        finally:
            if stream is not None:
                try:
                    await stream.close()
                except (*WIRE_ERRORS, OSError):  # closing a broken stream may fail too
                    pass
            if ticket is not None:
                ticket.leave()  # also when the caller stopped reading: the next in line goes
        if error is None and finish_reason is None:
            error = self._cut()
        rest = parser.flush()  # what was held back as a possible marker, or the partial answer of a broken stream
        if rest:
            now = time.perf_counter()
            for piece in rest:
                timeline.mark(piece.kind, now)
                yield Delta(text=piece.text, kind=piece.kind)
        metrics.total_ms = (time.perf_counter() - timeline.started) * 1000
        timeline.fill(metrics)
        answer, reasoning = parser.answer, parser.reasoning.strip()
        error = self._finish(metrics, usage, prompt, answer, reasoning, finish_reason, error, limit, effort)
        yield Finished(text=answer, metrics=metrics, error=error, finish_reason=finish_reason, reasoning=reasoning, note=note)

    async def complete(
        self, prompt: Prompt, max_tokens: int | None = None, temperature: float | None = None,
        reasoning_effort: str | None | _UseConfig = USE_CONFIG,
    ) -> Finished:
        """The same request without streaming: the whole answer at once (no TTFT: nothing arrives before the end).

        Reads ``message.reasoning_content`` / ``message.reasoning`` and markup in the content like the stream.
        """
        cfg = self.config
        temperature = cfg.temperature if temperature is None else temperature
        limit, effort = self._limit(prompt, max_tokens), self._effort(reasoning_effort)
        metrics = TierMetrics(tier=cfg.tier, model=cfg.model)
        usage = None
        finish_reason: str | None = None
        error: BackendError | None = None
        note: str | None = None
        answer = reasoning = ""
        ticket = self.queue.join() if self.queue is not None else None
        started = time.perf_counter()
        try:
            if ticket is not None and not ticket.granted:
                await _granted(ticket)
                metrics.queue_ms = (time.perf_counter() - started) * 1000
                started = time.perf_counter()
            response, note = await self._create(prompt, False, limit, temperature, effort)
            usage = _usage(response)
            choice = _first_choice(response, "answer")
            if choice is not None:
                finish_reason = choice.finish_reason
                if cfg.profile == "completion":
                    answer, reasoning = split_message(_text(getattr(choice, "text", None), "text"))
                else:
                    message = _model(getattr(choice, "message", None), "message")
                    answer, reasoning = split_message(_text(getattr(message, "content", None), "message.content"), _reasoning_field(message))
        except WIRE_ERRORS as err:  # what the server or the network did; a bug of ours raises
            error = classify(err, cfg)
        finally:
            if ticket is not None:
                ticket.leave()
        metrics.total_ms = (time.perf_counter() - started) * 1000
        error = self._finish(metrics, usage, prompt, answer, reasoning, finish_reason, error, limit, effort)
        return Finished(text=answer, metrics=metrics, error=error, finish_reason=finish_reason, reasoning=reasoning, note=note)

    async def served_models(self) -> list[str]:
        """Model ids the server lists at /v1/models, in its order.

        Raises the ``BackendError`` that ``classify`` picks: ``BackendUnavailable``
        (nothing answers), ``BackendTimeout``, ``BackendStatusError`` (an HTTP
        error status), or one for a reply that holds no list of text ids.
        """
        try:
            page = await self._client.models.list()
            data = getattr(_model(page, "models"), "data", None)
            if not isinstance(data, list):
                raise MalformedResponse(f"models.data is {type(data).__name__}, not a list")
            ids = [getattr(_model(m, "models.data[n]"), "id", None) for m in data]
            if not all(isinstance(i, str) for i in ids):
                raise MalformedResponse("a model id is not text")
        except WIRE_ERRORS as err:
            raise classify(err, self.config) from err
        return ids  # type: ignore[return-value]
