"""The process's budget for uploaded documents: how much all chats' uploads may hold together.

Each chat's uploads live in its ``rag.search.index.Overlay``, in this process's memory,
until the chat ends. The app bounds each chat (files per chat, bytes per file);
an ``UploadBudget`` bounds the sum over every chat of the process, so that many
chats, or one client opening chat after chat, cannot exhaust the memory.

What is counted is what stays in memory: an upload's *cost* (``upload_cost``) is
the UTF-8 size of the passages and analyzed terms its overlay keeps, not the
size of the file (a 20 MB PDF of scans keeps almost nothing; a 20 MB text file
keeps all of it, twice). The file's bytes themselves are held only while it is
parsed, one file per upload, bounded by ``RAG_MAX_FILE_MB``.

``Overlay.add_bytes(..., budget=...)`` takes an upload's cost before the upload
becomes searchable and refuses it with ``UploadsFull`` when it does not fit;
``Overlay.remove``, ``Overlay.clear`` (the app calls it when a chat ends) and
the overlay's garbage collection give the cost back. Thread-safe: uploads are
parsed and added in worker threads, several chats at once.

The rule for one file a user drops into a chat (format, size, the chat's
document limit, then this budget) is ``rag.web.uploads.add_upload``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from rag.documents.chunking import Chunk
from rag.documents.loading import MB
from rag.errors import LoadError

__all__ = ["MB", "UploadBudget", "UploadsFull", "upload_cost"]


def upload_cost(chunks: Iterable[Chunk], terms: Iterable[str]) -> int:
    """Bytes an upload holds: its passages' text and analyzed terms, UTF-8 (Python's per-object overhead aside)."""
    return sum(len(c.text.encode()) for c in chunks) + sum(len(t.encode()) for t in terms)


def _size(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB // 10 else f"{n / 1024:.0f} kB"


class UploadsFull(LoadError):
    """An upload does not fit in the process's budget; the reason says how full it is and what to do."""


class UploadBudget:
    """At most ``limit`` bytes (``upload_cost``) of uploads, over every chat (``owner``) of the process.

    ``setting`` names what raises the limit, for the message. ``take`` and
    ``give_back`` are atomic: two chats adding at once can never together pass the limit.
    """

    def __init__(self, limit: int, setting: str = "RAG_MAX_UPLOADS_MB") -> None:
        if limit < 0:
            raise ValueError(f"an upload budget cannot be negative ({limit} bytes)")
        self.limit = limit
        self.setting = setting
        self._lock = threading.Lock()
        self._held: dict[object, int] = {}  # owner (one chat's overlay) -> bytes it holds
        self._used = 0

    @property
    def used(self) -> int:
        """Bytes held by all owners together."""
        return self._used

    def held(self, owner: object) -> int:
        """Bytes ``owner`` holds."""
        return self._held.get(owner, 0)

    def take(self, owner: object, cost: int, name: str = "this file") -> None:
        """Count ``cost`` bytes for ``owner``; raises ``UploadsFull`` (and counts nothing) when they do not fit."""
        if cost < 0:
            raise ValueError(f"an upload cannot cost {cost} bytes")
        with self._lock:
            if self._used + cost > self.limit:
                mine = self._held.get(owner, 0)
                raise UploadsFull(
                    f"the uploads of all chats on this server together may hold {_size(self.limit)} ({self.setting}); "
                    f"they hold {_size(self._used)} now, {_size(mine)} of it in this chat, and {name} needs {_size(cost)}. "
                    f"Start a new chat (this chat's uploads are freed when it ends) or ask the admin to raise {self.setting}."
                )
            self._used += cost
            self._held[owner] = self._held.get(owner, 0) + cost

    def give_back(self, owner: object, cost: int) -> None:
        """Return ``cost`` of ``owner``'s bytes (never more than it holds)."""
        with self._lock:
            held = self._held.get(owner, 0)
            cost = min(max(cost, 0), held)
            self._used -= cost
            if held - cost:
                self._held[owner] = held - cost
            else:
                self._held.pop(owner, None)

    def give_back_all(self, owner: object) -> int:
        """Return everything ``owner`` holds (its chat ended); returns how much that was."""
        with self._lock:
            held = self._held.pop(owner, 0)
            self._used -= held
            return held
