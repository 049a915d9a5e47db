"""Helpers shared by several test modules: a clean environment for subprocesses, the CLI, canned answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Copied from corpus/03-model-backends.md: grounded, and long enough (over the 600-character
# short-answer threshold) for the SLM's answer to stand.
GROUNDED_OLLAMA = [
    "Ollama listens on port 11434 [Source 1]. ",
    "Set the SLM tier to it: export RAG_SLM_BASE_URL=http://127.0.0.1:11434/v1 and export RAG_SLM_MODEL=phi4-mini. ",
    "The assistant talks to any server that speaks the OpenAI chat completions API. ",
    "It has two tiers: the small language model (SLM) that answers first, and the large language model (LLM) "
    "that takes over when escalation fires. ",
    "Foundry Local assigns its port when its service starts (often 5272, 5273 or 51211). ",
    "Start llama-server -m model.gguf --port 8080 and set RAG_SLM_BASE_URL=http://127.0.0.1:8080/v1 [Source 1]. ",
    "When the LLM tier is not configured or not reachable, escalation is skipped with a note and the extractive "
    "tier answers instead.",
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
