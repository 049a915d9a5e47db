"""The chat-history database: Chainlit's SQLAlchemy schema, created in SQLite.

Chainlit's SQLAlchemy data layer writes threads, steps (messages), elements and
feedback but does not create its tables. ``ensure_schema`` creates them from
Chainlit's documented DDL, adapted to SQLite, and adds the columns later
Chainlit versions write (``autoCollapse``, ``modes``...): without them every
step insert fails and is only logged, so messages silently vanish from history.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["ensure_schema"]

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
    FOREIGN KEY ("threadId") REFERENCES threads("id") ON DELETE CASCADE
);
"""

# Columns added to Chainlit's tables after the documented DDL was written.
_LATER_COLUMNS = {
    "steps": {"command": "TEXT", "defaultOpen": "BOOLEAN", "autoCollapse": "BOOLEAN", "modes": "TEXT"},
    "elements": {"props": "TEXT", "autoPlay": "BOOLEAN", "playerConfig": "TEXT"},
}


def ensure_schema(path: Path) -> Path:
    """Create (or bring up to date) the history database at ``path``; returns it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.executescript(_TABLES)
        for table, columns in _LATER_COLUMNS.items():
            have = {row[1] for row in db.execute(f'PRAGMA table_info("{table}")')}
            for name, kind in columns.items():
                if name not in have:
                    db.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {kind}')
    return path
