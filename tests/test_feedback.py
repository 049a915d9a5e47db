"""``rag feedback``: the votes given in the app, read back from the chat history with what was asked and answered.

The database is written here as the app's data layer writes it (``rag.web.history``'s
schema; an answer step's metadata is ``rag.web.chat.answer_metadata`` as JSON text;
a vote in ``feedbacks`` with its time). That the app really writes it so is
``test_history.py``'s round trip and the browser test in ``test_e2e_history.py``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.answer.pipeline import Done
from rag.cli import cli
from rag.documents.chunking import Chunk
from rag.search.retrieval import Hit
from rag.tiers.metrics import TurnMetrics
from rag.web.chat import answer_metadata
from rag.web.history import open_history, votes


def _answer(thread: str, step: str, question: str, answer: str, at: str, db: sqlite3.Connection, parent: str | None = None) -> None:
    chunk = Chunk("03-model-backends.md", "Model backends", ("Model backends", "Ollama"), "Ollama listens on port 11434.", None, 0, 9)
    done = Done(answer=answer, tier="llm", escalated=True, reasons=["uncited"], draft=None, hits=[Hit(1, 2.0, chunk, "docs")], covered=True, metrics=TurnMetrics())
    db.execute('INSERT INTO steps ("id", "name", "type", "threadId", "parentId", "streaming", "createdAt", "output", "metadata") VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)',
               (step, "Grounded Assistant", "assistant_message", thread, parent, at, answer + "\n\n---\n🔵 LLM", json.dumps(answer_metadata(question, done))))


@pytest.fixture
def history_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two users' chats, three votes (one with a comment), one answer without a vote.

    Bob's vote is where Chainlit's page puts it: on the turn's ``on_message`` run, whose messages are a note and the answer.
    """
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "data" / "chat-history.db"
    open_history(path, 0)
    with sqlite3.connect(path) as db:
        for user, thread in [("alice", "t-alice"), ("bob", "t-bob")]:
            db.execute('INSERT INTO users ("id", "identifier", "metadata") VALUES (?, ?, ?)', (f"u-{user}", user, "{}"))
            db.execute('INSERT INTO threads ("id", "name", "userId", "userIdentifier") VALUES (?, ?, ?, ?)', (thread, "chat", f"u-{user}", user))
        _answer("t-alice", "a1", "What port does Ollama listen on?", "Port 11434 [Source 1].", "2025-06-01T10:00:00.000000Z", db)
        _answer("t-alice", "a2", "And its\nmodel?", "phi4-mini\n[Source 1].", "2025-06-02T10:00:00.000000Z", db)
        db.execute('INSERT INTO steps ("id", "name", "type", "threadId", "streaming", "createdAt", "output", "metadata") VALUES (?, ?, ?, ?, 0, ?, ?, ?)',
                   ("b-run", "on_message", "run", "t-bob", "2025-06-03T09:59:59.000000Z", "", "{}"))
        db.execute('INSERT INTO steps ("id", "name", "type", "threadId", "parentId", "streaming", "createdAt", "output", "metadata") VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)',
                   ("b-note", "Grounded Assistant", "assistant_message", "t-bob", "b-run", "2025-06-03T10:00:01.000000Z", "⤴ a note", "{}"))
        _answer("t-bob", "b1", "Which port?", "11434.", "2025-06-03T10:00:00.000000Z", db, parent="b-run")
        _answer("t-bob", "b2", "Unvoted?", "Yes.", "2025-06-03T11:00:00.000000Z", db)
        for vote, step, thread, value, comment, at in [
            ("v1", "a1", "t-alice", 1, None, "2025-06-01T10:01:00.000000Z"),
            ("v2", "a2", "t-alice", 0, "wrong model, it is gemma", "2025-06-02T10:05:00.000000Z"),
            ("v3", "b-run", "t-bob", 1, "", None),  # a vote stored before votes had a time: its step's time
        ]:
            db.execute('INSERT INTO feedbacks ("id", "forId", "threadId", "value", "comment", "createdAt") VALUES (?, ?, ?, ?, ?, ?)',
                       (vote, step, thread, value, comment, at))
    return path


def test_one_line_per_vote_oldest_first(history_db: Path) -> None:
    result = CliRunner().invoke(cli, ["feedback"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split("\t") for line in lines] == [
        ["2025-06-01T10:01:00.000000Z", "alice", "What port does Ollama listen on?", "Port 11434 [Source 1].", "llm",
         "03-model-backends.md › Model backends › Ollama", "up", ""],
        ["2025-06-02T10:05:00.000000Z", "alice", "And its model?", "phi4-mini [Source 1].", "llm",
         "03-model-backends.md › Model backends › Ollama", "down", "wrong model, it is gemma"],
        ["2025-06-03T09:59:59.000000Z", "bob", "Which port?", "11434.", "llm", "03-model-backends.md › Model backends › Ollama", "up", ""],
    ]
    assert result.stderr.strip() == "3 votes: 2 up, 1 down"


def test_json_and_since(history_db: Path) -> None:
    result = CliRunner().invoke(cli, ["feedback", "--json", "--since", "2025-06-02"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["user"], r["value"], r["comment"]) for r in rows] == [("alice", 0, "wrong model, it is gemma"), ("bob", 1, "")]
    assert rows[0] == {
        "time": "2025-06-02T10:05:00.000000Z", "user": "alice", "thread": "t-alice", "question": "And its\nmodel?",
        "answer": "phi4-mini\n[Source 1].", "tier": "llm", "sources": ["03-model-backends.md › Model backends › Ollama"],
        "value": 0, "comment": "wrong model, it is gemma",
    }
    assert votes(history_db)[0].question == "What port does Ollama listen on?"


@pytest.mark.parametrize(("env", "message"), [
    ({"RAG_HISTORY_DB": "off"}, "RAG_HISTORY_DB is off"),
    ({}, "there is no chat history at"),
])
def test_without_a_history_it_says_so_and_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict, message: str) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "nothing-here"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["feedback"], catch_exceptions=False)
    assert result.exit_code == 1 and message in result.stderr and result.stdout == ""
