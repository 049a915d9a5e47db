"""The pipeline's overhead over calling the embedded server directly, side by side.

usage: .venv/bin/python -m bench.overhead [--rounds 10] [--question "..."]

Starts the embedded llama.cpp server (the packaged model), builds the prompt the
pipeline sends for QUESTION over corpus/, then alternates, ROUNDS times each:

- direct: a bare httpx streaming POST of that same prompt to the server;
- pipeline: ``Assistant.ask`` (retrieval, prompt building, the openai client,
  event stream), escalation off so that only the SLM tier runs.

TTFT is measured from the moment each path starts until its first token; tokens/s
is (completion tokens - 1) / (last token - first token). Targets: pipeline TTFT
overhead <= 20 ms median, tokens/s >= 0.97x direct. Prints a table and JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

import httpx

from rag.answer.escalation import Policy
from rag.answer.pipeline import Assistant, AssistantConfig, Token
from rag.answer.prompts import build_prompt
from rag.search.index import IndexConfig, open_index
from rag.search.retrieval import search
from rag.settings import load_settings
from rag.tiers.client import TierClient, TierConfig
from rag.tiers.embedded import EMBEDDED_MODELS, EmbeddedServer, embedded_model_path
from rag.tiers.server import ServerTier

ROOT = Path(__file__).resolve().parents[1]


async def direct(http: httpx.AsyncClient, base_url: str, model: str, profile: str, prompt, max_tokens: int) -> tuple[float, float, int]:
    """(ttft ms, tokens/s, streamed tokens) of a bare streamed request."""
    if profile == "completion":
        url, body = f"{base_url}/completions", {"model": model, "prompt": prompt.text, "stop": prompt.stop}
    else:
        url, body = f"{base_url}/chat/completions", {"model": model, "messages": prompt.messages}
    body.update({"stream": True, "max_tokens": max_tokens, "temperature": 0.0, "stream_options": {"include_usage": True}})
    started = time.perf_counter()
    first = last = None
    pieces = 0
    async with http.stream("POST", url, json=body) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            for choice in chunk.get("choices", []):
                text = choice.get("text") if profile == "completion" else (choice.get("delta") or {}).get("content")
                if text:
                    now = time.perf_counter()
                    first = first or now
                    last = now
                    pieces += 1
    return _figures(started, first, last, pieces)


def _figures(started: float, first: float | None, last: float | None, pieces: int) -> tuple[float, float, int]:
    # llama.cpp streams one token per event: both paths count streamed pieces the same way
    ttft = ((first or time.perf_counter()) - started) * 1000
    tps = (pieces - 1) / (last - first) if first and last and last > first and pieces > 1 else 0.0
    return ttft, tps, pieces


async def pipeline(assistant: Assistant, question: str) -> tuple[float, float, int]:
    started = time.perf_counter()
    first = last = None
    pieces = 0
    async for event in assistant.ask(question, escalate="never"):
        if isinstance(event, Token):
            now = time.perf_counter()
            first = first or now
            last = now
            pieces += 1
    return _figures(started, first, last, pieces)


async def main_async(args: argparse.Namespace) -> dict:
    settings = load_settings()
    model = EMBEDDED_MODELS[settings.embedded_model]
    path = embedded_model_path(model.key, settings.cache_dir)
    index, _ = open_index(ROOT / "corpus", settings.cache_dir, IndexConfig.from_settings(settings))
    with EmbeddedServer(path, model.alias) as server:
        config = TierConfig(tier="slm", base_url=server.base_url, model=model.alias, max_tokens=args.max_tokens, profile=model.profile, timeout=120)
        client = TierClient(config)
        assistant = Assistant(index, AssistantConfig(top_k=settings.top_k, slm_sources=settings.slm_sources, policy=Policy("never")), ServerTier(client), None)
        result = search(index, args.question, settings.top_k)
        prompt = build_prompt(args.question, result.hits[: settings.slm_sources], result.lang)
        http = httpx.AsyncClient(timeout=120)
        await direct(http, server.base_url, model.alias, model.profile, prompt, args.max_tokens)  # warm-up
        await pipeline(assistant, args.question)
        d_rows, p_rows = [], []
        for i in range(args.rounds):  # alternate which path goes first
            if i % 2:
                p_rows.append(await pipeline(assistant, args.question))
                d_rows.append(await direct(http, server.base_url, model.alias, model.profile, prompt, args.max_tokens))
            else:
                d_rows.append(await direct(http, server.base_url, model.alias, model.profile, prompt, args.max_tokens))
                p_rows.append(await pipeline(assistant, args.question))
        await http.aclose()
        await client.aclose()
    med = lambda rows, i: statistics.median(r[i] for r in rows)  # noqa: E731
    out = {
        "model": model.alias, "profile": model.profile, "rounds": args.rounds, "question": args.question,
        "direct_ttft_ms_median": round(med(d_rows, 0), 1), "pipeline_ttft_ms_median": round(med(p_rows, 0), 1),
        "ttft_overhead_ms_median": round(statistics.median(p[0] - d[0] for p, d in zip(p_rows, d_rows)), 1),
        "direct_tokens_per_s_median": round(med(d_rows, 1), 1), "pipeline_tokens_per_s_median": round(med(p_rows, 1), 1),
        "streamed_tokens_median": (med(d_rows, 2), med(p_rows, 2)),
    }
    out["tokens_per_s_ratio"] = round(out["pipeline_tokens_per_s_median"] / out["direct_tokens_per_s_median"], 3) if out["direct_tokens_per_s_median"] else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--question", default="How does escalation work?")
    args = parser.parse_args()
    out = asyncio.run(main_async(args))
    print(f"TTFT median: direct {out['direct_ttft_ms_median']} ms, pipeline {out['pipeline_ttft_ms_median']} ms, overhead {out['ttft_overhead_ms_median']} ms")
    print(f"tokens/s median: direct {out['direct_tokens_per_s_median']}, pipeline {out['pipeline_tokens_per_s_median']} (x{out['tokens_per_s_ratio']})")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
