"""The command line: ``rag index`` / ``rag search`` output contract and the error boundary.

Happy paths run through click's ``CliRunner``; the error boundary lives in
``rag.cli.main``, so error cases call ``main()`` in-process (with ``sys.argv``
set) and once through a real ``python -m rag`` subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.cli import cli, main
from rag.errors import DocsError

DOCS = {
    "quantization.md": "# Quantization\n\nQuantization stores model weights in fewer bits, such as four-bit integers.\n\n"
    "## Trade-offs\n\nFour-bit weights lose a little accuracy but halve memory compared to eight-bit weights.\n",
    "guides/llama.md": "# llama.cpp\n\nThe llama.cpp server exposes an OpenAI compatible endpoint on port 8080.\n",
    "foundry.md": "# Foundry Local\n\nFoundry Local runs small language models on your own laptop.\n",
    "agents.md": "# Agents\n\nAn agent calls tools in a loop until the task is done.\n",
    "olive.md": "# Olive\n\nOlive optimizes models for a device with passes like pruning and fusion.\n",
    "notes.txt": "ONNX Runtime executes exported graphs with execution providers.\n",
}


@pytest.fixture
def docs(tmp_path: Path, write_files) -> Path:
    return write_files(tmp_path / "docs", DOCS)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``rag.cli.main`` (the real entry point) with ``args``; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["rag", *args])
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------- index


def test_index_prints_counts(runner: CliRunner, docs: Path) -> None:
    result = runner.invoke(cli, ["index", "--docs", str(docs)], catch_exceptions=False)
    assert result.exit_code == 0
    line = result.stdout.splitlines()[0]
    assert line.startswith("6 files, ")
    assert " chunks " in line and "0 skipped" in line
    assert "6 processed" in line


def test_index_json_and_reuse(runner: CliRunner, docs: Path, write_files, isolated_env: Path) -> None:
    write_files(docs, {"broken.md": b""})
    first = json.loads(runner.invoke(cli, ["index", "--docs", str(docs), "--json"], catch_exceptions=False).stdout)
    assert (first["files"], first["processed"], first["reused"]) == (6, 6, 0)
    assert first["chunks"] >= 6
    assert first["skipped"] == [{"source": "broken.md", "reason": "empty file"}]
    second = json.loads(runner.invoke(cli, ["index", "--docs", str(docs), "--json"], catch_exceptions=False).stdout)
    assert (second["processed"], second["reused"], second["chunks"]) == (0, 6, first["chunks"])
    assert len(list(isolated_env.rglob("index.npz"))) == 1  # the cache went to RAG_CACHE_DIR


def test_index_lists_skipped_files(runner: CliRunner, docs: Path, write_files) -> None:
    write_files(docs, {"broken.md": b""})
    result = runner.invoke(cli, ["index", "--docs", str(docs), "--no-cache"], catch_exceptions=False)
    assert "1 skipped" in result.stdout
    assert "skipped broken.md: empty file" in result.stdout


# ---------------------------------------------------------------- search


def test_search_json(runner: CliRunner, docs: Path) -> None:
    result = runner.invoke(cli, ["search", "four-bit weights memory", "--docs", str(docs), "--k", "3", "--json"], catch_exceptions=False)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    hits = json.loads(lines[0])
    assert isinstance(hits, list) and 1 <= len(hits) <= 3
    for hit in hits:
        assert {"rank", "score", "source", "heading", "text"} <= hit.keys()
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert hits[0]["source"] == "quantization.md"
    assert "Four-bit" in hits[0]["text"] or "four-bit" in hits[0]["text"]


def test_search_queries_file_prints_one_line_per_query(runner: CliRunner, docs: Path, tmp_path: Path) -> None:
    queries = tmp_path / "queries.txt"
    queries.write_text("four-bit weights\n\nOpenAI endpoint port\nagent tools loop\n", encoding="utf-8")
    result = runner.invoke(cli, ["search", "--queries", str(queries), "--docs", str(docs), "--k", "2", "--json"], catch_exceptions=False)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    parsed = [json.loads(line) for line in lines]
    assert parsed[1] == [] and lines[1] == "[]"
    assert [p[0]["source"] for i, p in enumerate(parsed) if i != 1] == ["quantization.md", "guides/llama.md", "agents.md"]
    assert all(len(p) <= 2 for p in parsed)


def test_search_readable_output(runner: CliRunner, docs: Path) -> None:
    result = runner.invoke(cli, ["search", "OpenAI endpoint port", "--docs", str(docs)], catch_exceptions=False)
    assert result.exit_code == 0
    assert "guides/llama.md" in result.stdout
    assert "[1]" in result.stdout
    assert "hits for 'OpenAI endpoint port'" in result.stdout


def test_search_top_k_from_settings(runner: CliRunner, docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_TOP_K", "1")
    result = runner.invoke(cli, ["search", "models", "--docs", str(docs), "--json"], catch_exceptions=False)
    assert len(json.loads(result.stdout)) == 1


def test_search_needs_a_query_or_a_file(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], docs: Path) -> None:
    code, out, err = run_main(monkeypatch, capsys, "search", "--docs", str(docs))
    assert code == 2
    assert out == ""
    assert "Give a QUERY or --queries FILE" in err


def test_library_errors_reach_the_entry_point(runner: CliRunner, tmp_path: Path) -> None:
    # Under CliRunner (no boundary) the error propagates: nothing swallows it on the way.
    with pytest.raises(DocsError):
        runner.invoke(cli, ["index", "--docs", str(tmp_path / "missing")], catch_exceptions=False)


# ---------------------------------------------------------------- the error boundary


def test_missing_docs_folder_subprocess(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    proc = subprocess.run(
        [sys.executable, "-m", "rag", "search", "x", "--docs", str(missing)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert str(missing) in lines[0] and "does not exist" in lines[0]


def test_empty_corpus(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "empty.md").write_bytes(b"")
    code, out, err = run_main(monkeypatch, capsys, "search", "anything", "--docs", str(docs))
    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "No readable documents" in err


def test_invalid_setting(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], docs: Path) -> None:
    monkeypatch.setenv("RAG_TOP_K", "0")
    code, out, err = run_main(monkeypatch, capsys, "search", "models", "--docs", str(docs))
    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "RAG_TOP_K" in err


def test_successful_run_through_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], docs: Path) -> None:
    code, out, err = run_main(monkeypatch, capsys, "search", "agent tools", "--docs", str(docs), "--json")
    assert code == 0
    assert json.loads(out)[0]["source"] == "agents.md"
    assert "error" not in err
