"""Helpers shared by several test modules and the benchmarks: a clean environment for subprocesses, the CLI,
the app as a real ``chainlit run`` process, canned answers."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from rag.tiers.embedded import free_port  # re-exported: a port nothing listens on, for tests and benchmarks

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")  # Debian's: the browser tests and benchmarks drive it through Playwright
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# An answer the SLM could give to "What port does Ollama listen on?" that the policy lets stand:
# every number, name and word of it is in the passage that question retrieves (corpus/03-model-backends.md,
# "Ollama"), and it cites it. Streamed in several chunks, so a browser can see it grow.
GROUNDED_OLLAMA = [
    "Ollama listens ",
    "on port 11434 [Source 1]. ",
    "Set the SLM tier to it: ",
    "export RAG_SLM_BASE_URL=http://127.0.0.1:11434/v1 ",
    "and export RAG_SLM_MODEL=phi4-mini ",
    "[Source 1].",
]
LLM_OLLAMA = (
    "Ollama listens on port 11434 [Source 1]. Set the SLM tier to it with "
    "RAG_SLM_BASE_URL=http://127.0.0.1:11434/v1 and RAG_SLM_MODEL=phi4-mini [Source 1]."
)
FACT = "The project codename is Zephyr-Quokka-42."


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """os.environ without RAG_* and FOUNDRY_LOCAL_ENDPOINT, with private cache and data folders, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") and k != "FOUNDRY_LOCAL_ENDPOINT"}
    env["RAG_CACHE_DIR"] = str(tmp_path / "cache")
    env["RAG_DATA_DIR"] = str(tmp_path / "data")
    env.update(extra)
    return env


def rag(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m rag ARGS`` in a subprocess."""
    return subprocess.run([sys.executable, "-m", "rag", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def running_app(tmp: Path, startup_s: float = 60, root: Path = ROOT, **settings: str) -> Iterator[tuple[str, Path]]:
    """``chainlit run app.py`` on a free port of 127.0.0.1: yields (its URL, its log file); stopped on exit.

    The environment has no ``RAG_*``, ``CHAINLIT_*``, ``FOUNDRY_LOCAL_ENDPOINT`` or ``COMPARE_PROMPT`` of
    the caller's: the docs are ``corpus/``, the cache and the data (chat history) are under ``tmp``, then ``settings``. ``root``: the
    checkout whose app (and ``rag``) runs, e.g. an older commit's worktree for a before/after benchmark. Raises
    ``RuntimeError`` with the end of the log when the app exits or does not answer ``/health`` within
    ``startup_s`` seconds.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "CHAINLIT_")) and k not in ("FOUNDRY_LOCAL_ENDPOINT", "COMPARE_PROMPT")}
    env.update(RAG_CACHE_DIR=str(tmp / "cache"), RAG_DATA_DIR=str(tmp / "data"), RAG_DOCS_DIR=str(ROOT / "corpus"), **settings)
    if root != ROOT:
        env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
    port = free_port()
    log_path = tmp / "chainlit.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chainlit", "run", str(root / "app.py"), "--headless", "--port", str(port), "--host", "127.0.0.1"],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"chainlit exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"chainlit did not answer /health within {startup_s:g} s:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield url, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A headless Playwright ``Browser`` on Debian's chromium (``CHROMIUM``), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# What Chainlit's SQLAlchemy data layer logs (at WARNING) when a statement failed: execute_sql in data/sql_alchemy.py.
DATA_LAYER_FAILURE = re.compile(r"\bAn (?:unexpected )?error occurred\b")


def assert_app_log_clean(log_path: Path, request) -> None:
    """The shared app's log holds no ERROR line, traceback or data-layer failure; called by a module's last test that uses ``app_server``.

    Chainlit's SQL data layer logs a failed statement only as a WARNING ("An error occurred: ...") and goes on
    without the row (a thread without its user, a step that vanished), so those lines fail the check too.

    ``request``: that test's pytest ``FixtureRequest``. Fails too when a later test of the same module uses
    ``app_server`` (its errors would go unchecked): a handler that raised is logged even when the page looked fine.
    """
    items = request.session.items
    later = [
        i.nodeid for i in items[items.index(request.node) + 1:]
        if i.path == request.node.path and "app_server" in getattr(i, "fixturenames", ())
    ]
    assert not later, f"these tests use the shared app after its log was checked; move them above this test: {later}"
    log = log_path.read_text(encoding="utf-8", errors="replace")
    problems = [line for line in log.splitlines() if " - ERROR - " in line or line.startswith("Traceback") or DATA_LAYER_FAILURE.search(line)]
    assert not problems, "\n".join(problems[:20]) + "\n\n" + log[-3000:]
