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

from rag.errors import BackendError, ConfigError
from rag.settings import Settings
from rag.tiers.backends import discover_foundry
from rag.tiers.base import TierName, TierStatus
from rag.tiers.client import TierClient, TierConfig
from rag.tiers.embedded import EMBEDDED_MODELS, EmbeddedCrash, EmbeddedServer, embedded_model_path
from rag.tiers.metrics import Prices
from rag.tiers.models import resolve_model
from rag.tiers.queue import FairQueue
from rag.tiers.server import EmbeddedTier, ServerTier
from rag.tiers.supervisor import Supervisor  # the embedded SLM's, reached through Tiers.supervisor

__all__ = ["Tiers", "open_tiers"]


@dataclass
class Tiers:
    """The model tiers this process opened (None: not reachable at start-up; ``statuses`` says why)."""

    slm: ServerTier | None = None  # an EmbeddedTier when the SLM is the embedded server
    llm: ServerTier | None = None
    statuses: list[TierStatus] = field(default_factory=list)  # each tier's, at start-up

    @property
    def embedded(self) -> EmbeddedServer | None:
        return self.slm.server if isinstance(self.slm, EmbeddedTier) else None

    @property
    def supervisor(self) -> Supervisor | None:
        return self.slm.supervisor if isinstance(self.slm, EmbeddedTier) else None

    def status(self, name: str) -> TierStatus:
        """Tier ``name``'s status *now*: an open tier's own (an embedded SLM that crashed past its budget is down,
        with the reason), else the one it had at start-up."""
        tier = {TierName.SLM: self.slm, TierName.LLM: self.llm}.get(TierName(name))
        if tier is not None:
            return tier.status()
        started = next((s for s in self.statuses if s.tier == name), None)
        return started or TierStatus(tier=name, ok=False, note=f"the {name.upper()} tier is not available (set RAG_{name.upper()}_BASE_URL)")

    def lines(self) -> list[str]:
        """Each tier's status in words, as it is now (``status``)."""
        return [self.status(s.tier).line() for s in self.statuses]

    @property
    def llm_note(self) -> str:
        status = self.status(TierName.LLM)
        return "" if status.ok else status.note

    async def aclose(self) -> None:
        for tier in (self.slm, self.llm):
            if tier is not None:
                await tier.aclose()
        self.slm = self.llm = None


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
    embedded_server: EmbeddedServer | None = None
    if url is None and settings.foundry_local_endpoint:
        url, origin, env = settings.foundry_local_endpoint, "foundry", "FOUNDRY_LOCAL_ENDPOINT"
    if url is None:
        found = await asyncio.to_thread(discover_foundry)
        if found:
            url, origin = found, "foundry"
    if url is None:
        if not start_embedded:
            tiers.statuses.append(TierStatus(tier=TierName.SLM, ok=False, note="no SLM server configured (set RAG_SLM_BASE_URL)"))
            return
        embedded = EMBEDDED_MODELS[settings.embedded_model]
        try:
            server, warm_note = await _start_embedded(settings, embedded, owner)
        except EmbeddedCrash as crash:  # already says what crashed, how, and where its log is
            tiers.statuses.append(TierStatus(tier=TierName.SLM, ok=False, origin="embedded", note=str(crash)))
            return
        except (BackendError, ConfigError, OSError) as err:
            tiers.statuses.append(TierStatus(tier=TierName.SLM, ok=False, origin="embedded", note=f"the embedded model server could not start: {err}"))
            return
        embedded_server = server
        url, origin, profile, model, env = server.base_url, "embedded", embedded.profile, embedded.alias, "RAG_SLM_BASE_URL"
        warm = warm_note
        queue = FairQueue(slots=1)  # llama-cpp-python's server runs one completion at a time
    if settings.slm_prompt != "auto":
        profile = settings.slm_prompt
    config = TierConfig(
        tier=TierName.SLM, base_url=url, model=model, api_key=settings.slm_api_key.get_secret_value(), timeout=settings.slm_timeout,
        max_tokens=settings.slm_max_tokens, temperature=settings.slm_temperature,
        profile=profile, prices=Prices(settings.slm_price_prompt, settings.slm_price_completion), env_hint=env,
        reasoning_effort=settings.slm_reasoning_effort,
    )
    client = TierClient(config, queue=queue)
    try:
        served = await client.served_models()
        resolved = resolve_model(model, served, config)
    except BaseException as err:  # the tier is not opened: nothing of it may keep running
        await client.aclose()
        if embedded_server is not None:
            await asyncio.to_thread(embedded_server.stop)
        if not isinstance(err, BackendError):
            raise
        tiers.statuses.append(TierStatus(tier=TierName.SLM, ok=False, base_url=url, model=model, origin=origin, note=str(err)))
        return
    if resolved != model:
        await client.aclose()
        client = TierClient(dataclasses.replace(config, model=resolved), queue=queue)
    started = TierStatus(tier=TierName.SLM, ok=True, base_url=url, model=resolved, origin=origin, note=warm)
    tiers.slm = ServerTier(client, started) if embedded_server is None else EmbeddedTier(client, embedded_server, started)
    tiers.statuses.append(started)


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
        tiers.statuses.append(TierStatus(tier=TierName.LLM, ok=False, model=settings.llm_model, note="the LLM tier is not configured (set RAG_LLM_BASE_URL)"))
        return
    config = TierConfig(
        tier=TierName.LLM, base_url=settings.llm_base_url, model=settings.llm_model, api_key=settings.llm_api_key.get_secret_value(), timeout=settings.llm_timeout,
        max_tokens=settings.llm_max_tokens, temperature=settings.llm_temperature, profile="chat",
        prices=Prices(settings.llm_price_prompt, settings.llm_price_completion), env_hint="RAG_LLM_BASE_URL",
        reasoning_effort=settings.llm_reasoning_effort,
    )
    client = TierClient(config)
    try:
        served = await client.served_models()
        resolved = resolve_model(settings.llm_model, served, config)
    except BackendError as err:
        await client.aclose()
        tiers.statuses.append(TierStatus(tier=TierName.LLM, ok=False, base_url=settings.llm_base_url, model=settings.llm_model, origin="configured", note=str(err)))
        return
    if resolved != settings.llm_model:
        await client.aclose()
        client = TierClient(dataclasses.replace(config, model=resolved))
    started = TierStatus(tier=TierName.LLM, ok=True, base_url=settings.llm_base_url, model=resolved, origin="configured")
    tiers.llm = ServerTier(client, started)
    tiers.statuses.append(started)
