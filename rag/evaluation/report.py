"""The evaluation report: ``report.json``, a self-contained ``report.html``, a Markdown summary.

Answers lead: the share of *correct* answers, then *supported* by the sources
and *refused*, overall and per answering tier (``rag.evaluation.qa``), then
retrieval. The HTML embeds plotly.js from the installed package (no CDN), so it
opens offline: answers per tier, retrieval hits by language, latency per tier,
tokens, cost against sending everything to the LLM tier, and escalation reasons.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

__all__ = ["headline", "markdown_summary", "write_report"]


from rag.tiers.base import TierName


def _frac(share: dict) -> str:
    rate = share.get("rate")
    return f"{share['n']}/{share['of']}" + (f" ({rate:.0%})" if rate is not None else "")


def headline(report: dict) -> str:
    """One line that leads the report: correct answers first, then supported and refused ("" without answers)."""
    a = report.get("answers")
    if not a:
        return ""
    refused = a["refused"]["unanswerable"]
    return (
        f"Correct: {_frac(a['correct'])} answerable questions · supported by the sources: {_frac(a['supported'])}"
        f" · unanswerable: {refused['refused']}/{refused['of']} refused, {refused['answered_anyway']} answered anyway"
    )


def _answers_section(a: dict) -> list[str]:
    judged = f", or the judge's factuality >= 4 ({a['judged']} judged)" if a.get("judged") else ""
    lines = [
        "## Answers", "",
        f"**{headline({'answers': a})}**", "",
        f"*Correct*: an answerable question whose answer holds an answer phrase{judged}; a refusal never is. "
        "*Supported*: the answer's content words are in its sources (a quote always is, right or wrong). "
        "*Refused*: says the documents don't cover it.", "",
        "| tier | answered | correct | supported | unanswerable refused | unanswerable answered anyway | answerable refused | TTFT p50/p95 ms | total p50/p95 ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows = [("all", {"answered": a["questions"], "correct": a["correct"], "supported": a["supported"], "refused": a["refused"]})]
    rows += [(tier, t) for tier, t in a["per_tier"].items() if t["answered"]]  # tiers that answered nothing are left out
    for tier, t in rows:
        lat = a["latency_ms"].get(tier, {})
        un = t["refused"]["unanswerable"]
        timing = f"{lat.get('ttft_ms_p50')}/{lat.get('ttft_ms_p95')} | {lat.get('total_ms_p50')}/{lat.get('total_ms_p95')}" if lat else "— | —"
        lines.append(
            f"| {tier} | {t['answered']} | {_frac(t['correct'])} | {_frac(t['supported'])} | {un['refused']}/{un['of']} "
            f"| {un['answered_anyway']} | {t['refused']['answerable']} | {timing} |"
        )
    lines += [
        "",
        f"- escalation rate {a['escalation_rate']}, reasons {a['escalation_reasons']}",
        f"- cost ${a['cost']:.6f} vs ${a['llm_only_cost']:.6f} with the LLM tier alone (saving ${a['saving']:.6f})",
    ]
    if a.get("rubric"):
        rb = a["rubric"]
        lines += ["", f"Rubric (1–5, n={rb['n']}): coherence {rb['coherence']}, factuality {rb['factuality']}, brevity {rb['brevity']}"]
    return lines


def markdown_summary(report: dict) -> str:
    """The report as Markdown: answers first (correct leads), then retrieval, calibration and notes."""
    lines: list[str] = []
    a = report.get("answers")
    if a:
        lines += _answers_section(a) + [""]
    r = report["retrieval"]
    lines += ["## Retrieval", "", "| scope | n | evidence@1 | evidence@3 | evidence@5 | file-hit@5 | MRR |", "| --- | --- | --- | --- | --- | --- | --- |"]
    scopes = [("overall", r["overall"])] + [(f"lang {k}", v) for k, v in r["by_lang"].items()] + [(f"kind {k}", v) for k, v in r["by_kind"].items()]
    for name, b in scopes:
        lines.append(f"| {name} | {b['n']} | {b['evidence@1']} | {b['evidence@3']} | {b['evidence@5']} | {b['file_hit@5']} | {b['mrr']} |")
    if r["failures"]:
        lines += ["", f"Not found in the top 5 ({len(r['failures'])}): " + ", ".join(f["id"] for f in r["failures"])]
    cov = r.get("coverage")
    if cov:
        lines += ["", f"\"The documents don't cover this\" (retrieval's judgement): {cov['unanswerable_flagged']}/{cov['unanswerable']} "
                  f"unanswerable questions flagged, {cov['answerable_flagged']}/{cov['answerable']} answerable ones flagged"]
        if cov["missed"]:
            lines.append("- unanswerable but judged covered: " + ", ".join(m["id"] for m in cov["missed"]))
        for wrong in cov["wrongly_flagged"]:
            lines.append(f"- answerable but judged not covered: {wrong['id']} ({wrong['reason']})")
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
    a = report.get("answers")
    if a:  # the answers lead: correct, then supported, per tier
        tiers = [t for t, b in a["per_tier"].items() if b["answered"]]
        fig = go.Figure()
        for key, label in (("correct", "correct"), ("supported", "supported by the sources")):
            fig.add_bar(name=label, x=["all", *tiers], y=[a[key]["n"]] + [a["per_tier"][t][key]["n"] for t in tiers])
        fig.add_bar(name="answerable questions", x=["all", *tiers], y=[a["correct"]["of"]] + [a["per_tier"][t]["correct"]["of"] for t in tiers])
        fig.update_layout(title=f"Answers per answering tier: {a['correct']['n']} of {a['correct']['of']} correct", barmode="group")
        figs.append(fig)
    r = report["retrieval"]["by_lang"]
    fig = go.Figure()
    for k in (1, 3, 5):
        fig.add_bar(name=f"evidence@{k}", x=list(r), y=[b[f"evidence@{k}"] for b in r.values()])
    fig.update_layout(title="Retrieval: evidence@k by language", barmode="group", yaxis_range=[0, 1])
    figs.append(fig)
    if a:
        tiers = list(a["latency_ms"])
        fig = go.Figure()
        for name in ("ttft_ms", "total_ms"):
            for q in ("p50", "p95"):
                fig.add_bar(name=f"{name} {q}", x=tiers, y=[a["latency_ms"][t].get(f"{name}_{q}") for t in tiers])
        fig.update_layout(title="Latency per tier (ms)", barmode="group")
        figs.append(fig)
        rows = report.get("answer_rows", [])
        tokens = {t: [0, 0] for t in (TierName.SLM, TierName.LLM, TierName.EXTRACTIVE)}
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
    lead = f"<h2>{html.escape(headline(report))}</h2>" if report.get("answers") else ""
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Evaluation report</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "pre{background:#f4f4f4;padding:1em;white-space:pre-wrap}</style></head><body>"
        f"<h1>Evaluation report</h1><p>{report['questions']} questions over <code>{html.escape(report['docs'])}</code>, "
        f"{report['seconds']} s</p>{lead}<pre>{summary}</pre>" + "".join(parts) + "</body></html>"
    )
    html_path = out / "report.html"
    html_path.write_text(page, encoding="utf-8")
    return json_path, html_path
