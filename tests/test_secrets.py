"""API keys and login passwords never appear in logs, metrics, errors, JSON output or the UI's texts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.settings import load_settings
from rag.tiers.client import TierConfig
from rag.tiers.discovery import open_tiers
from tests.support.scripted_server import Script, ScriptedServer

SLM_KEY = "sk-slm-TOPSECRET-1111"
LLM_KEY = "sk-llm-TOPSECRET-2222"
PASSWORD = "hunter2-TOPSECRET"
ROOT = Path(__file__).resolve().parents[1]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") and k != "FOUNDRY_LOCAL_ENDPOINT"}
    env.update(extra)
    return env


def test_settings_and_tier_configs_hide_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_SLM_API_KEY", SLM_KEY)
    monkeypatch.setenv("RAG_LLM_API_KEY", LLM_KEY)
    monkeypatch.setenv("RAG_AUTH_USERS", f"alice:{PASSWORD}")
    settings = load_settings()
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for secret in (SLM_KEY, LLM_KEY, PASSWORD):
        assert secret not in shown
    assert settings.slm_api_key.get_secret_value() == SLM_KEY  # the value is there, only hidden
    assert settings.users() == {"alice": PASSWORD}
    assert LLM_KEY not in repr(TierConfig(tier="llm", base_url="http://127.0.0.1:1/v1", model="m", api_key=LLM_KEY))


@pytest.mark.asyncio
async def test_tier_statuses_and_errors_hide_keys(monkeypatch: pytest.MonkeyPatch, scripted: ScriptedServer) -> None:
    monkeypatch.setenv("RAG_SLM_BASE_URL", scripted.base_url)
    monkeypatch.setenv("RAG_SLM_API_KEY", SLM_KEY)
    monkeypatch.setenv("RAG_LLM_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens: an error message
    monkeypatch.setenv("RAG_LLM_API_KEY", LLM_KEY)
    tiers = await open_tiers(load_settings(), start_embedded=False)
    try:
        text = "\n".join(s.line() + s.note for s in tiers.statuses)
        assert "unavailable" in text
        assert SLM_KEY not in text and LLM_KEY not in text
    finally:
        await tiers.aclose()


def test_cli_output_never_shows_keys(tmp_path: Path, scripted: ScriptedServer) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in {"a.md": "# Ports\n\nOllama listens on port 11434.\n", "b.md": "# Other\n\nNothing here.\n", "c.md": "# More\n\nText.\n"}.items():
        (docs / name).write_text(text, encoding="utf-8")
    scripted.enqueue("phi-4-mini-instruct-generic-cpu", Script(["Short."]))
    scripted.enqueue("gpt-oss-20b", Script(status=401), Script(status=401))  # the key is refused (the SDK retries once)
    env = _clean_env(
        RAG_CACHE_DIR=str(tmp_path / "cache"), RAG_SLM_BASE_URL=scripted.base_url, RAG_LLM_BASE_URL=scripted.base_url,
        RAG_SLM_API_KEY=SLM_KEY, RAG_LLM_API_KEY=LLM_KEY,
    )
    for extra in ([], ["--json"]):
        run = subprocess.run([sys.executable, "-m", "rag", "ask", "What port does Ollama listen on?", "--docs", str(docs), *extra],
                             capture_output=True, text=True, env=env, timeout=120)
        out = run.stdout + run.stderr
        assert "11434" in out  # it answered (from the documents)
        assert "API key" in out or "HTTP 401" in out  # and said why the LLM failed
        assert SLM_KEY not in out and LLM_KEY not in out
    # the LLM tier was really called, and refused: the 401 path was exercised
    assert any(r["model"] == "gpt-oss-20b" for r in scripted.requests)
