"""The embedded server's supervisor: a crash becomes a restart, within a crash budget.

``rag.tiers.embedded.EmbeddedServer`` knows how its process ended; the supervisor
decides what to do about it. The pipeline asks it before each turn (did the
server die since the last one?) and after a failed answer (did it die during
this one?), and lets it restart the server in its safe configuration (extra
buffer types off, warm-up included). After ``max_crashes`` crashes within
``window_s`` seconds it stops restarting and says so: the tier is down, and the
reason names what to do.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from rag.errors import BackendError, ConfigError
from rag.tiers.embedded import EmbeddedServer, Exit

__all__ = ["Supervisor"]


class Supervisor:
    """Restarts a crashed embedded server, within a crash budget; safe to share between chats.

    ``check()`` says whether the server has died (without waiting). ``ensure_running()``
    (blocking: call it in a thread) waits for a restart another chat started, and
    when the server is dead, records the crash and restarts it in its safe
    configuration, warm-up included; it returns a note for the user when this call
    restarted it or gave up, None when the server was (or is again) running.
    ``generation`` counts the restarts: a request that failed while it changed was
    cut off by a restart, not by a fault of its own, and may be asked again.
    After ``max_crashes`` crashes within ``window_s`` seconds it stops trying:
    ``down`` holds the reason, and the tier is skipped from then on.
    """

    def __init__(self, server: EmbeddedServer, max_crashes: int = 3, window_s: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.server = server
        self.max_crashes = max_crashes
        self.window_s = window_s
        self.clock = clock
        self.crashes: deque[float] = deque()
        self.down: str | None = None
        self.generation = 0  # restarts so far
        self._lock = threading.Lock()  # held for a whole restart: other chats wait on it

    @property
    def restarting(self) -> bool:
        return self._lock.locked()

    def check(self) -> Exit | None:
        """How the server died, or None while it runs (or after a stop of our own)."""
        status = self.server.exit_status()
        return status if status is not None and self.server.process is not None else None

    def wait_for_crash(self, seconds: float) -> Exit | None:
        """``check()``, waiting up to ``seconds`` for a dying process to be seen as exited."""
        deadline = time.monotonic() + seconds
        while (status := self.check()) is None and self.server.process is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        return status

    def crash_message(self, status: Exit) -> str:
        return f"the embedded model server crashed ({status.describe()}){self.server.where_to_look()}"

    def ensure_running(self) -> str | None:
        """Wait for any restart in progress; restart a dead server. A note when this call acted, else None."""
        with self._lock:
            status = self.check()
            if status is None or self.down is not None:
                return None
            now = self.clock()
            self.crashes.append(now)
            while self.crashes and now - self.crashes[0] > self.window_s:
                self.crashes.popleft()
            crashed = self.crash_message(status)
            if len(self.crashes) >= self.max_crashes:
                self.server.stop()
                self.down = (
                    f"{crashed}; it crashed {len(self.crashes)} times in {self.window_s / 60:g} minutes, so it is not "
                    "restarted again: set RAG_SLM_BASE_URL to another server, or restart the app"
                )
                return self.down
            started = time.perf_counter()
            try:
                self.server.restart()
                warm = self.server.warm_up()
            except (BackendError, ConfigError, OSError) as err:
                self.server.stop()
                self.down = f"{crashed}; the restart failed: {err}"
                return self.down
            finally:
                self.generation += 1
            return f"{crashed}; restarted it in {time.perf_counter() - started:.1f} s ({warm.describe()})"
