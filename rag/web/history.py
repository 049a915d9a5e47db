"""The chat-history database: Chainlit's SQLAlchemy schema in SQLite, our uploads table, who keeps a history, purge, votes.

Chainlit's SQLAlchemy data layer writes threads, steps (messages), elements and
feedback but does not create its tables. ``ensure_schema`` creates them from
Chainlit's documented DDL, adapted to SQLite, and adds the columns later
Chainlit versions write (``autoCollapse``, ``modes``...): without them every
step insert fails and is only logged, so messages silently vanish from history.
It also creates ``rag_uploads`` (a chat's uploaded files, so that a resumed chat
answers from them again: Chainlit's own copies are deleted with the session),
gives ``feedbacks`` a time, and turns on WAL (readers never wait for the writer).

Everything here is plain ``sqlite3`` and runs without Chainlit: the app calls
it at start-up (``open_history``: ``ensure_schema``, ``purge``) and from worker
threads (``UploadStore``), the CLI reads the votes (``votes``). ``rag.web.datalayer`` is the Chainlit side;
``plan_history`` is the policy of who gets a history.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from rag.errors import ConfigError

__all__ = [
    "BUSY_TIMEOUT_S",
    "HistoryPlan",
    "LOCAL_USER",
    "StoredUpload",
    "UploadStore",
    "Vote",
    "ensure_schema",
    "is_loopback",
    "open_history",
    "plan_history",
    "purge",
    "thread_name",
    "vote_counts",
    "votes",
]

BUSY_TIMEOUT_S = 10.0  # a writer waits this long for another (the app's data layer, the CLI) before failing
LOCAL_USER = "local"  # the one user of an app without login on this machine (see plan_history)

_TABLES = """
CREATE TABLE IF NOT EXISTS users (
    "id" TEXT PRIMARY KEY, "identifier" TEXT NOT NULL UNIQUE, "metadata" TEXT NOT NULL, "createdAt" TEXT
);
CREATE TABLE IF NOT EXISTS threads (
    "id" TEXT PRIMARY KEY, "createdAt" TEXT, "name" TEXT, "userId" TEXT, "userIdentifier" TEXT,
    "tags" TEXT, "metadata" TEXT,
    FOREIGN KEY ("userId") REFERENCES users("id") ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS steps (
    "id" TEXT PRIMARY KEY, "name" TEXT NOT NULL, "type" TEXT NOT NULL, "threadId" TEXT NOT NULL,
    "parentId" TEXT, "streaming" BOOLEAN NOT NULL, "waitForAnswer" BOOLEAN, "isError" BOOLEAN,
    "metadata" TEXT, "tags" TEXT, "input" TEXT, "output" TEXT, "createdAt" TEXT, "command" TEXT,
    "start" TEXT, "end" TEXT, "generation" TEXT, "showInput" TEXT, "language" TEXT, "indent" INT,
    "defaultOpen" BOOLEAN, "autoCollapse" BOOLEAN, "modes" TEXT,
    FOREIGN KEY ("threadId") REFERENCES threads("id") ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS elements (
    "id" TEXT PRIMARY KEY, "threadId" TEXT, "type" TEXT, "url" TEXT, "chainlitKey" TEXT,
    "name" TEXT NOT NULL, "display" TEXT, "objectKey" TEXT, "size" TEXT, "page" INT, "language" TEXT,
    "forId" TEXT, "mime" TEXT, "props" TEXT, "autoPlay" BOOLEAN, "playerConfig" TEXT,
    FOREIGN KEY ("threadId") REFERENCES threads("id") ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS feedbacks (
    "id" TEXT PRIMARY KEY, "forId" TEXT NOT NULL, "threadId" TEXT NOT NULL, "value" INT NOT NULL, "comment" TEXT,
    "createdAt" TEXT,
    FOREIGN KEY ("threadId") REFERENCES threads("id") ON DELETE CASCADE
);
-- ours: the files uploaded into a chat (zlib-compressed bytes), deleted with the thread
CREATE TABLE IF NOT EXISTS rag_uploads (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT, "threadId" TEXT NOT NULL, "source" TEXT NOT NULL,
    "sha256" TEXT NOT NULL, "size" INT NOT NULL, "data" BLOB NOT NULL, "createdAt" TEXT NOT NULL,
    UNIQUE ("threadId", "sha256")
);
CREATE INDEX IF NOT EXISTS rag_uploads_thread ON rag_uploads ("threadId");
CREATE INDEX IF NOT EXISTS steps_thread ON steps ("threadId");
CREATE INDEX IF NOT EXISTS feedbacks_for ON feedbacks ("forId");
"""

# Columns added to the tables after the documented DDL was written (Chainlit's, and feedbacks' time: ours).
_LATER_COLUMNS = {
    "steps": {"command": "TEXT", "defaultOpen": "BOOLEAN", "autoCollapse": "BOOLEAN", "modes": "TEXT"},
    "elements": {"props": "TEXT", "autoPlay": "BOOLEAN", "playerConfig": "TEXT"},
    "feedbacks": {"createdAt": "TEXT"},
}


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
    db.row_factory = sqlite3.Row
    return db


@contextmanager
def _transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection whose changes are committed on success (rolled back on error), then closed."""
    with closing(_connect(path)) as db, db:
        yield db


def ensure_schema(path: Path) -> Path:
    """Create (or bring up to date) the history database at ``path``, in WAL mode; returns it.

    The folder is created private to this user (the chats are in it), and so is a new file.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    new = not path.exists()
    with _transaction(path) as db:
        db.execute("PRAGMA journal_mode=WAL")  # stays set in the file
        db.executescript(_TABLES)
        for table, columns in _LATER_COLUMNS.items():
            have = {row[1] for row in db.execute(f'PRAGMA table_info("{table}")')}
            for name, kind in columns.items():
                if name not in have:
                    db.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {kind}')
    if new and os.name == "posix":
        path.chmod(0o600)
    return path


def open_history(path: Path, days: int) -> int:
    """At start-up: the schema (``ensure_schema``), then ``purge``; returns how many chats were purged.

    Raises ``ConfigError`` naming the settings when the file cannot be opened or written.
    """
    try:
        ensure_schema(path)
        return purge(path, days)
    except (OSError, sqlite3.Error) as err:
        raise ConfigError(
            f"the chat history at {path} cannot be used ({type(err).__name__}: {err}). Fix RAG_DATA_DIR or RAG_HISTORY_DB, "
            "or set RAG_HISTORY=off to run without a history"
        ) from err


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    """Chainlit's timestamp format (ISO 8601, UTC, ``Z``), which sorts as text."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


# ---------------------------------------------------------------- names and who keeps a history


def thread_name(text: str, limit: int = 60) -> str:
    """A chat's name in the sidebar, from its first question: one line, cut at a word, with "…".

    >>> thread_name("How do I   start\\nthe service?")
    'How do I start the service?'
    >>> thread_name("a" * 10 + " " + "b" * 60, limit=20)
    'aaaaaaaaaa…'
    """
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    word = cut.rsplit(" ", 1)[0] if " " in cut[limit // 2:] else cut
    return word.rstrip(" ,.;:-") + "…"


def is_loopback(host: str) -> bool:
    """Whether an app bound to ``host`` can only be reached from this machine (``0.0.0.0`` cannot)."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


@dataclass(frozen=True)
class HistoryPlan:
    """Who gets a chat history: ``path`` None keeps none; ``local_user``: everyone is the one ``LOCAL_USER``.

    ``why`` says so for the log; ``warning``: the operator should read it (no history for want of a login,
    or one history shared by everyone who reaches the app).
    """

    path: Path | None
    local_user: bool
    why: str
    warning: bool = False


def plan_history(mode: Literal["auto", "on", "off"], path: Path | None, login: bool, host: str) -> HistoryPlan:
    """The history the app keeps (``mode``: RAG_HISTORY; ``path``: None when RAG_HISTORY_DB=off).

    With login, each user has their own. Without login, the person at this machine is one local
    user: in ``auto`` only while the app is bound to loopback, since beyond it anyone who can reach
    the page would read and add to that one history. Never fails open: an unknown host is not loopback.
    """
    if mode == "off" or path is None:
        return HistoryPlan(None, False, "chat history is off (RAG_HISTORY=off or RAG_HISTORY_DB=off)")
    if login:
        return HistoryPlan(path, False, f"chat history in {path}, one per login user")
    if mode == "on":
        shared = "" if is_loopback(host) else f"; the app is bound to {host} without login, so everyone who reaches it shares it"
        return HistoryPlan(path, True, f"chat history in {path}, for one local user (RAG_HISTORY=on{shared})", warning=bool(shared))
    if is_loopback(host):
        return HistoryPlan(path, True, f"chat history in {path}, for the one local user (no login; bound to {host})")
    return HistoryPlan(
        None, False,
        f"chat history is off: the app is bound to {host} without login. Set RAG_AUTH_USERS for a history per user, "
        "or RAG_HISTORY=on to keep one history that everyone who reaches the app shares", warning=True,
    )


# ---------------------------------------------------------------- uploads


@dataclass(frozen=True)
class StoredUpload:
    source: str  # the name the chat searched and cited it under
    data: bytes  # the file as uploaded


class UploadStore:
    """The files uploaded into each chat (thread), kept in the history database so a resumed chat has them.

    Blocking (call from a worker thread); each call opens its own connection, so threads may share a store.
    The same bytes are stored once per thread.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, thread_id: str, source: str, data: bytes) -> None:
        with _transaction(self.path) as db:
            db.execute(
                'INSERT OR IGNORE INTO rag_uploads ("threadId", "source", "sha256", "size", "data", "createdAt") VALUES (?, ?, ?, ?, ?, ?)',
                (thread_id, source, hashlib.sha256(data).hexdigest(), len(data), zlib.compress(data, 6), _stamp(_now())),
            )

    def load(self, thread_id: str) -> list[StoredUpload]:
        """The thread's uploads, in the order they were added."""
        with closing(_connect(self.path)) as db:
            rows = db.execute('SELECT "source", "data" FROM rag_uploads WHERE "threadId" = ? ORDER BY "id"', (thread_id,)).fetchall()
        return [StoredUpload(row["source"], zlib.decompress(row["data"])) for row in rows]

    def delete(self, thread_id: str) -> int:
        """Forget the thread's uploads; returns how many there were."""
        with _transaction(self.path) as db:
            return db.execute('DELETE FROM rag_uploads WHERE "threadId" = ?', (thread_id,)).rowcount


# ---------------------------------------------------------------- purge


def purge(path: Path, days: int, now: datetime | None = None) -> int:
    """Delete the chats last active more than ``days`` ago, with their steps, elements, votes and uploads.

    Returns how many chats were deleted. ``days`` 0 keeps everything. Uploads of a chat that
    no longer exists (it was never saved) go once they are as old.
    """
    if days <= 0:
        return 0
    cutoff = _stamp((now or _now()) - timedelta(days=days))
    with _transaction(path) as db:
        old = [row[0] for row in db.execute(
            """SELECT t."id" FROM threads t LEFT JOIN steps s ON s."threadId" = t."id"
               GROUP BY t."id" HAVING COALESCE(MAX(s."createdAt"), t."createdAt", '') < ?""",
            (cutoff,),
        )]
        for chunk in (old[i:i + 500] for i in range(0, len(old), 500)):
            marks = ", ".join("?" * len(chunk))
            db.execute(f'DELETE FROM feedbacks WHERE "threadId" IN ({marks}) OR "forId" IN (SELECT "id" FROM steps WHERE "threadId" IN ({marks}))', chunk + chunk)
            for table in ("elements", "steps", "rag_uploads"):
                db.execute(f'DELETE FROM "{table}" WHERE "threadId" IN ({marks})', chunk)
            db.execute(f'DELETE FROM threads WHERE "id" IN ({marks})', chunk)
        db.execute('DELETE FROM rag_uploads WHERE "createdAt" < ? AND "threadId" NOT IN (SELECT "id" FROM threads)', (cutoff,))
    return len(old)


# ---------------------------------------------------------------- votes


@dataclass(frozen=True)
class Vote:
    """A thumb on an answer, with what was asked and answered (from the answer's metadata, see rag.web.chat)."""

    time: str  # when the vote was given (the answer's time for votes stored before votes had one)
    user: str
    thread: str
    question: str
    answer: str
    tier: str
    sources: list[str]
    value: int  # 1 up, 0 down
    comment: str

    def to_json(self) -> dict[str, object]:
        return {
            "time": self.time, "user": self.user, "thread": self.thread, "question": self.question, "answer": self.answer,
            "tier": self.tier, "sources": self.sources, "value": self.value, "comment": self.comment,
        }


def _metadata(raw: object) -> dict:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if isinstance(raw, str) else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def votes(path: Path, since: datetime | None = None) -> list[Vote]:
    """Every vote in the history database (oldest first); ``since``: only those given on or after it.

    Chainlit's page puts the thumbs on a turn: the vote is on the ``on_message`` run step, and the answer is
    that run's last message with answer metadata (a vote on the answer message itself is read as well).
    """
    with closing(_connect(path)) as db:
        rows = db.execute(
            """SELECT COALESCE(f."createdAt", s."createdAt", '') AS time, COALESCE(t."userIdentifier", '') AS user,
                      s."id" AS step, s."threadId" AS thread, s."metadata" AS metadata, s."output" AS output,
                      f."value" AS value, COALESCE(f."comment", '') AS comment
               FROM feedbacks f JOIN steps s ON s."id" = f."forId" LEFT JOIN threads t ON t."id" = s."threadId"
               WHERE COALESCE(f."createdAt", s."createdAt", '') >= ? ORDER BY time""",
            (_stamp(since if since.tzinfo else since.replace(tzinfo=UTC)) if since else "",),
        ).fetchall()
        found = []
        for row in rows:
            meta, output = _metadata(row["metadata"]), row["output"] or ""
            if meta.get("rag") != "answer":  # a run: its answer is among its messages
                children = db.execute(
                    'SELECT "metadata", "output" FROM steps WHERE "parentId" = ? ORDER BY "createdAt" DESC', (row["step"],)
                ).fetchall()
                answer = next((c for c in children if _metadata(c["metadata"]).get("rag") == "answer"), None)
                if answer is not None:
                    meta, output = _metadata(answer["metadata"]), answer["output"] or ""
            sources = [f"{s.get('source', '')} › {s.get('heading', '')}".strip(" ›") for s in meta.get("sources", []) if isinstance(s, dict)]
            found.append(Vote(
                time=row["time"], user=row["user"], thread=row["thread"], question=str(meta.get("question", "")),
                answer=str(meta.get("answer", output)), tier=str(meta.get("tier", "")), sources=sources,
                value=int(row["value"]), comment=row["comment"],
            ))
    return found


def vote_counts(path: Path, thread_id: str) -> tuple[int, int]:
    """(thumbs up, thumbs down) given in one chat."""
    with closing(_connect(path)) as db:
        row = db.execute(
            """SELECT COALESCE(SUM(f."value" = 1), 0), COALESCE(SUM(f."value" = 0), 0)
               FROM feedbacks f JOIN steps s ON s."id" = f."forId" WHERE s."threadId" = ?""",
            (thread_id,),
        ).fetchone()
    return int(row[0]), int(row[1])
