"""The chat history on a real SQLite file: ``rag.web.history`` (schema, policy, purge) and ``rag.web.datalayer``.

The round trip runs Chainlit's own code on it: a ``WebsocketSession`` with the
app's default chat profile and a persisted user, Chainlit's emitter for the
first message (which names and tags the thread), ``cl.Message.send`` for the
answer, ``list_threads`` as the sidebar asks. With Chainlit's
``SQLAlchemyDataLayer`` as it ships, the profile's tag made SQLite refuse the
thread row (a WARNING, "An error occurred"), so the thread had no user and no
name and the sidebar stayed empty: that is checked too, so the reason for
``SQLiteDataLayer`` stays on record.

``import chainlit`` writes ``.chainlit/`` and ``.files/`` under
``CHAINLIT_APP_ROOT`` (read once, at import), so the module fixture points it at
a temporary folder first, as ``test_app.py`` does.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import sqlite3
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest.mock import AsyncMock

import pytest

from rag.errors import ConfigError
from rag.web import history
from rag.web.history import HistoryPlan, is_loopback, open_history, plan_history, purge, thread_name

PROFILE = "Grounded Assistant"  # the app's one chat profile, which the browser sends with every chat


# ---------------------------------------------------------------- pure: names and who keeps a history


@pytest.mark.parametrize(("text", "name"), [
    ("What port does Ollama listen on?", "What port does Ollama listen on?"),
    ("  two\n\nlines\tand   gaps ", "two lines and gaps"),
    ("How do I configure the escalation policy so that short answers from the small model go to the large one?",
     "How do I configure the escalation policy so that short…"),
    ("x" * 100, "x" * 59 + "…"),  # no space to cut at
    ("", ""),
])
def test_a_thread_is_named_after_its_first_question_in_one_line(text: str, name: str) -> None:
    assert thread_name(text) == name
    assert len(thread_name(text)) <= 60


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.3.4.5", True), ("::1", True), ("[::1]", True), ("localhost", True), ("LocalHost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("example.org", False), ("unknown", False), ("", False),
])
def test_loopback_is_only_what_no_other_machine_can_reach(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


DB = Path("/data/chat-history.db")


@pytest.mark.parametrize(("mode", "path", "login", "host", "kept", "local", "warning"), [
    ("auto", DB, True, "0.0.0.0", True, False, False),  # login: one history per user, wherever it is bound
    ("auto", DB, False, "127.0.0.1", True, True, False),  # the person at this machine
    ("auto", DB, False, "0.0.0.0", False, False, True),  # reachable without login: none (never fail open)
    ("auto", DB, False, "unknown", False, False, True),  # inside another server: the bind is unknown
    ("on", DB, False, "0.0.0.0", True, True, True),  # the operator asked for one shared history
    ("on", DB, False, "127.0.0.1", True, True, False),
    ("off", DB, True, "127.0.0.1", False, False, False),
    ("auto", None, True, "127.0.0.1", False, False, False),  # RAG_HISTORY_DB=off
])
def test_who_gets_a_history(mode, path, login, host, kept, local, warning) -> None:
    plan = plan_history(mode, path, login, host)
    assert plan.path == (path if kept else None)
    assert plan.local_user is local and plan.warning is warning
    if warning:
        assert "RAG_" in plan.why  # says which setting changes it


def test_the_settings_put_the_history_in_the_data_folder_not_the_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from rag.settings import load_settings

    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    assert settings.history_path() == tmp_path / "data" / "chat-history.db"
    assert settings.history == "auto" and settings.history_days == 0
    monkeypatch.setenv("RAG_HISTORY_DB", str(tmp_path / "elsewhere.db"))
    assert load_settings().history_path() == tmp_path / "elsewhere.db"
    monkeypatch.setenv("RAG_HISTORY_DB", "off")
    assert load_settings().history_path() is None


@pytest.mark.parametrize(("name", "value", "allowed"), [("RAG_HISTORY", "sometimes", "'auto', 'on' or 'off'"), ("RAG_HISTORY_DAYS", "-1", "greater than or equal to 0")])
def test_a_bad_history_setting_stops_the_start_naming_it(monkeypatch: pytest.MonkeyPatch, name: str, value: str, allowed: str) -> None:
    from rag.settings import load_settings

    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name) as err:
        load_settings()
    assert allowed in str(err.value)


def test_the_default_data_folder_is_the_platforms(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys

    from rag.settings import default_data_dir

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / "rag"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/path")  # not absolute: ignored, as the XDG spec says
    assert default_data_dir() == Path.home() / ".local" / "share" / "rag"


def test_an_unusable_history_file_stops_the_start_naming_the_settings(tmp_path: Path) -> None:
    broken = tmp_path / "chat-history.db"
    broken.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match="RAG_DATA_DIR or RAG_HISTORY_DB.*RAG_HISTORY=off"):
        open_history(broken, 0)


def test_the_schema_is_wal_private_and_can_be_made_twice(tmp_path: Path) -> None:
    path = tmp_path / "private" / "chat-history.db"
    open_history(path, 0)
    open_history(path, 0)  # an existing file is brought up to date, not recreated
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = {row[1] for row in db.execute('PRAGMA table_info("feedbacks")')}
    assert {"users", "threads", "steps", "elements", "feedbacks"} <= tables and "createdAt" in columns
    assert path.stat().st_mode & 0o077 == 0 and path.parent.stat().st_mode & 0o077 == 0


# ---------------------------------------------------------------- purge


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def _add_thread(db: sqlite3.Connection, thread: str, last_active: datetime, created: datetime | None = None) -> None:
    created_at = _stamp(created or last_active)
    db.execute('INSERT INTO threads ("id", "createdAt", "name") VALUES (?, ?, ?)', (thread, created_at, thread))
    for n, when in enumerate([created or last_active, last_active]):
        step = f"{thread}-step{n}"
        db.execute('INSERT INTO steps ("id", "name", "type", "threadId", "streaming", "createdAt") VALUES (?, ?, ?, ?, 0, ?)',
                   (step, "Assistant", "assistant_message", thread, _stamp(when)))
        db.execute('INSERT INTO feedbacks ("id", "forId", "threadId", "value") VALUES (?, ?, ?, 1)', (f"{step}-vote", step, thread))
        db.execute('INSERT INTO elements ("id", "threadId", "name", "forId") VALUES (?, ?, ?, ?)', (f"{step}-el", thread, "Source 1", step))
    db.execute('INSERT INTO rag_uploads ("threadId", "source", "sha256", "size", "data", "createdAt") VALUES (?, ?, ?, 1, ?, ?)',
               (thread, "notes.md", thread, b"x", created_at))


def _count(db: sqlite3.Connection, table: str, thread: str) -> int:
    return db.execute(f'SELECT COUNT(*) FROM "{table}" WHERE "{"id" if table == "threads" else "threadId"}" = ?', (thread,)).fetchone()[0]


def test_purge_deletes_the_chats_last_active_before_the_cutoff_with_everything_of_theirs(tmp_path: Path) -> None:
    path = tmp_path / "chat-history.db"
    open_history(path, 0)
    now = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
    with sqlite3.connect(path) as db:
        _add_thread(db, "old", now - timedelta(days=40))
        _add_thread(db, "old-but-active", now - timedelta(days=2), created=now - timedelta(days=90))
        _add_thread(db, "recent", now - timedelta(days=1))
        for thread, age in [("never-saved-old", 40), ("never-saved-new", 1)]:  # uploads of chats whose thread was never written
            db.execute('INSERT INTO rag_uploads ("threadId", "source", "sha256", "size", "data", "createdAt") VALUES (?, ?, ?, 1, ?, ?)',
                       (thread, "notes.md", thread, b"x", _stamp(now - timedelta(days=age))))
    assert purge(path, 0, now) == 0  # 0: keep everything
    assert purge(path, 30, now) == 1
    with sqlite3.connect(path) as db:
        assert _count(db, "rag_uploads", "never-saved-old") == 0 and _count(db, "rag_uploads", "never-saved-new") == 1
        for table in ("threads", "steps", "feedbacks", "elements", "rag_uploads"):
            assert _count(db, table, "old") == 0, table
            assert _count(db, table, "recent") > 0 and _count(db, table, "old-but-active") > 0, table
    assert purge(path, 30, now) == 0


def test_rag_history_days_purges_at_start_up(tmp_path: Path) -> None:
    """What the app runs at start-up (``open_history(path, RAG_HISTORY_DAYS)``): the old chat is gone, the recent one stays."""
    path = tmp_path / "chat-history.db"
    open_history(path, 0)
    now = datetime.now(UTC)
    with sqlite3.connect(path) as db:
        _add_thread(db, "a-year-ago", now - timedelta(days=365))
        _add_thread(db, "yesterday", now - timedelta(days=1))
    assert open_history(path, 7) == 1
    with sqlite3.connect(path) as db:
        assert [row[0] for row in db.execute('SELECT "id" FROM threads')] == ["yesterday"]


def test_the_upload_store_keeps_each_chats_files_once_in_order(tmp_path: Path) -> None:
    path = tmp_path / "chat-history.db"
    open_history(path, 0)
    store = history.UploadStore(path)
    pdf = bytes(range(256)) * 40
    store.save("t1", "notes.md", b"# Notes\n\nZephyr.\n")
    store.save("t1", "report.pdf", pdf)
    store.save("t1", "notes (2).md", b"# Notes\n\nZephyr.\n")  # the same bytes again: kept once
    store.save("t2", "other.md", b"# Other\n")
    assert [(u.source, u.data) for u in store.load("t1")] == [("notes.md", b"# Notes\n\nZephyr.\n"), ("report.pdf", pdf)]
    assert store.delete("t1") == 2 and store.load("t1") == [] and len(store.load("t2")) == 1


# ---------------------------------------------------------------- Chainlit's data layer on the file


@pytest.fixture(scope="module")
def chainlit(tmp_path_factory: pytest.TempPathFactory):
    """``chainlit``, imported with ``CHAINLIT_APP_ROOT`` in a temporary folder (unless a module before did)."""
    root = tmp_path_factory.mktemp("chainlit-root")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHAINLIT_APP_ROOT", str(root))
        mp.chdir(root)
        with warnings.catch_warnings():  # third-party deprecations at import (traceloop's pydantic v1 configs)
            warnings.simplefilter("ignore", DeprecationWarning)
            module = importlib.import_module("chainlit")
        yield module


@pytest.fixture
def layer_in_use(chainlit, monkeypatch: pytest.MonkeyPatch):
    """``use(layer)``: make ``layer`` the data layer Chainlit's code gets (as ``@cl.data_layer`` does)."""
    data = importlib.import_module("chainlit.data")
    # With profiles registered (app.py, imported by test_app.py), Chainlit's WebsocketSession runs the profiles'
    # coroutine with run_until_complete inside the running loop, which fails, unawaited (a RuntimeWarning): not ours
    monkeypatch.setattr(importlib.import_module("chainlit.config").config.code, "set_chat_profiles", None)

    def use(layer) -> None:
        monkeypatch.setattr(data, "_data_layer", layer)
        monkeypatch.setattr(data, "_data_layer_initialized", True)

    return use


