"""The answering commands: ``rag ask``, ``rag compare`` and ``rag bench`` against the scripted server.

Each runs once as a real ``python -m rag`` subprocess (clean environment: no
inherited ``RAG_*`` or ``FOUNDRY_LOCAL_ENDPOINT``) with both tiers pointed at the
scripted server on 127.0.0.1; stdout must be exactly the JSON, diagnostics go to
stderr. The human-readable ``ask`` output is checked in-process with ``CliRunner``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from scripted_server import Script, ScriptedServer
from helpers import clean_env, rag

from rag.embedded import free_port
from rag.cli import cli

SLM = "phi-4-mini-instruct-generic-cpu"
LLM = "gpt-oss-20b"
Q_PORT = "What port does Foundry Local listen on?"
SLM_ANSWER = ["Foundry Local listens ", "on port 5273. [Source 1]"]
LLM_ANSWER = ["Foundry Local listens on port 5273 by default; ", "start it with the foundry service start command. [Source 1]"]




def requests_to(server: ScriptedServer, model: str) -> list[dict]:
    return [r for r in server.requests if r["model"] == model]


def test_ask_json_escalates_to_the_llm(scripted: ScriptedServer, small_docs: Path, tmp_path: Path) -> None:
    scripted.enqueue(SLM, Script(SLM_ANSWER))
    scripted.enqueue(LLM, Script(LLM_ANSWER))
    env = clean_env(tmp_path, RAG_SLM_BASE_URL=scripted.base_url, RAG_LLM_BASE_URL=scripted.base_url)
    proc = rag(["ask", Q_PORT, "--docs", str(small_docs), "--json"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1  # stdout is the JSON object, nothing else
    data = json.loads(proc.stdout)
    assert data["answer"] == "".join(LLM_ANSWER)
    assert data["tier"] == "llm"
    assert data["escalated"] is True
    assert data["escalation_reason"] == ["short"]  # the default threshold is 600 characters
    assert data["draft"] == "".join(SLM_ANSWER)
    assert data["covered"] is True
    source = data["sources"][0]
    assert source["number"] == 1 and source["source"] == "foundry.md" and source["heading"] == "Foundry Local"
    assert isinstance(source["score"], float) and source["score"] > 0
    assert [s["number"] for s in data["sources"]] == list(range(1, len(data["sources"]) + 1))
    tiers = data["metrics"]["tiers"]
    assert [(t["tier"], t["model"]) for t in tiers] == [("slm", SLM), ("llm", LLM)]
    assert all(t["prompt_tokens"] == 42 and t["estimated"] is False for t in tiers)
    assert data["metrics"]["answered_by"] == "llm"
    # the SLM alias phi-4-mini was resolved against /v1/models
    assert f"SLM: {SLM} at {scripted.base_url} (configured)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ask_json_with_a_dead_llm_url_answers_extractively(scripted: ScriptedServer, small_docs: Path, tmp_path: Path) -> None:
    scripted.enqueue(SLM, Script(SLM_ANSWER))
    dead = f"http://127.0.0.1:{free_port()}/v1"
    env = clean_env(tmp_path, RAG_SLM_BASE_URL=scripted.base_url, RAG_LLM_BASE_URL=dead)
    proc = rag(["ask", Q_PORT, "--docs", str(small_docs), "--json"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr  # a missing LLM degrades the answer, it is not an error
    data = json.loads(proc.stdout)
    assert data["tier"] == "extractive"
    assert data["draft"] == "".join(SLM_ANSWER)
    assert "[Source 1]" in data["answer"] and "5273" in data["answer"]
    assert any(dead in note for note in data["notes"])
    lines = proc.stderr.splitlines()
    naming = [line for line in lines if dead in line]
    assert naming, proc.stderr
    assert naming[0].startswith("LLM: unavailable: Nothing answers at " + dead)
    assert all("RAG_LLM_BASE_URL" in line for line in naming)
    assert "Traceback" not in proc.stderr
    assert [r["model"] for r in scripted.requests] == [SLM]


def test_compare_prints_one_row_per_tier(scripted: ScriptedServer, tmp_path: Path) -> None:
    scripted.enqueue(SLM, Script(["Small ", "model ", "answer."]))
    scripted.enqueue(LLM, Script(["Large ", "model ", "answer ", "here."]))
    env = clean_env(tmp_path, RAG_SLM_BASE_URL=scripted.base_url, RAG_LLM_BASE_URL=scripted.base_url)
    proc = rag(["compare", "--prompt", "What is edge AI?"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [(r["tier"], r["model"], r["available"]) for r in rows] == [("slm", SLM, True), ("llm", LLM, True)]
    assert rows[0]["sample"] == "Small model answer." and rows[1]["sample"] == "Large model answer here."
    assert rows[1]["completion_tokens"] == 4 and rows[1]["prompt_tokens"] == 42
    assert all(r["ttft_ms"] is not None and r["total_ms"] > 0 for r in rows)
    assert all(r["body"]["messages"] == [{"role": "user", "content": "What is edge AI?"}] for r in scripted.requests)


def test_bench_prints_latency_percentiles(scripted: ScriptedServer, tmp_path: Path) -> None:
    env = clean_env(tmp_path, RAG_SLM_BASE_URL=scripted.base_url)
    proc = rag(["bench", "--rounds", "2"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 1
    row = rows[0]
    assert row["model"] == SLM and row["rounds"] == 2
    assert isinstance(row["latency_p50_ms"], float) and row["latency_p50_ms"] > 0
    assert row["latency_p95_ms"] >= row["latency_p50_ms"]
    assert row["ttft_p50_ms"] is not None
    assert len(requests_to(scripted, SLM)) == 3  # one warm-up round, then two measured


def test_ask_streams_text_and_reports_on_stderr(scripted: ScriptedServer, small_docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scripted.enqueue(SLM, Script(SLM_ANSWER))
    monkeypatch.setenv("RAG_SLM_BASE_URL", scripted.base_url)
    monkeypatch.setenv("RAG_SHORT_ANSWER_CHARS", "10")
    result = CliRunner().invoke(cli, ["ask", Q_PORT, "--docs", str(small_docs)])
    assert result.exit_code == 0, result.output
    assert "".join(SLM_ANSWER) in result.stdout
    assert "answered by the SLM tier" in result.stdout
    assert "[Source 1] foundry.md › Foundry Local" in result.stdout
    assert "LLM: unavailable" in result.stderr
    assert "slm: ttft" in result.stderr


def test_ask_exits_3_when_the_slm_fails(scripted: ScriptedServer, small_docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scripted.enqueue(SLM, Script(["Foundry Local ", "listens ", "on"], die_after=1))
    monkeypatch.setenv("RAG_SLM_BASE_URL", scripted.base_url)
    result = CliRunner().invoke(cli, ["ask", Q_PORT, "--docs", str(small_docs), "--json"])
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert data["tier"] == "extractive" and data["draft"] == "Foundry Local "
    assert "SLM failed" in result.stderr
