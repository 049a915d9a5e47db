"""Finding the tiers' servers: Foundry Local's status line, its CLI, ``open_tiers`` and bad settings.

The Foundry CLI is faked by a shell script on PATH; ``open_tiers`` talks to the
scripted OpenAI-compatible server on 127.0.0.1 and never starts the embedded
model server here (``start_embedded=False``).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import stat
from pathlib import Path

import pytest

from rag.answer.pipeline import AssistantConfig
from rag.errors import BackendUnavailable, ConfigError
from rag.settings import load_settings
from rag.tiers.backends import discover_foundry, parse_foundry_status
from rag.tiers.discovery import open_tiers
from rag.tiers.embedded import EmbeddedServer, free_port
from tests.support.scripted_server import ScriptedServer

STATUS_LINE = "🟢 Model management service is running on http://127.0.0.1:51211/openai/status"


def test_parse_foundry_status_on_a_realistic_line() -> None:
    assert parse_foundry_status(STATUS_LINE) == "http://127.0.0.1:51211/v1"
    assert parse_foundry_status("some banner\n" + STATUS_LINE.replace("51211", "5273") + "\n") == "http://127.0.0.1:5273/v1"
    assert parse_foundry_status("🔴 Model management service is not running!") is None
    assert parse_foundry_status("") is None


def _fake_foundry(folder: Path, output: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "foundry"
    exe.write_text(f"#!/bin/sh\necho '{output}'\n", encoding="utf-8")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return exe


def test_discover_foundry_reads_the_cli_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    _fake_foundry(bin_dir, STATUS_LINE)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    assert discover_foundry(timeout=5.0) == "http://127.0.0.1:51211/v1"


def test_discover_foundry_when_the_service_is_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    _fake_foundry(bin_dir, "🔴 Model management service is not running!")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    assert discover_foundry(timeout=5.0) is None


def test_discover_foundry_without_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert discover_foundry(timeout=5.0) is None


@pytest.mark.asyncio
async def test_open_tiers_uses_foundry_local_endpoint_and_resolves_the_alias(scripted: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOUNDRY_LOCAL_ENDPOINT", scripted.base_url)
    monkeypatch.setenv("RAG_SLM_MODEL", "phi-4-mini")
    settings = load_settings()
    tiers = await open_tiers(settings, start_embedded=False)
    try:
        assert tiers.slm is not None
        assert tiers.slm.config.model == "phi-4-mini-instruct-generic-cpu"
        assert tiers.slm.config.base_url == scripted.base_url
        assert tiers.slm.config.env_hint == "FOUNDRY_LOCAL_ENDPOINT"
        slm_status = next(s for s in tiers.statuses if s.tier == "slm")
        assert slm_status.ok and slm_status.origin == "foundry" and slm_status.model == "phi-4-mini-instruct-generic-cpu"
        assert "phi-4-mini-instruct-generic-cpu" in slm_status.line() and scripted.base_url in slm_status.line()
        # no LLM configured: None, with a note that names the setting
        assert tiers.llm is None
        assert "RAG_LLM_BASE_URL" in tiers.llm_note
    finally:
        await tiers.aclose()


@pytest.mark.asyncio
async def test_open_tiers_prefers_rag_slm_base_url_over_foundry(scripted: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOUNDRY_LOCAL_ENDPOINT", "http://127.0.0.1:9/v1")  # would fail if it were used
    monkeypatch.setenv("RAG_SLM_BASE_URL", scripted.base_url)
    monkeypatch.setenv("RAG_SLM_MODEL", "Other_Model")  # another spelling of a served id resolves to it
    monkeypatch.setenv("RAG_LLM_BASE_URL", scripted.base_url)
    tiers = await open_tiers(load_settings(), start_embedded=False)
    try:
        assert tiers.slm is not None and tiers.slm.config.model == "other-model"
        assert next(s for s in tiers.statuses if s.tier == "slm").origin == "configured"
        assert tiers.llm is not None and tiers.llm.config.model == "gpt-oss-20b"
        assert tiers.llm_note == ""
    finally:
        await tiers.aclose()


@pytest.mark.asyncio
async def test_open_tiers_llm_model_not_served_lists_the_served_models(scripted: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_SLM_BASE_URL", scripted.base_url)
    monkeypatch.setenv("RAG_LLM_BASE_URL", scripted.base_url)
    monkeypatch.setenv("RAG_LLM_MODEL", "gpt-oss-120b")
    tiers = await open_tiers(load_settings(), start_embedded=False)
    try:
        assert tiers.slm is not None
        assert tiers.llm is None
        status = next(s for s in tiers.statuses if s.tier == "llm")
        assert not status.ok
        assert "gpt-oss-120b" in status.note
        for served in ("phi-4-mini-instruct-generic-cpu", "gpt-oss-20b", "other-model"):
            assert served in status.note
        assert "RAG_LLM_MODEL" in status.note
        assert tiers.llm_note == status.note
        assert status.line().startswith("LLM: unavailable: ")
    finally:
        await tiers.aclose()


@pytest.mark.asyncio
async def test_open_tiers_without_any_slm_server_and_no_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no foundry CLI to discover
    tiers = await open_tiers(load_settings(), start_embedded=False)
    try:
        assert tiers.slm is None and tiers.llm is None
        slm_status = next(s for s in tiers.statuses if s.tier == "slm")
        assert not slm_status.ok and "RAG_SLM_BASE_URL" in slm_status.note
    finally:
        await tiers.aclose()


@pytest.mark.asyncio
async def test_open_tiers_with_a_dead_slm_url_reports_it(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    monkeypatch.setenv("RAG_SLM_BASE_URL", url)
    monkeypatch.setenv("RAG_SLM_TIMEOUT", "2")
    tiers = await open_tiers(load_settings(), start_embedded=False)
    try:
        assert tiers.slm is None
        status = next(s for s in tiers.statuses if s.tier == "slm")
        assert not status.ok and url in status.note and "RAG_SLM_BASE_URL" in status.note
    finally:
        await tiers.aclose()


def test_assistant_config_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_ESCALATE", "never")
    monkeypatch.setenv("RAG_SHORT_ANSWER_CHARS", "123")
    monkeypatch.setenv("RAG_TOPIC_KEYWORDS", "legal, contract")
    monkeypatch.setenv("RAG_LLM_PRICE_PROMPT", "0.5")
    config = AssistantConfig.from_settings(load_settings())
    assert config.policy.escalate == "never" and config.policy.short_chars == 123
    assert config.policy.topics == ("legal", "contract")
    assert config.llm_prices.prompt == 0.5


def test_bad_escalate_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_ESCALATE", "sometimes")
    with pytest.raises(ConfigError, match="RAG_ESCALATE") as info:
        load_settings()
    assert "sometimes" in str(info.value)


def test_foundry_endpoint_without_scheme_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOUNDRY_LOCAL_ENDPOINT", "localhost:5273")
    with pytest.raises(ConfigError, match="FOUNDRY_LOCAL_ENDPOINT") as info:
        load_settings()
    assert "http://" in str(info.value)


def test_url_settings_are_normalized(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_LLM_BASE_URL", " http://127.0.0.1:1234/v1/ ")
    monkeypatch.setenv("RAG_SLM_BASE_URL", "")
    settings = load_settings()
    assert settings.llm_base_url == "http://127.0.0.1:1234/v1"
    assert settings.slm_base_url is None


def test_embedded_server_refuses_a_taken_port(tmp_path: Path) -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python[server] is not installed: EmbeddedServer.start fails earlier with a ConfigError")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        server = EmbeddedServer(tmp_path / "missing.gguf", "gemma-3-270m", port=port)
        with pytest.raises(BackendUnavailable, match=f"Port {port}") as info:
            server.start(wait=5)
        assert "RAG_EMBEDDED_PORT" in str(info.value)
        assert server.process is None  # nothing was started


def test_embedded_server_without_llama_cpp_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real_find_spec(name, *a))
    with pytest.raises(ConfigError, match="llama-cpp-python") as info:
        EmbeddedServer(tmp_path / "missing.gguf", "gemma-3-270m", port=free_port()).start(wait=1)
    assert "RAG_SLM_BASE_URL" in str(info.value)


@pytest.mark.parametrize(("name", "hint"), [("RAG_AUTH_USER", "RAG_AUTH_USERS"), ("RAG_TOPK", "RAG_TOP_K"), ("RAG_WHATEVER", None)])
def test_a_misspelt_setting_stops_start_up_with_a_hint(monkeypatch: pytest.MonkeyPatch, name: str, hint: str | None) -> None:
    monkeypatch.setenv(name, "alice:secret-pw")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert f"Unknown setting: {name}" in message and "secret-pw" not in message
    assert (f"did you mean {hint}?" in message) if hint else "did you mean" not in message


def test_a_misspelt_setting_in_dot_env_stops_start_up_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("RAG_AUTH_USERZ=alice:pw\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="RAG_AUTH_USERZ"):
        load_settings()


def test_the_clis_own_switch_is_not_an_unknown_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_RAISE_ERRORS", "1")
    assert load_settings().top_k == 5