async def _settle() -> None:
    """Wait for Chainlit's background saves (it persists in tasks it does not await)."""
    for _ in range(5):
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if not pending:
            return
        await asyncio.gather(*pending, return_exceptions=True)


async def _one_chat(chainlit, layer, identifier: str, question: str) -> tuple[object, str, str]:
    """A chat as the browser has it: a persisted user, the default profile, one question, one answer with a Source.

    Returns (the persisted user, the thread id, the answer's step id).
    """
    from chainlit.context import init_ws_context
    from chainlit.session import WebsocketSession, ws_sessions_id, ws_sessions_sid
    from chainlit.utils import utc_now

    from rag.answer.pipeline import Done
    from rag.documents.chunking import Chunk
    from rag.search.retrieval import Hit
    from rag.tiers.metrics import TurnMetrics
    from rag.web.chat import answer_metadata, source_text

    user = await layer.create_user(chainlit.User(identifier=identifier, metadata={"provider": "password"}))
    sid = f"s-{uuid.uuid4()}"
    session = WebsocketSession(id=sid, socket_id=f"socket-{sid}", emit=AsyncMock(), emit_call=AsyncMock(), user_env={},
                               client_type="webapp", user=user, chat_profile=PROFILE)
    try:
        context = init_ws_context(session)
        step = {"id": str(uuid.uuid4()), "type": "user_message", "output": question, "name": identifier, "createdAt": utc_now()}
        await context.emitter.process_message({"message": step, "fileReferences": None})  # names and tags the thread
        await _settle()
        chunk = Chunk("03-model-backends.md", "Model backends", ("Model backends", "Ollama"), "Ollama listens on port 11434.", None, 0, 9)
        done = Done(
            answer="Ollama listens on port 11434 [Source 1].", tier="slm", escalated=False, reasons=[], draft=None, hits=[Hit(1, 2.5, chunk, "docs")], covered=True,
            metrics=TurnMetrics(),
        )
        meta = answer_metadata(question, done)
        answer = chainlit.Message(content=done.answer + "\n\n---\n🟢 SLM", metadata=meta,
                                  elements=[chainlit.Text(name="Source 1", content=source_text(meta["sources"][0]), display="side")])
        await answer.send()
        await _settle()
        return user, session.thread_id, answer.id
    finally:
        ws_sessions_id.pop(sid, None)
        ws_sessions_sid.pop(session.socket_id, None)


