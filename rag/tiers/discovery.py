"""The tiers this process talks to, built from ``Settings`` at start-up.

``open_tiers`` finds the SLM's server (see ``rag.tiers.backends`` for the order),
starts the embedded one when nothing else is there (and warms it up: one tiny
completion, timed, before the tier is declared up), resolves each model alias
against the server's ``/v1/models``, and reports every tier's status in words
the app shows on its welcome screen. A tier that cannot be reached is ``None``
with a note; the pipeline then skips it and says why. An embedded server comes
with a ``Supervisor`` that restarts it when it crashes, and with a
``FairQueue`` (one slot: it serves one request at a time) that every chat's and
/demo pass's request to it waits in, first come, first served.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field

from rag.tiers.backends import discover_foundry
from rag.tiers.embedded import EMBEDDED_MODELS, EmbeddedCrash, EmbeddedServer, embedded_model_path
from rag.tiers.supervisor import Supervisor
from rag.tiers.client import TierClient, TierConfig
from rag.tiers.models import resolve_model
from rag.errors import BackendError, ConfigError
from rag.tiers.metrics import Prices
from rag.tiers.queue import FairQueue
from rag.settings import Settings

__all__ = ["TierStatus", "Tiers", "open_tiers"]


@dataclass
class TierStatus:
    tier: str
    ok: bool
    base_url: str = ""
    model: str = ""
    origin: str = ""  # "configured", "foundry", "embedded"
    note: str = ""

    def line(self) -> str:
        if self.ok:
            detail = f"; {self.note}" if self.note else ""
            return f"{self.tier.upper()}: {self.model} at {self.base_url} ({self.origin}{detail})"
        return f"{self.tier.upper()}: unavailable: {self.note}"


@dataclass
class Tiers:
    slm: TierClient | None = None
    llm: TierClient | None = None
    statuses: list[TierStatus] = field(default_factory=list)
    embedded: EmbeddedServer | None = None
    supervisor: Supervisor | None = None  # set when the SLM is the embedded server

    def lines(self) -> list[str]:
        """Each tier's status in words, as it is *now*: an embedded SLM that crashed past its budget is
        down with the reason, and its warm-up figures are the latest (re)start's."""
        out = []
        for status in self.statuses:
            if status.tier == "slm" and status.ok and self.supervisor is not None and self.embedded is not None:
                if self.supervisor.down is not None:
                    out.append(f"SLM: down: {self.supervisor.down}")
                    continue
                if self.embedded.warm is not None and self.supervisor.generation:
                    restarts = f"{self.supervisor.generation} restart{'s' if self.supervisor.generation > 1 else ''} after a crash"
                    status = dataclasses.replace(status, note=f"{self.embedded.warm.describe()}; {restarts}")
            out.append(status.line())
        return out

    @property
    def llm_note(self) -> str:
        for status in self.statuses:
            if status.tier == "llm" and not status.ok:
                return status.note
        return ""

    async def aclose(self) -> None:
        for client in (self.slm, self.llm):
            if client is not None:
                await client.aclose()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)
            self.embedded = None
            self.supervisor = None


async def open_tiers(settings: Settings, start_embedded: bool = True, owner: str | None = None) -> Tiers:
    """Connect both tiers (starting the embedded server if needed).

    ``owner`` names the embedded server's owner (the app passes "app"): starting
    a new one stops the one an earlier import of the same owner left running in
    this process (Chainlit's ``-w`` reload), see ``rag.tiers.embedded``.
    """
    tiers = Tiers()
    try:
        await _open_slm(settings, tiers, start_embedded, owner)
        await _open_llm(settings, tiers)
    except BaseException:
        await tiers.aclose()
        raise
    return tiers


