"""Shared fixtures: every test runs with a clean ``RAG_*`` environment.

Settings are read from ``RAG_*`` env vars and a ``.env`` file in the working
directory, so the autouse fixture below removes every ``RAG_*`` variable, points
``RAG_CACHE_DIR`` at a fresh temporary folder and runs the test from an empty
temporary working directory (no stray ``.env``, nothing written into the repo).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPORA = SHARED / "corpora"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Delete every RAG_* env var, set RAG_CACHE_DIR to a tmp dir, chdir to an empty tmp dir."""
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)
    cache = tmp_path_factory.mktemp("rag-cache")
    monkeypatch.setenv("RAG_CACHE_DIR", str(cache))
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    return cache


def _write_files(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def write_files():
    """``write_files(root, {relative path: text or bytes})`` creates the files and returns ``root``."""
    return _write_files
