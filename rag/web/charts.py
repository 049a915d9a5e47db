"""Metrics as people read them: a compact Markdown table and Plotly figures.

Pure: metrics records in, strings and ``plotly`` figures out. The app shows
them under each answer and in the session view; the evaluation report reuses them.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.tiers.base import TierName
from rag.tiers.metrics import SessionStats, TurnMetrics

__all__ = ["THINKING_COLOUR", "TIER_COLOURS", "TIER_LABELS", "latency_figure", "metrics_table", "session_figure", "session_table"]

TIER_LABELS = {TierName.SLM: "SLM", TierName.LLM: "LLM", TierName.EXTRACTIVE: "Extractive"}
TIER_COLOURS = {TierName.SLM: "#2a9d8f", TierName.LLM: "#264653", TierName.EXTRACTIVE: "#e9c46a"}
THINKING_COLOUR = "#b392ac"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _thought(turn: TurnMetrics) -> bool:
    return any(t.reasoning_tokens or t.thinking_ms for t in turn.tiers)


def metrics_table(turn: TurnMetrics) -> str:
    """One row per tier: TTFT, generation, total, tokens, tok/s, cost (≈ marks estimates).

    A turn that waited for the model (the embedded server's queue) says how long in the first line,
    as "queue wait": the tiers' TTFT and total count from when the request was sent, after it.

    When a tier thought, thinking gets its own columns: TTFT (first token of anything), time to the
    first *answer* token, thinking time, answer generation, and the tokens split into thinking + answer;
    tokens/s is answer tokens over answer generation.
    """
    queued = sum(t.queue_ms for t in turn.tiers)
    wait = f" · **Queue wait** {_ms(queued)}" if queued > 0 else ""
    lines = [
        f"**Prep** {_ms(turn.prep_ms)} · **Retrieval** {_ms(turn.retrieval_ms)}{wait} · **Total** {_ms(turn.total_ms)}",
        "",
    ]
    thought = _thought(turn)
    if thought:
        lines += [
            "| Tier | TTFT | First answer token | Thinking | Answer generation | Total | Tokens in / out (thinking + answer) | Answer tokens/s | Cost |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
    else:
        lines += [
            "| Tier | TTFT | Generation | Total | Tokens in / out | Tokens/s | Cost |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
    for t in turn.tiers:
        mark = "≈" if t.estimated else ""
        tps = "–" if t.tokens_per_s is None else f"{t.tokens_per_s:.1f}"
        cost = "–" if t.tier == TierName.EXTRACTIVE else f"{mark}${t.cost:.5f}"
        name = TIER_LABELS.get(t.tier, t.tier)
        if thought:
            split = "≈" if (t.reasoning_estimated or t.estimated) else ""
            tokens = f"{mark}{t.prompt_tokens} / {mark}{t.completion_tokens} ({split}{t.reasoning_tokens} + {split}{t.answer_tokens})"
            lines.append(
                f"| {name} | {_ms(t.ttft_ms)} | {_ms(t.ttfa_ms)} | {_ms(t.thinking_ms or None)} | {_ms(t.generation_ms)} | {_ms(t.total_ms)} "
                f"| {tokens} | {tps} | {cost} |"
            )
        else:
            lines.append(
                f"| {name} | {_ms(t.ttft_ms)} | {_ms(t.generation_ms)} | {_ms(t.total_ms)} "
                f"| {mark}{t.prompt_tokens} / {mark}{t.completion_tokens} | {tps} | {cost} |"
            )
    if any(t.estimated for t in turn.tiers):
        lines.append("")
        lines.append("≈ estimated: the server sent no token usage, so tokens were counted with tiktoken.")
    elif any(t.reasoning_estimated for t in turn.tiers):
        lines.append("")
        lines.append("≈ estimated: the server sent no reasoning_tokens, so its output tokens were split by tiktoken's count of thinking and answer.")
    return "\n".join(lines)


def latency_figure(turn: TurnMetrics):
    """Stacked bars per tier: time to first token, thinking (when a tier thought), answer generation (plus retrieval)."""
    import plotly.graph_objects as go

    tiers = [t for t in turn.tiers]
    names = [TIER_LABELS.get(t.tier, t.tier) for t in tiers]
    fig = go.Figure()
    fig.add_bar(name="retrieval + prep", x=names[:1], y=[turn.retrieval_ms + turn.prep_ms], marker_color="#adb5bd")
    fig.add_bar(name="time to first token", x=names, y=[t.ttft_ms or 0 for t in tiers], marker_color="#8ecae6")
    thought = _thought(turn)
    if thought:
        fig.add_bar(name="thinking", x=names, y=[t.thinking_ms for t in tiers], marker_color=THINKING_COLOUR, marker_pattern_shape="/")
    fig.add_bar(
        name="answer generation" if thought else "generation", x=names, y=[t.generation_ms for t in tiers],
        marker_color=[TIER_COLOURS.get(t.tier, "#888") for t in tiers],
    )
    fig.update_layout(barmode="stack", height=260, margin=dict(l=40, r=10, t=30, b=30), title="Latency per tier (ms)", legend=dict(orientation="h", y=-0.25))
    return fig


def session_table(stats: SessionStats) -> str:
    data = stats.to_json()
    return "\n".join([
        "| Turns | Escalation rate | Tokens in / out | Cost | If every turn went to the LLM | Saving |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| {data['turns']} | {data['escalation_rate']:.0%} | {data['prompt_tokens']} / {data['completion_tokens']} "
        f"| ${data['cost']:.5f} | ${data['llm_only_cost']:.5f} | ${data['saving']:.5f} |",
    ])


def session_figure(turns: Sequence[TurnMetrics]):
    """Every turn so far: latency per tier (stacked), with escalations marked."""
    import plotly.graph_objects as go

    x = [f"{i}{' ⤴' if t.escalated else ''}" for i, t in enumerate(turns, 1)]
    fig = go.Figure()
    for tier in (TierName.SLM, TierName.LLM, TierName.EXTRACTIVE):
        fig.add_bar(
            name=TIER_LABELS[tier], x=x, marker_color=TIER_COLOURS[tier],
            y=[sum(m.total_ms for m in t.tiers if m.tier == tier) for t in turns],
        )
    fig.add_scatter(name="cost (USD)", x=x, y=[t.cost for t in turns], yaxis="y2", mode="lines+markers", marker_color="#e76f51")
    fig.update_layout(
        barmode="stack", height=320, margin=dict(l=40, r=40, t=30, b=30), title="Turns: latency per tier (ms), cost; ⤴ = escalated",
        yaxis2=dict(overlaying="y", side="right", showgrid=False), legend=dict(orientation="h", y=-0.2),
    )
    return fig
