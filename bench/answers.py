"""Answer quality on a QA set, through the real pipeline, per tier.

usage: .venv/bin/python bench/answers.py [--qa FILE] [--docs-root DIR] [--tier auto|extractive] [--limit N]

For every question of ../shared/eval/dev_qa.jsonl it runs ``Assistant.ask`` with
the tiers the settings give (by default the embedded model as SLM, no LLM tier),
and counts: answerable questions whose final answer holds an answer phrase
(grounded), per answering tier; unanswerable questions that end with "the
documents don't cover this"; escalations and reasons; SLM TTFT and total p50/p95.
``--tier extractive`` skips the models (the extractive tier alone).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.index import open_index  # noqa: E402
from rag.pipeline import Assistant, Done  # noqa: E402
from rag.prompts import NOT_COVERED  # noqa: E402
from rag.settings import load_settings  # noqa: E402
from rag.tiers import Tiers, assistant_config, open_tiers  # noqa: E402

SHARED = ROOT.parent / "shared"


def norm(text: str) -> str:
    return " ".join(text.lower().split())


def pct(values: list[float], q: float) -> float | None:
    values = sorted(values)
    if not values:
        return None
    return round(values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))], 1)


async def run(args: argparse.Namespace) -> dict:
    settings = load_settings()
    qa = [json.loads(line) for line in open(args.qa, encoding="utf-8") if line.strip()][: args.limit or None]
    tiers = Tiers() if args.tier == "extractive" else await open_tiers(settings)
    for status in tiers.statuses:
        print(status.line(), file=sys.stderr)
    indexes = {}
    rows = []
    try:
        for n, q in enumerate(qa, 1):
            lang = q["lang"]
            if lang not in indexes:
                docs = args.docs_root / lang if (args.docs_root / lang).is_dir() else args.docs_root
                indexes[lang], _ = open_index(docs, settings.cache_dir, settings.index_config())
            assistant = Assistant(indexes[lang], assistant_config(settings), tiers.slm, tiers.llm, tiers.llm_note)
            done = None
            async for event in assistant.ask(q["question"]):
                if isinstance(event, Done):
                    done = event
            assert done is not None
            answer = norm(done.answer)
            slm = next((t for t in done.metrics.tiers if t.tier == "slm"), None)
            row = {
                "id": q["id"], "lang": lang, "answerable": bool(q["gold"]), "tier": done.tier, "reasons": done.reasons,
                "grounded": any(norm(p) in answer for p in q["answer_phrases"]) if q["gold"] else None,
                "refused": norm(NOT_COVERED.get(lang, NOT_COVERED["en"])) in answer or norm(NOT_COVERED["en"]) in answer,
                "slm_grounded": any(norm(p) in norm(done.draft or (done.answer if done.tier == "slm" else "")) for p in q["answer_phrases"]) if q["gold"] else None,
                "slm_ttft_ms": slm.ttft_ms if slm else None, "slm_total_ms": slm.total_ms if slm else None,
                "total_ms": done.metrics.total_ms,
            }
            rows.append(row)
            print(f"[{n}/{len(qa)}] {q['id']} {done.tier} grounded={row['grounded']} refused={row['refused']}", file=sys.stderr)
    finally:
        await tiers.aclose()
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    per_tier = {}
    for tier in ("slm", "llm", "extractive"):
        sub = [r for r in answerable if r["tier"] == tier]
        per_tier[tier] = {"answered": len(sub), "grounded": sum(r["grounded"] for r in sub)}
    return {
        "questions": len(rows),
        "answerable": len(answerable),
        "grounded": sum(r["grounded"] for r in answerable),
        "grounded_rate": round(sum(r["grounded"] for r in answerable) / max(len(answerable), 1), 3),
        "per_tier": per_tier,
        "slm_drafts_grounded": sum(bool(r["slm_grounded"]) for r in answerable),
        "unanswerable": len(unanswerable),
        "unanswerable_refused": sum(r["refused"] for r in unanswerable),
        "answerable_refused": sum(r["refused"] for r in answerable),
        "escalation_reasons": dict(Counter(reason for r in rows for reason in r["reasons"])),
        "slm_ttft_p50_ms": pct([r["slm_ttft_ms"] for r in rows if r["slm_ttft_ms"] is not None], 50),
        "slm_ttft_p95_ms": pct([r["slm_ttft_ms"] for r in rows if r["slm_ttft_ms"] is not None], 95),
        "total_p50_ms": pct([r["total_ms"] for r in rows], 50),
        "total_p95_ms": pct([r["total_ms"] for r in rows], 95),
        "rows": rows if args.rows else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", type=Path, default=SHARED / "eval" / "dev_qa.jsonl")
    parser.add_argument("--docs-root", type=Path, default=SHARED / "corpora" / "edgeai-workshop")
    parser.add_argument("--tier", choices=["auto", "extractive"], default="auto")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--rows", action="store_true", help="include every question's row in the JSON")
    args = parser.parse_args()
    started = time.perf_counter()
    result = asyncio.run(run(args))
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
