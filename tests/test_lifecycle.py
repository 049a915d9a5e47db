"""The app's embedded model server lives and dies with the app: reload, SIGTERM, SIGINT, SIGKILL.

Each test runs ``chainlit run app.py`` for real (with the packaged model on the
embedded server, nothing configured), from a temporary app root holding a copy
of ``app.py`` (so a test may touch it to trigger ``-w``'s reload without
touching the repo). A GET of ``/project/settings`` is what the browser does
first; it builds the app's runtime, which starts the embedded server. The
llama server processes are found among the app's descendants by their command
line (``rag.tiers.llama_server``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.helpers import free_port

if importlib.util.find_spec("llama_cpp") is None:
    pytest.skip("llama-cpp-python[server] is not installed (pip install -e '.[test]')", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]


def _llama_servers(pid: int) -> list[int]:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if "rag.tiers.llama_server" in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return found


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds:g} s waiting for {what}")
        time.sleep(0.1)


class App:
    def __init__(self, root: Path, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.root, self.proc, self.url, self.log = root, proc, url, log

    def open_page(self) -> None:
        """What the browser asks first: builds the runtime (index, tiers, the embedded server)."""
        reply = httpx.get(f"{self.url}/project/settings", params={"language": "en-US"}, timeout=180)
        assert reply.status_code == 200, reply.text[:500]

    def servers(self) -> list[int]:
        return _llama_servers(self.proc.pid)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    root = tmp_path / "app"
    root.mkdir()
    shutil.copy(ROOT / "app.py", root / "app.py")
    shutil.copytree(ROOT / ".chainlit", root / ".chainlit")
    shutil.copy(ROOT / "chainlit.md", root / "chainlit.md")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "CHAINLIT_")) and k != "FOUNDRY_LOCAL_ENDPOINT"}
    env.update(RAG_CACHE_DIR=str(tmp_path / "cache"), RAG_DOCS_DIR=str(ROOT / "corpus"), RAG_HISTORY_DB="off")
    port = free_port()
    log = tmp_path / "chainlit.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chainlit", "run", "app.py", "-w", "--headless", "--port", str(port), "--host", "127.0.0.1"],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    running = App(root, proc, f"http://127.0.0.1:{port}", log)

    def healthy() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"chainlit exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            return httpx.get(f"{running.url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _wait(healthy, 60, "chainlit's /health")
        yield running
    finally:
        leftovers = _llama_servers(proc.pid)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=15)
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_reload_of_the_app_module_leaves_one_server(app: App) -> None:
    app.open_page()
    _wait(lambda: len(app.servers()) == 1, 60, "the embedded server")
    (first,) = app.servers()
    (app.root / "app.py").touch()  # what an editor's save does: -w reloads app.py and the rag modules
    _wait(lambda: "Reloading app" in app.log.read_text(errors="replace"), 30, "chainlit's reload")
    app.open_page()  # the new import builds its runtime: a new server, and the old one stopped
    _wait(lambda: first not in app.servers() and len(app.servers()) == 1, 60, "the old server to go")
    assert _gone(first)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "sigterm", "sigkill"])
def test_stopping_the_app_stops_its_server(app: App, sig: int) -> None:
    app.open_page()
    _wait(lambda: len(app.servers()) == 1, 60, "the embedded server")
    (server,) = app.servers()
    app.proc.send_signal(sig)
    app.proc.wait(timeout=30)
    _wait(lambda: _gone(server), 20, f"the llama server to exit after {signal.Signals(sig).name} to the app")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RAG_AUTH_USERS", "alice"), ("RAG_AUTH_USERS", "alice:s3cret,bob"), ("RAG_TOP_K", "many"), ("RAG_SLM_BASE_URL", "localhost:8080"),
        ("RAG_AUTH_USER", "alice:s3cret"),  # misspelt: ignored, it would have started the app with login off
    ],
)
def test_a_bad_setting_stops_the_app_with_the_variables_name(tmp_path: Path, variable: str, value: str) -> None:
    """Fail closed: a malformed login list must not start an app that serves everyone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "CHAINLIT_"))}
    env.update(RAG_CACHE_DIR=str(tmp_path / "cache"), RAG_DOCS_DIR=str(ROOT / "corpus"), **{variable: value})
    out = subprocess.run(
        [sys.executable, "-m", "chainlit", "run", str(ROOT / "app.py"), "--headless", "--port", str(free_port()), "--host", "127.0.0.1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode != 0
    assert re.search(rf"\b{variable}\b", out.stderr + out.stdout)
    assert "s3cret" not in out.stderr + out.stdout  # a password is never printed, not even in the error
