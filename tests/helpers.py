"""Helpers shared by several test modules: a clean environment for subprocesses, the CLI, canned answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
    """os.environ without RAG_* and FOUNDRY_LOCAL_ENDPOINT, with a private cache folder, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") and k != "FOUNDRY_LOCAL_ENDPOINT"}
    env["RAG_CACHE_DIR"] = str(tmp_path / "cache")
    env.update(extra)
    return env


def rag(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m rag ARGS`` in a subprocess."""
    return subprocess.run([sys.executable, "-m", "rag", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