def _chainlit_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("chainlit") and r.levelno >= logging.WARNING
            and "storage client is not initialized" not in r.getMessage()]


@pytest.mark.asyncio
async def test_a_chat_round_trips_through_the_history_with_the_default_profile(
    chainlit, layer_in_use, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    from chainlit.types import Feedback, Pagination, ThreadFilter

    from rag.web.datalayer import SQLiteDataLayer

    path = tmp_path / "chat-history.db"
    open_history(path, 0)
    layer = SQLiteDataLayer(path)
    layer_in_use(layer)
    caplog.set_level(logging.WARNING)
    question = "What port does Ollama listen on, and how do I point the SLM tier at it from the settings?"
    try:
        user, thread_id, answer_id = await _one_chat(chainlit, layer, "alice", question)
        await layer.upsert_feedback(Feedback(forId=answer_id, value=1, comment="right port"))  # the browser sends no threadId
        other, _, _ = await _one_chat(chainlit, layer, "bob", "Another user's question")

        page = await layer.list_threads(Pagination(first=20), ThreadFilter(userId=user.id))
        (thread,) = page.data  # alice's chat, and only hers
        assert thread["id"] == thread_id and thread["userIdentifier"] == "alice"
        assert thread["name"] == thread_name(question) and thread["name"].endswith("…")
        assert thread["tags"] == [PROFILE]

        full = await layer.get_thread(thread_id)
        kinds = [(s["type"], s["output"].split("\n")[0]) for s in full["steps"]]
        assert kinds == [("user_message", question), ("assistant_message", "Ollama listens on port 11434 [Source 1].")]
        answer = full["steps"][1]
        assert answer["metadata"]["rag"] == "answer" and answer["metadata"]["question"] == question
        assert answer["metadata"]["sources"][0]["text"] == "Ollama listens on port 11434."  # what a resume rebuilds Source 1 from
        assert answer["feedback"]["value"] == 1 and answer["feedback"]["comment"] == "right port"

        (bobs,) = (await layer.list_threads(Pagination(first=20), ThreadFilter(userId=other.id))).data
        assert bobs["userIdentifier"] == "bob" and bobs["id"] != thread_id
    finally:
        await layer.close()
    assert _chainlit_warnings(caplog) == []
    with sqlite3.connect(path) as db:
        (thread_row,) = db.execute('SELECT "tags", "userId" FROM threads WHERE "id" = ?', (thread_id,)).fetchall()
        vote_time, vote_thread = db.execute('SELECT "createdAt", "threadId" FROM feedbacks').fetchone()
    assert json.loads(thread_row[0]) == [PROFILE] and thread_row[1] == user.id
    assert vote_thread == thread_id and vote_time.endswith("Z")


@pytest.mark.asyncio
async def test_chainlits_own_sqlalchemy_layer_loses_the_thread_on_sqlite(
    chainlit, layer_in_use, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """Why ``SQLiteDataLayer`` exists: with the profile's tag, Chainlit's layer only logs a warning and the sidebar is empty."""
    from chainlit.data.sql_alchemy import SQLAlchemyDataLayer
    from chainlit.types import Pagination, ThreadFilter

    path = tmp_path / "chat-history.db"
    open_history(path, 0)
    layer = SQLAlchemyDataLayer(conninfo=f"sqlite+aiosqlite:///{path}")
    layer_in_use(layer)
    caplog.set_level(logging.WARNING)
    try:
        user, thread_id, _ = await _one_chat(chainlit, layer, "alice", "What port does Ollama listen on?")
        assert (await layer.list_threads(Pagination(first=20), ThreadFilter(userId=user.id))).data == []
    finally:
        await layer.close()
    assert any("An error occurred" in w and "list" in w for w in _chainlit_warnings(caplog))
    with sqlite3.connect(path) as db:
        assert db.execute('SELECT "userId", "name" FROM threads WHERE "id" = ?', (thread_id,)).fetchone() == (None, None)


def test_history_module_exports() -> None:
    assert history.__all__ == sorted(history.__all__)
    assert all(hasattr(history, name) for name in history.__all__)
    assert isinstance(plan_history("off", None, False, "127.0.0.1"), HistoryPlan)


@pytest.mark.parametrize("line", [
    "2025-06-30 12:00:00 - WARNING - chainlit - An error occurred: (sqlite3.ProgrammingError) Error binding parameter 6: type 'list' is not supported",
    "2025-06-30 12:00:00 - WARNING - chainlit - An unexpected error occurred: boom",
])
def test_the_app_log_check_fails_on_a_data_layer_warning(tmp_path: Path, request: pytest.FixtureRequest, line: str) -> None:
    """Chainlit logs a failed history write as a WARNING and goes on: the browser tests' log check must still fail."""
    from tests.support.helpers import assert_app_log_clean

    log = tmp_path / "chainlit.log"
    log.write_text("2025-06-30 12:00:00 - INFO - chainlit - Your app is available at http://127.0.0.1:8000\n", encoding="utf-8")
    assert_app_log_clean(log, request)
    log.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="error occurred"):
        assert_app_log_clean(log, request)
