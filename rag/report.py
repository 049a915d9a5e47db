"""The evaluation report: ``report.json``, a self-contained ``report.html``, a Markdown summary.

The HTML embeds plotly.js from the installed package (no CDN), so it opens
offline: retrieval hits by language, latency per tier, tokens, cost against
sending everything to the LLM tier, and escalation reasons.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

__all__ = ["markdown_summary", "write_report"]


def markdown_summary(report: dict) -> str:
    r = report["retrieval"]
    lines = ["## Retrieval", "", "| scope | n | evidence@1 | evidence@3 | evidence@5 | file-hit@5 | MRR |", "| --- | --- | --- | --- | --- | --- | --- |"]
    scopes = [("overall", r["overall"])] + [(f"lang {k}", v) for k, v in r["by_lang"].items()] + [(f"kind {k}", v) for k, v in r["by_kind"].items()]
    for name, b in scopes:
        lines.append(f"| {name} | {b['n']} | {b['evidence@1']} | {b['evidence@3']} | {b['evidence@5']} | {b['file_hit@5']} | {b['mrr']} |")
    if r["failures"]:
        lines += ["", f"Not found in the top 5 ({len(r['failures'])}): " + ", ".join(f["id"] for f in r["failures"])]
    a = report.get("answers")
    if a:
        lines += ["", "## Answers", "",
                  f"- grounded (an answer phrase, or strong lexical support from the sources): {a['grounded']}/{a['answerable']} answerable ({a['grounded_rate']})",
                  f"- holding an answer phrase: {a['with_answer_phrase']}/{a['answerable']}",
                  f"- unanswerable: {a['correct_refusals']}/{a['unanswerable']} correct refusals, {a['wrong_answers_on_unanswerable']} wrong answers",
                  f"- escalation rate {a['escalation_rate']}, reasons {a['escalation_reasons']}",
                  f"- cost ${a['cost']:.6f} vs ${a['llm_only_cost']:.6f} with the LLM tier alone (saving ${a['saving']:.6f})", "",
                  "| tier | answered | grounded | with an answer phrase | TTFT p50/p95 ms | total p50/p95 ms |", "| --- | --- | --- | --- | --- | --- |"]
        for tier, t in a["per_tier"].items():
            lat = a["latency_ms"].get(tier, {})
            lines.append(f"| {tier} | {t['answered']} | {t['grounded']} | {t['with_answer_phrase']} | {lat.get('ttft_ms_p50')}/{lat.get('ttft_ms_p95')} | {lat.get('total_ms_p50')}/{lat.get('total_ms_p95')} |")
        if a.get("rubric"):
            rb = a["rubric"]
            lines += ["", f"Rubric (1–5, n={rb['n']}): coherence {rb['coherence']}, factuality {rb['factuality']}, brevity {rb['brevity']}"]
    c = report.get("calibration")
    if c:
        lines += ["", "## Calibration (put these in your settings)", ""]
        for name, v in c.items():
            lines.append(f"- `{name}={v['value']}` (balanced accuracy {v['balanced_accuracy']})")
    for note in report.get("notes", []):
        lines.append(f"\n> {note}")
    return "\n".join(lines)


def _figures(report: dict) -> list:
    import plotly.graph_objects as go

    figs = []
    r = report["retrieval"]["by_lang"]
    fig = go.Figure()
    for k in (1, 3, 5):
        fig.add_bar(name=f"evidence@{k}", x=list(r), y=[b[f"evidence@{k}"] for b in r.values()])
    fig.update_layout(title="Retrieval: evidence@k by language", barmode="group", yaxis_range=[0, 1])
    figs.append(fig)
    a = report.get("answers")
    if a:
        tiers = list(a["latency_ms"])
        fig = go.Figure()
        for name in ("ttft_ms", "total_ms"):
            for q in ("p50", "p95"):
                fig.add_bar(name=f"{name} {q}", x=tiers, y=[a["latency_ms"][t].get(f"{name}_{q}") for t in tiers])
        fig.update_layout(title="Latency per tier (ms)", barmode="group")
        figs.append(fig)
        rows = report.get("answer_rows", [])
        tokens = {t: [0, 0] for t in ("slm", "llm", "extractive")}
        for row in rows:
            for m in row["tiers"]:
                tokens[m["tier"]][0] += m["prompt_tokens"]
                tokens[m["tier"]][1] += m["completion_tokens"]
        fig = go.Figure([go.Bar(name="prompt", x=list(tokens), y=[v[0] for v in tokens.values()]),
                         go.Bar(name="completion", x=list(tokens), y=[v[1] for v in tokens.values()])])
        fig.update_layout(title="Tokens per tier", barmode="stack")
        figs.append(fig)
        fig = go.Figure(go.Bar(x=["this run", "everything on the LLM tier"], y=[a["cost"], a["llm_only_cost"]]))
        fig.update_layout(title=f"Simulated cost (USD), saving {a['saving']:.6f}")
        figs.append(fig)
        reasons = a["escalation_reasons"] or {"none": 0}
        fig = go.Figure(go.Bar(x=list(reasons), y=list(reasons.values())))
        fig.update_layout(title="Escalation reasons")
        figs.append(fig)
    return figs


def write_report(report: dict, out: Path) -> tuple[Path, Path]:
    """Write report.json and report.html into ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "report.json"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    parts = []
    for i, fig in enumerate(_figures(report)):
        fig.update_layout(height=360, margin=dict(l=50, r=20, t=50, b=40))
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))  # plotly.js inline, once
    summary = html.escape(markdown_summary(report))
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Evaluation report</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "pre{background:#f4f4f4;padding:1em;white-space:pre-wrap}</style></head><body>"
        f"<h1>Evaluation report</h1><p>{report['questions']} questions over <code>{html.escape(report['docs'])}</code>, "
        f"{report['seconds']} s</p><pre>{summary}</pre>" + "".join(parts) + "</body></html>"
    )
    html_path = out / "report.html"
    html_path.write_text(page, encoding="utf-8")
    return json_path, html_path
