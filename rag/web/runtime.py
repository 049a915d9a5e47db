"""The app's process-wide state: the index and the model tiers, built once, in the background.

A web app must answer page loads while its model server starts (up to two
minutes on a slow machine) and must not rescan the docs folder on every
message when the start failed. ``Runtime`` does the slow work in one
background task, started at the app's start-up:

- ``begin()`` starts building (idempotent): the index in a worker thread, then
  the tiers (the embedded server started and warmed up in worker threads);
- ``ready()`` waits for the build (optionally with a timeout) and returns the
  parts, or raises the ``RagError`` that stopped it;
- a failed build is remembered for ``retry_after`` seconds with its reason, so
  every message in that time gets the reason at once; after that the next
  ``ready()`` builds again;
- ``current()`` never waits: the parts if built, else None (what a caller
  that must not block can ask; a page load uses ``ready(timeout=...)``);
- ``close()`` cancels a build in flight and closes the tiers (stopping the
  embedded server).

A failed build is one that raised: a docs folder that is missing or holds
nothing readable. A model server that cannot be reached at start is not a
failure of the build: ``open_tiers`` reports that tier as down with the reason,
the other tiers answer, and it stays down until the app restarts (a crashed
*embedded* server is restarted by ``rag.tiers.supervisor``).

No Chainlit here: ``app.py`` owns one ``Runtime`` and renders what it says.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rag.errors import RagError
from rag.search.index import Index, IndexConfig, IndexReport, open_index
from rag.settings import Settings
from rag.tiers.discovery import Tiers, open_tiers

__all__ = ["Parts", "Runtime"]


@dataclass(frozen=True)
class Parts:
    settings: Settings
    index: Index
    report: IndexReport
    tiers: Tiers


class Runtime:
    """Builds the index and tiers once (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        owner: str | None = "app",
        retry_after: float = 60.0,
        open_tiers_fn: Callable[..., Awaitable[Tiers]] = open_tiers,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.owner = owner
        self.retry_after = retry_after
        self._open_tiers = open_tiers_fn
        self._clock = clock
        self._task: asyncio.Task[Parts] | None = None
        self._parts: Parts | None = None
        self._failed: tuple[RagError, float] | None = None
        self.builds = 0  # how many times the build ran (a failure is not retried on every message)

    def begin(self) -> None:
        """Start the build in the background if it is not running, done, or recently failed."""
        if self._parts is not None or (self._task is not None and not self._task.done()):
            return
        if self._failed is not None and self._clock() - self._failed[1] < self.retry_after:
            return
        self._failed = None
        self._task = asyncio.get_running_loop().create_task(self._build(), name="rag-runtime")
        self._task.add_done_callback(lambda task: task.cancelled() or task.exception())  # kept in _failed: retrieved

    def current(self) -> Parts | None:
        return self._parts

    @property
    def failure(self) -> RagError | None:
        """Why the last build failed, while that is remembered."""
        if self._failed is not None and self._clock() - self._failed[1] < self.retry_after:
            return self._failed[0]
        return None

    async def ready(self, timeout: float | None = None) -> Parts:
        """The built parts; raises the build's ``RagError``, or ``TimeoutError`` after ``timeout`` seconds."""
        if self._parts is not None:
            return self._parts
        if (failure := self.failure) is not None:
            raise failure
        self.begin()
        assert self._task is not None
        await asyncio.wait_for(asyncio.shield(self._task), timeout)
        if self._parts is None:
            raise self._failed[0] if self._failed else RagError("the assistant could not start")
        return self._parts

    async def _build(self) -> Parts:
        self.builds += 1
        settings = self.settings
        try:
            index, report = await asyncio.to_thread(open_index, settings.docs_dir, settings.cache_dir, IndexConfig.from_settings(settings))
            tiers = await self._open_tiers(settings, owner=self.owner)
        except RagError as err:
            self._failed = (err, self._clock())
            raise
        self._parts = Parts(settings, index, report, tiers)
        return self._parts

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, RagError):
                pass
        parts, self._parts = self._parts, None
        if parts is not None:
            await parts.tiers.aclose()