async def _open_slm(settings: Settings, tiers: Tiers, start_embedded: bool, owner: str | None) -> None:
    url, origin, profile, model = settings.slm_base_url, "configured", "chat", settings.slm_model
    env, warm = "RAG_SLM_BASE_URL", ""
    queue: FairQueue | None = None  # a configured server queues for itself (it may serve several at once)
    if url is None and settings.foundry_local_endpoint:
        url, origin, env = settings.foundry_local_endpoint, "foundry", "FOUNDRY_LOCAL_ENDPOINT"
    if url is None:
        found = await asyncio.to_thread(discover_foundry)
        if found:
            url, origin = found, "foundry"
    if url is None:
        if not start_embedded:
            tiers.statuses.append(TierStatus("slm", False, note="no SLM server configured (set RAG_SLM_BASE_URL)"))
            return
        embedded = EMBEDDED_MODELS[settings.embedded_model]
        try:
            server, warm_note = await _start_embedded(settings, embedded, owner)
        except EmbeddedCrash as crash:  # already says what crashed, how, and where its log is
            tiers.statuses.append(TierStatus("slm", False, origin="embedded", note=str(crash)))
            return
        except (BackendError, ConfigError, OSError) as err:
            tiers.statuses.append(TierStatus("slm", False, origin="embedded", note=f"the embedded model server could not start: {err}"))
            return
        tiers.embedded = server
        tiers.supervisor = Supervisor(server)
        url, origin, profile, model, env = server.base_url, "embedded", embedded.profile, embedded.alias, "RAG_SLM_BASE_URL"
        warm = warm_note
        queue = FairQueue(slots=1)  # llama-cpp-python's server runs one completion at a time
    if settings.slm_prompt != "auto":
        profile = settings.slm_prompt
    config = TierConfig(
        "slm", url, model, settings.slm_api_key.get_secret_value(), settings.slm_timeout, settings.slm_max_tokens, settings.slm_temperature,
        profile, Prices(settings.slm_price_prompt, settings.slm_price_completion), env,
        reasoning_effort=settings.slm_reasoning_effort,
    )
    client = TierClient(config, queue=queue)
    try:
        served = await client.served_models()
        resolved = resolve_model(model, served, config)
    except BackendError as err:
        await client.aclose()
        tiers.statuses.append(TierStatus("slm", False, url, model, origin, str(err)))
        return
    if resolved != model:
        await client.aclose()
        client = TierClient(dataclasses.replace(config, model=resolved), queue=queue)
    tiers.slm = client
    tiers.statuses.append(TierStatus("slm", True, url, resolved, origin, warm))


async def _start_embedded(settings: Settings, embedded, owner: str | None) -> tuple[EmbeddedServer, str]:
    """Start and warm up the embedded server; returns it and a note for the status line.

    A crash at start or warm-up with llama.cpp's extra buffer types on is retried
    once with them off (the safe configuration), and the note says so; a crash in
    the safe configuration raises ``EmbeddedCrash`` (signal, log path).
    """
    path = await asyncio.to_thread(embedded_model_path, embedded.key, settings.cache_dir)
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    server = EmbeddedServer(
        path, embedded.alias, settings.embedded_port, log_path=settings.cache_dir / "embedded-server.log",
        extra_buffers=settings.embedded_extra_buffers, owner=owner, state_dir=settings.cache_dir,
    )
    note = ""
    try:
        await asyncio.to_thread(server.start)
        warm = await asyncio.to_thread(server.warm_up)
    except EmbeddedCrash as crash:
        if not server.extra_buffers:
            await asyncio.to_thread(server.stop)
            raise
        note = f"{crash} Restarted with RAG_EMBEDDED_EXTRA_BUFFERS off; "
        try:
            await asyncio.to_thread(server.restart)
            warm = await asyncio.to_thread(server.warm_up)
        except BaseException:
            await asyncio.to_thread(server.stop)
            raise
    except BaseException:
        await asyncio.to_thread(server.stop)
        raise
    return server, note + warm.describe()


async def _open_llm(settings: Settings, tiers: Tiers) -> None:
    if settings.llm_base_url is None:
        tiers.statuses.append(TierStatus("llm", False, model=settings.llm_model, note="the LLM tier is not configured (set RAG_LLM_BASE_URL)"))
        return
    config = TierConfig(
        "llm", settings.llm_base_url, settings.llm_model, settings.llm_api_key.get_secret_value(), settings.llm_timeout,
        settings.llm_max_tokens, settings.llm_temperature, "chat",
        Prices(settings.llm_price_prompt, settings.llm_price_completion), "RAG_LLM_BASE_URL",
        reasoning_effort=settings.llm_reasoning_effort,
    )
    client = TierClient(config)
    try:
        served = await client.served_models()
        resolved = resolve_model(settings.llm_model, served, config)
    except BackendError as err:
        await client.aclose()
        tiers.statuses.append(TierStatus("llm", False, settings.llm_base_url, settings.llm_model, "configured", str(err)))
        return
    if resolved != settings.llm_model:
        await client.aclose()
        client = TierClient(dataclasses.replace(config, model=resolved))
    tiers.llm = client
    tiers.statuses.append(TierStatus("llm", True, settings.llm_base_url, resolved, "configured"))
