"""The embedded model's speed with llama.cpp's extra buffer types (weight repacking) on and off.

usage: .venv/bin/python -m bench.embedded [--rounds 5] [--tokens 128] [--model gemma3-270m]

Starts the embedded server (``rag.tiers.embedded.EmbeddedServer``) twice, with
``extra_buffers`` off (the shipped default) and on, and measures on each, in
alternating rounds so that machine noise hits both alike: prompt processing
(a ~400-token prompt: time to first token) and decode speed (tokens after the
first one over the time after the first one) on a streamed completion of
``--tokens`` tokens at temperature 0. Prints the CPU flags that matter, the
server's repack log lines, and medians per configuration.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from rag.tiers.embedded import EMBEDDED_MODELS, EmbeddedServer, embedded_model_path

ROOT = Path(__file__).resolve().parents[1]

PROMPT = (ROOT / "corpus" / "04-escalation.md").read_text(encoding="utf-8")[:1800] + "\n\nSummary of the text above:"


def cpu_flags() -> str:
    try:
        flags = set(re.search(r"^flags\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M).group(1).split())
    except (OSError, AttributeError):
        return platform.processor() or "unknown"
    shown = sorted(f for f in flags if f.startswith(("avx512", "amx")) or f in ("avx2", "avx", "fma", "f16c"))
    model = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M)
    return f"{model.group(1) if model else '?'}; {' '.join(shown)}"


def one_round(server: EmbeddedServer, tokens: int, n: int) -> tuple[float, float]:
    """(time to first token in ms, decode tokens/s) of one streamed completion.

    The prompt starts with the round number, so llama.cpp's prompt cache cannot
    skip its processing: TTFT measures a whole ~400-token prompt every time.
    """
    body = {"model": server.alias, "prompt": f"Note {n}.\n{PROMPT}", "max_tokens": tokens, "temperature": 0, "stream": True}
    started = time.perf_counter()
    stamps: list[float] = []
    with httpx.stream("POST", f"{server.base_url}/completions", json=body, timeout=300) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data:") and line.strip() != "data: [DONE]":
                choices = json.loads(line[5:]).get("choices") or []
                if choices and choices[0].get("text"):
                    stamps.append(time.perf_counter())
    if len(stamps) < 2:
        raise SystemExit("the model produced fewer than 2 tokens: raise --tokens or change the prompt")
    return (stamps[0] - started) * 1000, (len(stamps) - 1) / (stamps[-1] - stamps[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--model", default="gemma3-270m", choices=sorted(EMBEDDED_MODELS))
    args = parser.parse_args()
    model = EMBEDDED_MODELS[args.model]
    tmp = Path(tempfile.mkdtemp(prefix="bench-embedded-"))
    path = embedded_model_path(model.key, tmp)
    print(f"CPU: {cpu_flags()}")
    servers = {}
    for extra in (False, True):
        log = tmp / f"server-extra-{extra}.log"
        servers[extra] = EmbeddedServer(path, model.alias, log_path=log, extra_buffers=extra)
        servers[extra].start()
        servers[extra].warm_up()
    try:
        samples: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for n in range(args.rounds):
            for extra in (False, True):
                samples[extra].append(one_round(servers[extra], args.tokens, n))
    finally:
        for server in servers.values():
            server.stop()
    for extra in (False, True):
        log = (tmp / f"server-extra-{extra}.log").read_text(errors="replace")
        buffers = sorted(set(re.findall(r"(\w+) model buffer size", log)))
        repacked = len(re.findall(r"repack tensor", log))
        ttft = statistics.median(s[0] for s in samples[extra])
        rate = statistics.median(s[1] for s in samples[extra])
        label = "extra buffers ON (llama.cpp default)" if extra else "extra buffers OFF (shipped)"
        print(f"{label:38} buffers {', '.join(buffers):28} repacked tensors {repacked:3}  "
              f"TTFT p50 {ttft:7.1f} ms  decode p50 {rate:6.1f} tok/s  (rounds {args.rounds}, {args.tokens} tokens)")
    off = statistics.median(s[1] for s in samples[False])
    on = statistics.median(s[1] for s in samples[True])
    print(f"decode speed off/on: {off / on:.3f}x")


if __name__ == "__main__":
    main()
