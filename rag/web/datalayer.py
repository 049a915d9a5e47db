"""Chainlit's SQLAlchemy data layer, made to work on SQLite: the Chainlit side of ``rag.web.history``.

Chainlit's ``SQLAlchemyDataLayer`` was written for Postgres. On SQLite it loses
data without raising: ``execute_sql`` only logs a WARNING and returns None. Four
ways it did, and what this subclass does instead:

- **Lists and dicts as parameters.** With a chat profile Chainlit tags each
  thread (``tags=[profile]``); SQLite cannot bind a list, so the thread row was
  written with no user and no name, and the sidebar stayed empty. Every list or
  dict parameter (tags of threads and steps, modes) is stored as JSON, and read
  back as a list or dict (SQLite also hands ``metadata`` back as text).
- **Elements** need a storage provider, which we do not have: none are stored
  (quietly). The app rebuilds the Source passages of a resumed chat from the
  answers' metadata (``rag.web.chat``), so nothing is lost.
- **Names.** A thread is named after its first message, whole: it is cut to a
  sidebar line (``rag.web.history.thread_name``).
- **Votes** get their time, and their thread when the browser did not say.
- **Lost updates.** ``update_thread`` reads the thread's metadata, merges, and
  writes it all back, and Chainlit calls it from tasks it does not await (the
  first message's naming, each step, the session saved on disconnect): a slow
  one wrote its stale copy over a later one, and a chat lost its name and its
  saved settings. Here the calls take their turn.

``delete_thread`` also deletes the chat's uploads (``rag.web.history.UploadStore``).
The database gets a busy timeout, so a second writer waits instead of failing.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from chainlit.data.sql_alchemy import SQLAlchemyDataLayer
from chainlit.types import Feedback, ThreadDict

from rag.web.history import BUSY_TIMEOUT_S, UploadStore, thread_name

__all__ = ["SQLiteDataLayer"]


def _bindable(value: object) -> object:
    """What SQLite can store for a parameter: lists and dicts as JSON text."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value


def _decoded(value: object) -> object:
    """A JSON list or dict stored as text, read back (anything else as it is)."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


class SQLiteDataLayer(SQLAlchemyDataLayer):
    """Chat history in the SQLite file at ``path`` (its schema made by ``rag.web.history.ensure_schema``)."""

    def __init__(self, path: Path, uploads: UploadStore | None = None) -> None:
        super().__init__(conninfo=f"sqlite+aiosqlite:///{path}", connect_args={"timeout": BUSY_TIMEOUT_S})
        self.path = path
        self.uploads = uploads
        self._thread_writes = asyncio.Lock()  # one update_thread at a time (see the module docstring)

    async def execute_sql(self, query: str, parameters: dict) -> list[dict[str, Any]] | int | None:
        return await super().execute_sql(query, {key: _bindable(value) for key, value in parameters.items()})

    async def update_thread(self, thread_id: str, name: str | None = None, user_id: str | None = None,
                            metadata: dict | None = None, tags: list[str] | None = None) -> None:
        async with self._thread_writes:
            await super().update_thread(thread_id, name=None if name is None else thread_name(name), user_id=user_id, metadata=metadata, tags=tags)

    async def get_all_user_threads(self, user_id: str | None = None, thread_id: str | None = None) -> list[ThreadDict] | None:
        threads = await super().get_all_user_threads(user_id=user_id, thread_id=thread_id)
        for thread in threads or []:
            thread["tags"] = _decoded(thread.get("tags"))
            thread["metadata"] = _decoded(thread.get("metadata"))
            for step in thread["steps"]:
                for key in ("metadata", "tags", "generation"):
                    if key in step:
                        step[key] = _decoded(step[key])
        return threads

    async def get_step(self, step_id: str):
        step = await super().get_step(step_id)
        if step is not None:
            for key in ("metadata", "tags", "generation"):
                if key in step:
                    step[key] = _decoded(step[key])
        return step

    async def create_element(self, element) -> None:
        """Not stored: there is no storage provider for the files (see the module docstring)."""
        return None

    async def upsert_feedback(self, feedback: Feedback) -> str:
        if not feedback.threadId:
            found = await self.execute_sql('SELECT "threadId" FROM steps WHERE "id" = :id', {"id": feedback.forId})
            if isinstance(found, list) and found:
                feedback.threadId = found[0]["threadId"]
        feedback_id = await super().upsert_feedback(feedback)
        await self.execute_sql('UPDATE feedbacks SET "createdAt" = :now WHERE "id" = :id', {"now": await self.get_current_timestamp(), "id": feedback_id})
        return feedback_id

    async def get_current_timestamp(self) -> str:
        from chainlit.utils import utc_now

        return utc_now()  # Chainlit's own is local time marked as UTC ("Z")

    async def delete_thread(self, thread_id: str) -> None:
        await super().delete_thread(thread_id)
        if self.uploads is not None:
            await asyncio.to_thread(self.uploads.delete, thread_id)
