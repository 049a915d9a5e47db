"""The 1–5 rubric: a judge model scores an answer for coherence, factuality and brevity.

The judge is an OpenAI-compatible tier (the LLM tier by default). It sees the
question, the numbered sources and the answer, and must reply with one JSON
object; ``parse_scores`` takes the first JSON object in the reply and clamps
each score to 1..5, so a chatty judge still yields numbers, and a reply
without them yields None (the row is reported as unjudged, never guessed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from rag.answer.prompts import format_sources
from rag.search.retrieval import Hit
from rag.tiers.base import Finished
from rag.tiers.client import TierClient
from rag.tiers.prompt import Prompt

__all__ = ["JUDGE_INSTRUCTIONS", "judge_answer", "parse_scores"]

JUDGE_INSTRUCTIONS = (
    "You grade answers of a document assistant. Score the answer from 1 (bad) to 5 (excellent) on: "
    "coherence (clear, well-formed), factuality (every claim is supported by the sources), "
    "brevity (no padding, answers what was asked). Reply with one JSON object only, e.g. "
    '{"coherence": 4, "factuality": 5, "brevity": 3, "reason": "one short line"}.'
)
_OBJECT_RE = re.compile(r"\{.*?\}", re.S)


def parse_scores(reply: str) -> dict[str, object] | None:
    for match in _OBJECT_RE.finditer(reply):
        try:
            data = json.loads(match.group(0), strict=False)  # a judge may put a raw newline in "reason"
        except json.JSONDecodeError:
            continue
        try:
            scores = {key: min(5, max(1, int(round(float(data[key]))))) for key in ("coherence", "factuality", "brevity")}
        except (KeyError, TypeError, ValueError):
            continue
        scores["reason"] = " ".join(str(data.get("reason", "")).split())[:200]
        return scores
    return None


async def judge_answer(client: TierClient, question: str, hits: Sequence[Hit], answer: str) -> dict[str, object] | None:
    """Scores for one answer, or None when the judge failed or gave no scores."""
    user = f"Sources:\n\n{format_sources(hits)}\n\nQuestion: {question}\n\nAnswer to grade:\n{answer}"
    prompt = Prompt(messages=[{"role": "system", "content": JUDGE_INSTRUCTIONS}, {"role": "user", "content": user}], text="", stop=[])
    finished = None
    async for event in client.stream(prompt, temperature=0.0):
        if isinstance(event, Finished):
            finished = event
    if finished is None or finished.error is not None:
        return None
    return parse_scores(finished.text)
