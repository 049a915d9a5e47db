"""The model tiers: ``ServerTier`` (any OpenAI-compatible server) and ``EmbeddedTier`` (the packaged model on our
own llama.cpp server, which the tier owns with its ``Supervisor``).

Both stream through a ``TierClient`` (``rag.tiers.client``). The embedded tier adds what only a server we run
can do: say it is down when it crashed past its budget (``status``), restart it before a turn (``prepare``),
and report a failed request that coincides with its process dying as the crash it is, with the signal and
the log (``Finished.crashed``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import aclosing

from rag.errors import BackendStatusError, BackendTimeout, ReasoningBudgetExhausted, TruncatedStream
from rag.tiers.base import Delta, Finished, TierName, TierStatus, Waiting
from rag.tiers.client import USE_CONFIG, TierClient, TierConfig
from rag.tiers.embedded import EmbeddedServer
from rag.tiers.prompt import Prompt
from rag.tiers.queue import FairQueue
from rag.tiers.supervisor import Supervisor

__all__ = ["EmbeddedTier", "ServerTier"]

# failures that are the server's answer (a status, a timeout, a thought-out budget, a cleanly ended stream), never its crash
_ANSWERS = (BackendStatusError, BackendTimeout, ReasoningBudgetExhausted, TruncatedStream)


class ServerTier:
    """A tier served by an OpenAI-compatible server (``client``); ``started``: its status when it was opened."""

    def __init__(self, client: TierClient, started: TierStatus | None = None) -> None:
        self.client = client
        self.name = TierName(client.config.tier)
        self.started = started or TierStatus(
            tier=self.name, ok=True, base_url=client.config.base_url, model=client.config.model, origin="configured",
        )

    @property
    def model(self) -> str:
        return self.client.config.model

    @property
    def config(self) -> TierConfig:
        return self.client.config

    @property
    def queue(self) -> FairQueue | None:
        """The line its requests wait in (the embedded server's: one at a time), or None."""
        return self.client.queue

    def status(self) -> TierStatus:
        return self.started

    async def prepare(self) -> str | None:
        return None

    def stream(
        self, prompt: Prompt, *, max_tokens: int | None = None, temperature: float | None = None, reasoning_effort: object = USE_CONFIG,
    ) -> AsyncIterator[Waiting | Delta | Finished]:
        return self.client.stream(prompt, max_tokens=max_tokens, temperature=temperature, reasoning_effort=reasoning_effort)

    async def aclose(self) -> None:
        await self.client.aclose()


class EmbeddedTier(ServerTier):
    """The SLM on our own llama.cpp server (``rag.tiers.embedded``): owns ``server`` and its ``supervisor``."""

    def __init__(self, client: TierClient, server: EmbeddedServer, started: TierStatus, supervisor: Supervisor | None = None) -> None:
        super().__init__(client, started)
        self.server = server
        self.supervisor = supervisor or Supervisor(server)

    def status(self) -> TierStatus:
        """Down with the reason once it crashed past its budget; else the latest (re)start's warm-up figures."""
        if self.supervisor.down is not None:
            return dataclasses.replace(self.started, ok=False, state="down", note=self.supervisor.down)
        if self.server.warm is not None and self.supervisor.generation:
            generation = self.supervisor.generation
            restarts = f"{generation} restart{'s' if generation > 1 else ''} after a crash"
            return dataclasses.replace(self.started, note=f"{self.server.warm.describe()}; {restarts}")
        return self.started

    async def prepare(self) -> str | None:
        """Restart the server if it died (or wait for another chat's restart); the note says what happened."""
        return await asyncio.to_thread(self.supervisor.ensure_running)

    async def stream(
        self, prompt: Prompt, *, max_tokens: int | None = None, temperature: float | None = None, reasoning_effort: object = USE_CONFIG,
    ) -> AsyncIterator[Waiting | Delta | Finished]:
        generation = self.supervisor.generation
        finished: Finished | None = None
        events = super().stream(prompt, max_tokens=max_tokens, temperature=temperature, reasoning_effort=reasoning_effort)
        async with aclosing(events):  # a stopped turn ends the request (and its place in the queue) at once
            async for event in events:
                if isinstance(event, Finished):
                    finished = event
                else:
                    yield event
        assert finished is not None
        if finished.error is not None and not isinstance(finished.error, _ANSWERS):
            status = await asyncio.to_thread(self.supervisor.wait_for_crash, 1.0)  # the socket can close a moment before the exit
            kept = "; the partial answer is kept" if finished.text else ""
            if status is not None:
                finished.crashed = True
                finished.message = f"{self.supervisor.crash_message(status)}; restarting it{kept}"
            elif self.supervisor.restarting or self.supervisor.generation != generation:  # another chat's turn restarts it
                finished.crashed = True
                finished.message = f"the embedded model server was being restarted after a crash; asking it again{kept}"
            if finished.crashed:
                finished.metrics.error = finished.message
        yield finished

    async def aclose(self) -> None:
        await super().aclose()
        await asyncio.to_thread(self.server.stop)
