"""The model client: one OpenAI-compatible tier, streamed, timed and counted.

``TierClient.stream(prompt)`` is an async generator of ``Delta`` (text as it
arrives) ending with exactly one ``Finished`` (the whole text, the tier's
metrics, and the error if the stream broke). A failure never raises out of the
generator mid-answer: whatever was streamed before it is in ``Finished.text``,
so the caller can keep the partial answer. Failures are classified by the SDK's
exception types (``APITimeoutError``, ``APIConnectionError``, ``APIStatusError``),
never by message text.

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
from openai import AsyncOpenAI

from rag.errors import BackendError, BackendStatusError, BackendTimeout, BackendUnavailable, ModelNotServed
from rag.metrics import Prices, TierMetrics
from rag.prompts import Prompt
from rag.tokens import count_tokens

__all__ = ["Delta", "Finished", "TierClient", "TierConfig", "classify", "resolve_model"]


@dataclass(frozen=True)
class TierConfig:
    tier: str  # "slm" or "llm"
    base_url: str
    model: str
    api_key: str = field(default="not-needed", repr=False)  # never in a repr, a log or an error
    timeout: float = 60.0
    max_tokens: int = 256
    temperature: float = 0.0
    profile: str = "chat"  # "chat" or "completion" (see rag.prompts)
    prices: Prices = Prices()
    env_hint: str = ""  # which setting points at this server, for error messages


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Finished:
    text: str
    metrics: TierMetrics
    error: BackendError | None = None
    finish_reason: str | None = None


def classify(err: Exception, config: TierConfig, streaming: bool = False) -> BackendError:
    """An SDK or transport exception -> our error, with what to do next.

    ``streaming``: the server had already answered, so a dropped connection is a
    stream that broke off, not a server that is down.
    """
    where = f"the {config.tier.upper()} tier at {config.base_url}"
    hint = f" (set {config.env_hint})" if config.env_hint else ""
    if isinstance(err, BackendError):
        return err
    if isinstance(err, (openai.APITimeoutError, httpx.TimeoutException)):
        return BackendTimeout(f"{where} did not answer within {config.timeout:g} s: check the server, or raise the timeout{hint}.", config.tier, config.base_url)
    if streaming and isinstance(err, json.JSONDecodeError):  # the SDK parses each SSE line as JSON
        return BackendError(f"{where} sent a malformed stream (a line that is not JSON: {err}); the partial answer is kept.", config.tier, config.base_url)
    if streaming and isinstance(err, (openai.APIConnectionError, httpx.TransportError)):
        return BackendError(f"{where} broke off the answer mid-stream ({type(err).__name__}); the partial answer is kept.", config.tier, config.base_url)
    if isinstance(err, (openai.APIConnectionError, httpx.TransportError)):
        return BackendUnavailable(f"Nothing answers at {config.base_url}: start the {config.tier.upper()} server there or point the tier elsewhere{hint}.", config.tier, config.base_url)
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


class TierClient:
    """Streams completions from one OpenAI-compatible server."""

    def __init__(self, config: TierConfig, http_client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._client = AsyncOpenAI(
            base_url=config.base_url,
            api_key=config.api_key or "not-needed",
            timeout=httpx.Timeout(config.timeout, connect=min(config.timeout, 5.0)),
            max_retries=1,
            http_client=http_client,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def stream(self, prompt: Prompt, max_tokens: int | None = None, temperature: float | None = None) -> AsyncIterator[Delta | Finished]:
        cfg = self.config
        temperature = cfg.temperature if temperature is None else temperature
        metrics = TierMetrics(tier=cfg.tier, model=cfg.model)
        parts: list[str] = []
        usage = None
        finish_reason: str | None = None
        error: BackendError | None = None
        started = time.perf_counter()
        first = last = None
        stream = None
        try:
            if cfg.profile == "completion":
                stream = await self._client.completions.create(
                    model=cfg.model, prompt=prompt.text, stream=True, stop=prompt.stop,
                    max_tokens=min(max_tokens or cfg.max_tokens, prompt.completion_max_tokens), temperature=temperature,
                    stream_options={"include_usage": True},
                )
            else:
                stream = await self._client.chat.completions.create(
                    model=cfg.model, messages=prompt.messages, stream=True,  # type: ignore[arg-type]
                    max_tokens=max_tokens or cfg.max_tokens, temperature=temperature,
                    stream_options={"include_usage": True},
                )
            async for chunk in stream:
                if getattr(chunk, "usage", None):
                    usage = chunk.usage
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                text = choice.text if cfg.profile == "completion" else (choice.delta.content if choice.delta else None)
                if choice.finish_reason:
                    finish_reason = choice.finish_reason
                if text:
                    now = time.perf_counter()
                    if first is None:
                        first = now
                    last = now
                    parts.append(text)
                    yield Delta(text)
        except Exception as err:  # noqa: BLE001 - every failure becomes a reported, classified error
            error = classify(err, cfg, streaming=stream is not None)
        finally:
            if stream is not None:
                try:
                    await stream.close()
                except Exception:  # noqa: BLE001 - closing a broken stream may fail too
                    pass
        ended = time.perf_counter()
        text = "".join(parts)
        metrics.total_ms = (ended - started) * 1000
        if first is not None:
            metrics.ttft_ms = (first - started) * 1000
            metrics.generation_ms = ((last or first) - first) * 1000
        if usage is not None and error is None:
            metrics.prompt_tokens = int(usage.prompt_tokens or 0)
            metrics.completion_tokens = int(usage.completion_tokens or 0)
        else:  # no usage from the server (or the stream broke): count ourselves, and say so
            prompt_text = prompt.text if cfg.profile == "completion" else "\n".join(m["content"] for m in prompt.messages)
            metrics.prompt_tokens, metrics.completion_tokens = count_tokens([prompt_text, text])
            metrics.estimated = True
        metrics.cost = cfg.prices.cost(metrics.prompt_tokens, metrics.completion_tokens)
        if error is not None:
            metrics.error = str(error)
        yield Finished(text, metrics, error, finish_reason)

    async def served_models(self) -> list[str]:
        """Model ids the server lists at /v1/models."""
        try:
            page = await self._client.models.list()
        except Exception as err:  # noqa: BLE001
            raise classify(err, self.config) from err
        return [m.id for m in page.data]


def resolve_model(alias: str, served: list[str], config: TierConfig) -> str:
    """The served id for ``alias``: exact, else the one that starts with or contains it.

    Foundry Local serves ``phi-4-mini`` as e.g. ``Phi-4-mini-instruct-generic-cpu``.
    """
    if alias in served:
        return alias
    key = alias.lower()
    for match in (lambda s: s.lower() == key, lambda s: s.lower().startswith(key), lambda s: key in s.lower()):
        found = sorted((s for s in served if match(s)), key=len)
        if found:
            return found[0]
    listing = ", ".join(served) or "(none)"
    hint = f" Set {config.env_hint.replace('BASE_URL', 'MODEL')} to one of them." if config.env_hint else ""
    raise ModelNotServed(
        f"The {config.tier.upper()} tier at {config.base_url} does not serve {alias!r}; it serves: {listing}.{hint}",
        config.tier, config.base_url,
    )
