"""The answering commands: ``rag ask``, ``rag compare`` and ``rag bench`` against the scripted server.

Each runs once as a real ``python -m rag`` subprocess (clean environment: no
inherited ``RAG_*`` or ``FOUNDRY_LOCAL_ENDPOINT``) with both tiers pointed at the
scripted server on 127.0.0.1; stdout must be exactly the JSON, diagnostics go to
stderr. The human-readable ``ask`` output is checked in-process with ``CliRunner``.

Reasoning models: ``rag ask ... --escalate always --json`` with the LLM tier on a
server that streams each of the five shapes (issue 10's "done when"), the
thinking on stderr (or dropped with ``--quiet``), ``compare`` and ``bench
--no-stream``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.cli import cli
from rag.tiers.embedded import free_port
from tests.support.helpers import clean_env, rag
from tests.support.scripted_server import SHAPES, Script, ScriptedServer, reasoning_script

SLM = "phi-4-mini-instruct-generic-cpu"
LLM = "gpt-oss-20b"
Q_PORT = "What port does Foundry Local listen on?"
SLM_ANSWER = ["Foundry Local listens ", "on port 5273."]  # right, but it cites no source: the policy escalates it
SLM_CITED = ["Foundry Local listens ", "on port 5273. [Source 1]"]  # right and cited: it stands
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
    assert data["escalation_reason"] == ["uncited"]
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
    assert proc.returncode == 3, proc.stderr  # answered, but a configured tier failed (README: exit code 3)
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
    scripted.enqueue(SLM, Script(SLM_CITED))
    monkeypatch.setenv("RAG_SLM_BASE_URL", scripted.base_url)
    result = CliRunner().invoke(cli, ["ask", Q_PORT, "--docs", str(small_docs)])
    assert result.exit_code == 0, result.output
    assert "".join(SLM_CITED) in result.stdout
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


@pytest.mark.parametrize(
    ("llm", "escalate", "code"),
    [
        pytest.param("none", "auto", 0, id="llm-not-configured-is-not-a-failure"),
        pytest.param("up", "always", 0, id="both-tiers-answer"),
        pytest.param("dead", "never", 3, id="configured-llm-down-though-not-needed"),
        pytest.param("dead", "auto", 3, id="configured-llm-down-when-escalating"),
        pytest.param("http-500", "always", 3, id="llm-fails-during-the-turn"),
    ],
)
def test_ask_exits_3_when_any_configured_tier_failed(
    scripted: ScriptedServer, small_docs: Path, monkeypatch: pytest.MonkeyPatch, llm: str, escalate: str, code: int,
) -> None:
    scripted.enqueue(SLM, Script(SLM_ANSWER))
    monkeypatch.setenv("RAG_SLM_BASE_URL", scripted.base_url)
    dead = f"http://127.0.0.1:{free_port()}/v1"
    if llm != "none":
        monkeypatch.setenv("RAG_LLM_BASE_URL", dead if llm == "dead" else scripted.base_url)
    if llm == "up":
        scripted.enqueue(LLM, Script(LLM_ANSWER))
    if llm == "http-500":
        scripted.enqueue(LLM, Script(status=500), Script(status=500))
    result = CliRunner().invoke(cli, ["ask", Q_PORT, "--docs", str(small_docs), "--escalate", escalate, "--json"])
    assert result.exit_code == code, result.output
    data = json.loads(result.stdout)
    assert data["answer"].strip() and data["sources"]  # answered in every case: the code says whether a tier failed
    if llm == "none":
        assert "LLM: unavailable: the LLM tier is not configured (set RAG_LLM_BASE_URL)" in result.stderr
    if llm == "dead":
        assert f"LLM: unavailable: Nothing answers at {dead}" in result.stderr
    if llm == "http-500":
        assert "LLM failed" in result.stderr and "HTTP 500" in result.stderr


THINKING = "The user asks for the port. Source 1 says Foundry Local listens on 5273 by default, so cite Source 1."
MARKUP = ("<|", "|>", "<think>", "</think>", "analysis")


@pytest.mark.parametrize("shape", SHAPES)
def test_ask_json_with_a_reasoning_llm_in_each_shape(scripted: ScriptedServer, small_docs: Path, tmp_path: Path, shape: str) -> None:
    scripted.enqueue(SLM, Script(SLM_ANSWER))
    scripted.enqueue(LLM, reasoning_script(shape, THINKING, "".join(LLM_ANSWER)))
    env = clean_env(tmp_path, RAG_SLM_BASE_URL=scripted.base_url, RAG_LLM_BASE_URL=scripted.base_url)
    proc = rag(["ask", Q_PORT, "--docs", str(small_docs), "--escalate", "always", "--json"], env, tmp_path)
    data = json.loads(proc.stdout)
    assert len(proc.stdout.strip().splitlines()) == 1
    assert data["reasoning"]["llm"] == THINKING and data["reasoning"]["slm"] == ""
    assert not any(m in data["answer"] for m in MARKUP) and "Source 1 says" not in data["answer"]
    llm = data["metrics"]["tiers"][1]
    assert llm["tier"] == "llm" and llm["ttft_ms"] is not None and llm["reasoning_tokens"] > 0
    # the LLM tier's default reasoning effort is sent, the SLM's (unset) is not
    assert [r["body"].get("reasoning_effort") for r in requests_to(scripted, LLM)] == ["low"]
    assert "reasoning_effort" not in requests_to(scripted, SLM)[0]["body"]
    if shape == "length":
        assert proc.returncode == 3, proc.stderr  # degraded: the LLM wrote no answer
        assert data["tier"] == "extractive" and "[Source 1]" in data["answer"]
        budget = "gpt-oss-20b used all 512 tokens thinking and wrote no answer: raise RAG_LLM_MAX_TOKENS (now 512) or lower RAG_LLM_REASONING_EFFORT (now low)."
        assert any(budget[:-1] + "; the extractive tier answers instead" in note for note in data["notes"]) and budget in proc.stderr
        assert not any("not supported" in note for note in data["notes"])
        assert llm["ttfa_ms"] is None
    else:
        assert proc.returncode == 0, proc.stderr
        assert data["tier"] == "llm" and data["answer"] == "".join(LLM_ANSWER)
        assert llm["ttft_ms"] <= llm["ttfa_ms"]
    assert "Traceback" not in proc.stderr


def test_ask_prints_the_thinking_to_stderr_and_quiet_drops_it(scripted: ScriptedServer, small_docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_SLM_BASE_URL", scripted.base_url)
    monkeypatch.setenv("RAG_SHORT_ANSWER_CHARS", "10")
    answer = "".join(SLM_ANSWER)
    scripted.enqueue(SLM, reasoning_script("think", THINKING, answer), reasoning_script("think", THINKING, answer))
    shown = CliRunner().invoke(cli, ["ask", Q_PORT, "--docs", str(small_docs)])
    assert shown.exit_code == 0, shown.output
    assert answer in shown.stdout and THINKING not in shown.stdout and "<think>" not in shown.stdout
    assert "[SLM thinking]" in shown.stderr and THINKING in shown.stderr and "[thought for " in shown.stderr
    assert "thinking +" in shown.stderr  # the metrics line splits thinking and answer tokens
    quiet = CliRunner().invoke(cli, ["ask", Q_PORT, "--docs", str(small_docs), "--quiet"])
    assert quiet.exit_code == 0, quiet.output
    assert answer in quiet.stdout and THINKING not in quiet.stdout + quiet.stderr and "[SLM thinking]" not in quiet.stderr


def test_compare_keeps_the_thinking_out_of_the_sample(scripted: ScriptedServer, tmp_path: Path) -> None:
    scripted.enqueue(SLM, Script(["Small ", "answer."]))
    scripted.enqueue(LLM, reasoning_script("harmony", "Edge AI runs models on devices.", "Edge AI runs models where the data is."))
    env = clean_env(tmp_path, RAG_SLM_BASE_URL=scripted.base_url, RAG_LLM_BASE_URL=scripted.base_url)
    proc = rag(["compare", "--prompt", "What is edge AI?"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert rows[1]["sample"] == "Edge AI runs models where the data is." and rows[1]["reasoning"] == "Edge AI runs models on devices."
    assert rows[1]["ttfa_ms"] >= rows[1]["ttft_ms"] and rows[0]["reasoning"] == ""


def test_bench_no_stream_times_whole_responses(scripted: ScriptedServer, tmp_path: Path) -> None:
    env = clean_env(tmp_path, RAG_SLM_BASE_URL=scripted.base_url, BENCH_STREAM="false")
    proc = rag(["bench", "--rounds", "2"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["stream"] is False and row["latency_p50_ms"] > 0
    assert row["ttft_p50_ms"] is None and row["ttfa_p50_ms"] is None  # nothing arrives before the whole answer
    assert [r["body"]["stream"] for r in requests_to(scripted, SLM)] == [False, False, False]
