"""Shared fixtures: every test runs with a clean ``RAG_*`` environment.

Settings are read from ``RAG_*`` env vars (and ``FOUNDRY_LOCAL_ENDPOINT``) and a
``.env`` file in the working directory, so the autouse fixture below removes
every such variable, points ``RAG_CACHE_DIR`` and ``RAG_DATA_DIR`` (the chat
history) at fresh temporary folders and runs the test from an empty temporary working directory (no stray ``.env``,
nothing written into the repo).

For the answering layer: ``scripted`` is a real OpenAI-compatible SSE server on
127.0.0.1 (one per session, its script queues and request log emptied before
each test), and ``small_index`` an ``Index`` over six short documents with
distinct facts (``SMALL_DOCS``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.search.index import Index, open_index
from tests.support.scripted_server import Script, ScriptedServer

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPORA = SHARED / "corpora"

SCRIPTED_MODELS = ["phi-4-mini-instruct-generic-cpu", "gpt-oss-20b", "other-model"]

SMALL_DOCS = {
    "foundry.md": "# Foundry Local\n\nFoundry Local listens on port 5273 by default. "
    "Start the service with the foundry service start command.\n",
    "escalation.md": "# Escalation\n\nThe assistant escalates to the larger model when the small model's answer "
    "is shorter than six hundred characters.\n",
    "quantization.md": "# Quantization\n\nQuantization stores model weights as four-bit integers to save memory.\n\n"
    "- Q4_K_M keeps medium quality at a small size.\n- Q8_0 keeps nearly full quality.\n",
    "olive.md": "# Olive\n\nOlive optimizes models with passes such as pruning and graph fusion.\n",
    "hardware.md": "# Hardware\n\nThe boards we tested:\n\n| Device | Memory |\n|---|---|\n"
    "| Raspberry Pi | 8 GB |\n| Jetson Orin | 16 GB |\n",
    "kurulum.md": "# Kurulum\n\nFoundry Local kurulumu için winget komutunu çalıştırın. "
    "Servis İstanbul ofisinde sınandı ve çalışıyor.\n",
}


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Delete every RAG_* env var and FOUNDRY_LOCAL_ENDPOINT, set RAG_CACHE_DIR and RAG_DATA_DIR to tmp dirs, chdir to an empty tmp dir."""
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("FOUNDRY_LOCAL_ENDPOINT", raising=False)
    cache = tmp_path_factory.mktemp("rag-cache")
    monkeypatch.setenv("RAG_CACHE_DIR", str(cache))
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path_factory.mktemp("rag-data")))  # never the user's chat history
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


@pytest.fixture(scope="session")
def scripted_server() -> Iterator[ScriptedServer]:
    """One scripted OpenAI-compatible server for the session, serving ``SCRIPTED_MODELS``."""
    server = ScriptedServer(SCRIPTED_MODELS).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def scripted(scripted_server: ScriptedServer) -> ScriptedServer:
    """The session's scripted server with empty script queues, request log and the default "OK" script."""
    scripted_server.scripts.clear()
    scripted_server.requests.clear()
    scripted_server.default = Script(["OK"])
    return scripted_server


@pytest.fixture
def small_docs(tmp_path: Path) -> Path:
    """A docs folder holding ``SMALL_DOCS``."""
    return _write_files(tmp_path / "docs", SMALL_DOCS)


@pytest.fixture
def small_index(small_docs: Path) -> Index:
    """An uncached ``Index`` over ``SMALL_DOCS``."""
    index, report = open_index(small_docs, None)
    assert report.files == len(SMALL_DOCS)
    return index
