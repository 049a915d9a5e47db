"""Answer quality on a QA set through the real pipeline: correct, supported and refused, per tier.

usage: .venv/bin/python -m bench.answers [--qa FILE] [--docs-root DIR] [--tier auto|extractive] [--scripted-llm] [--out DIR]

It runs ``rag.evaluation.run.run_eval`` with ``--answers`` (the definitions of
``rag.evaluation.qa``: *correct* holds an answer phrase, *supported* has its words
in the sources, *refused* says the documents don't cover it) and prints the
Markdown summary.

- ``--tier auto`` (default): the tiers the settings give; on a fresh machine the
  embedded model as SLM and no LLM tier, so escalations go to the extractive tier.
- ``--tier extractive``: no model at all, every turn quoted.
- ``--scripted-llm``: an LLM tier on a scripted OpenAI-compatible server
  (``tests/scripted_server.py``) that answers like a careful large model would
  when the sources allow it: the sentence, list item, table row or code block of
  the sources it was given that holds an answer phrase, with its ``[Source N]``,
  and "The documents don't cover this." when none does. It knows the answer
  phrases, so it is an upper bound for the LLM tier on these sources, not a model:
  what it measures is the cascade around it (which turns escalate, what the
  other tiers answer, what the report shows), never a model's quality.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from pathlib import Path

from rag.documents.tokens import count_tokens
from rag.evaluation.qa import QAItem, has_phrase, load_qa
from rag.evaluation.report import markdown_summary, write_report
from rag.evaluation.run import run_eval
from rag.settings import load_settings
from rag.tiers.discovery import Tiers
from rag.tiers.extractive import units
from rag.tiers.prompt import NOT_COVERED

ROOT = Path(__file__).resolve().parents[1]

SHARED = ROOT.parent / "shared"
_QUESTION_RE = re.compile(r"\n\nQuestion: (.*?)(?:\n\n|$)", re.S)
_SOURCE_RE = re.compile(r"^Source (\d+) \(.*?\):\n", re.M)


def oracle_answer(prompt: str, qa: dict[str, QAItem]) -> str:
    """What the scripted LLM says to ``prompt``: the source unit holding an answer phrase, cited, or "not covered"."""
    found = _QUESTION_RE.search(prompt)
    item = qa.get(" ".join(found.group(1).split())) if found else None
    lang = item.lang if item is not None and item.lang in NOT_COVERED else "en"
    if item is None or not item.answerable:
        return NOT_COVERED[lang]
    head = prompt[: found.start()]
    marks = list(_SOURCE_RE.finditer(head))
    for mark, after in zip(marks, [*marks[1:], None]):
        text = head[mark.end() : after.start() if after else len(head)]
        for unit in units(text):
            if has_phrase(unit.text, item.answer_phrases):
                body = f"```\n{unit.text}\n```\n" if unit.kind == "code" else unit.text.rstrip(".") + " "
                return f"{body}[Source {mark.group(1)}]."
    return NOT_COVERED[lang]


def start_oracle(model: str, qa: list[QAItem]):
    """A scripted server whose ``model`` answers with ``oracle_answer`` (started; call ``.stop()``)."""
    from tests.support.scripted_server import Script, ScriptedServer, chunked

    by_question = {" ".join(item.question.split()): item for item in qa}

    class Oracle(ScriptedServer):
        async def _complete(self, request):  # Starlette's request and response
            body = await request.json()
            if body.get("model") == model:
                prompt = "\n".join(m.get("content", "") for m in body.get("messages", []))
                answer = oracle_answer(prompt, by_question)
                script = Script(chunked(answer, 24), prompt_tokens=count_tokens([prompt])[0], completion_tokens=count_tokens([answer])[0])
                self.scripts[model].appendleft(script)
            return await super()._complete(request)

    return Oracle([model]).start()


async def run(args: argparse.Namespace) -> dict:
    qa = load_qa(args.qa)
    overrides: dict[str, object] = {}
    server = None
    if args.scripted_llm:
        settings = load_settings()
        server = start_oracle(settings.llm_model, qa)
        overrides["llm_base_url"] = server.base_url
    settings = load_settings(**overrides)
    try:
        tiers = Tiers() if args.tier == "extractive" else None
        return await run_eval(settings, qa, args.docs_root, answers=True, tiers=tiers)
    finally:
        if server is not None:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", type=Path, default=SHARED / "eval" / "dev_qa.jsonl", help="question set (JSON Lines)")
    parser.add_argument("--docs-root", type=Path, default=SHARED / "corpora" / "edgeai-workshop", help="docs folder (with en/ and tr/)")
    parser.add_argument("--tier", choices=["auto", "extractive"], default="auto", help="auto: the configured tiers; extractive: no model")
    parser.add_argument("--scripted-llm", action="store_true", help="an LLM tier on a scripted server that quotes the answer (an upper bound)")
    parser.add_argument("--out", type=Path, default=None, help="also write report.json and report.html here")
    args = parser.parse_args()
    started = time.perf_counter()
    report = asyncio.run(run(args))
    print(markdown_summary(report))
    print(f"\n{time.perf_counter() - started:.0f} s", file=sys.stderr)
    if args.out is not None:
        for path in write_report(report, args.out):
            print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
