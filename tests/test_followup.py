"""Follow-up questions: the resolver's cues (English and Turkish, each kind), and history-aware search.

The search tests use a small made-up folder where each service has its own file, so a follow-up
searched without its subject lands on the wrong service, and a topic switch searched with the old
subject would too.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.answer.pipeline import Assistant, AssistantConfig, Done
from rag.cli import cli
from rag.search.followup import SOFT, Turn, cue, resolve
from rag.search.index import open_index
from rag.search.retrieval import search

# --- the resolver's cues, one kind at a time


@pytest.mark.parametrize(
    ("question", "why"),
    [
        # pronoun
        ("Can I change which model each of them uses?", "refers back: 'them'"),
        ("How do I turn on debug logging when I run it?", "refers back: 'it'"),
        ("Bunlardan ilki için hangi paketleri kurmam gerekiyor?", "refers back: 'bunlardan'"),
        ("Onun varsayılan portu nedir?", "refers back: 'onun'"),
        # ellipsis and continuation openers
        ("And for .NET?", "continues: 'and'"),
        ("What about on a Qualcomm laptop with an NPU?", "continues: 'what about'"),
        ("Peki Araç Olarak Modeller oturumu?", "continues: 'peki'"),
        ("Linux ya?", "continues: '… ya?'"),
        ("Why?", "elliptical: too few words of its own"),
        ("How long?", "elliptical: too few words of its own"),
        # continuation: an additive, a comparison with nothing named
        ("I'd like to try gpt-oss-20b too. Is there a minimum version?", "refers back: 'too'"),
        ("Is the CPU fallback much slower?", "compares with nothing named: 'slower'"),
        ("Türkçe çevirisini de elle güncellemem gerekiyor mu?", "adds to the subject: 'de'"),
        # entity switch inside the same subject
        ("Is there a similar helper for redacting personal data?", "refers back: 'similar'"),
        ("Can I pin a fixed port instead?", "refers back: 'instead'"),
    ],
)
def test_dependent_questions_have_a_cue(question: str, why: str) -> None:
    lang = "tr" if any(ch in question for ch in "ıüçöşğ") or question.startswith(("Peki", "Linux ya")) else "en"
    strength, reason = cue(question, lang=lang)
    assert (strength, reason) == (1.0, why)


@pytest.mark.parametrize(
    ("question", "lang"),
    [
        ("Is it possible to install Ollama on Windows?", "en"),  # a dummy "it", and a subject of its own
        ("Where can I learn more about Ollama?", "en"),  # "more" is no comparison
        ("How do I get better performance from Phi-4?", "en"),  # a name outweighs a comparative
        ("Windows ya da Linux'ta Ollama nasıl kurulur?", "tr"),  # "ya da" is "or", not an additive
    ],
)
def test_a_short_topic_switch_with_a_pronoun_like_word_is_new(question: str, lang: str) -> None:
    assert cue(question, "How do I find Foundry Local's port?", lang)[0] == 0.0


@pytest.mark.parametrize(
    ("question", "lang"),
    [
        ("Can I run more than one model at once?", "en"),  # "one" as a number
        ("Her oturum kaç saat sürüyor?", "tr"),  # "her" is "each" in Turkish, not "her"
        ("Hangi modelleri indirmeliyim?", "tr"),  # a plural object, no possessive
    ],
)
def test_words_that_only_look_like_cues_are_none(question: str, lang: str) -> None:
    assert cue(question, lang=lang) == (SOFT, "no cue either way")


def test_an_additive_outweighs_a_name_and_a_generic_acronym_is_no_subject() -> None:
    assert cue("I'd like to try gpt-oss-20b too. Is there a minimum version?") == (1.0, "refers back: 'too'")
    assert cue("Which GPU do I need?", "How do I start Foundry Local?")[0] == SOFT  # continuing, not a topic switch
    assert cue("What's its default port?") == (1.0, "refers back: 'its'")


def test_a_turkish_possessive_without_its_possessor_depends() -> None:
    """"sürümünü" is *its* version: of what the conversation is about."""
    assert cue("Desteklenen sürümünü nereden öğrenirim?", lang="tr") == (1.0, "possessive without a possessor: 'sürümünü'")
    assert cue("Portunu nasıl değiştiririm?", lang="tr") == (1.0, "possessive without a possessor: 'portunu'")  # first word too
    # "sistemin sürümünü": the possessor is named right before it
    assert cue("Sistemin sürümünü nereden öğrenirim?", lang="tr")[0] == SOFT
    # an English word that happens to end like a Turkish suffix is no possessive
    assert cue("What are the steps of the indexing pipeline?", lang="en")[0] == SOFT


@pytest.mark.parametrize(
    "question",
    [
        "Which port does Ollama use by default?",
        "What is Foundry Local?",
        "Hangi Python sürümü gerekiyor?",
        "Model Mondays serisi nedir?",
    ],
)
def test_a_question_that_names_its_subject_is_new(question: str) -> None:
    """A topic switch (or the same subject said again): nothing is carried."""
    strength, why = cue(question, "How do I install the printer driver?")
    assert strength == 0.0 and why.startswith("a subject of its own")
    assert not resolve(question, [Turn("How do I install the printer driver?", "Run setup.exe.")]).carries


def test_a_question_with_no_cue_carries_the_subject_lightly() -> None:
    followup = resolve("When does a step get escalated?", [Turn("How do I run the router sample?", "Run python router.py.")])
    assert followup.strength == SOFT
    assert all(carry.spread for carry in followup.carries)
    assert {carry.role for carry in followup.carries} == {"question", "answer"}


def test_resolve_carries_the_previous_turn_then_older_ones_only_through_follow_ups() -> None:
    history = [
        Turn("How do I install Ollama?", "Run the installer."),
        Turn("And on Linux?", "Use the package."),
    ]
    followup = resolve("What port does it use?", history)
    assert [(c.turns_back, c.role) for c in followup.carries] == [(1, "question"), (1, "answer"), (2, "question"), (2, "answer")]
    assert followup.carries[2].weight == followup.carries[0].weight / 2  # each turn back counts half
    # the previous question had a subject of its own: nothing older is carried
    history = [Turn("How do I install Ollama?", "Run the installer."), Turn("Where is the Foundry Local log?", "In ~/.foundry.")]
    assert {c.turns_back for c in resolve("How big does it get?", history).carries} == {1}


def test_resolve_goes_back_only_through_turns_that_surely_depended() -> None:
    """The turn before was only 'continuing' (no cue): the subject before it stays behind."""
    history = [Turn("How do I find Foundry Local's port?", "Run foundry service status."), Turn("How do I create a virtual environment?", "python -m venv .venv")]
    assert {c.turns_back for c in resolve("Which version does it need?", history).carries} == {1}


def test_no_history_or_an_empty_question_carries_nothing() -> None:
    assert resolve("And its port?", []).carries == ()
    assert resolve("  ", [Turn("q", "a")]).carries == ()


# --- history-aware search over a folder where each service has its own file


FILLER = {
    "kitchen.md": "# Kitchen\n\nThe kitchen is cleaned every Friday. Label your food with your name and the date.\n",
    "holidays.md": "# Holidays\n\nBook holidays in the HR portal at least two weeks ahead. Unused days expire in March.\n",
    "parking.md": "# Parking\n\nVisitors park on level -1. Staff permits are renewed every January at reception.\n",
    "expenses.md": "# Expenses\n\nSubmit receipts within 30 days. Meals on business trips are covered up to 40 EUR a day.\n",
    "fire-drill.md": "# Fire drill\n\nThe alarm is tested on the first Monday of each month. Leave by the nearest stairs.\n",
}


@pytest.fixture(scope="module")
def services(tmp_path_factory) -> Path:
    docs = tmp_path_factory.mktemp("services")
    (docs / "ollama.md").write_text(
        "# Ollama\n\n## Installing Ollama\n\nDownload the Ollama installer from the software portal and run it. "
        "On Linux, install the package from the internal mirror.\n\n## Network\n\n"
        "Ollama listens on port 11434 on the local machine. Set OLLAMA_HOST to listen elsewhere.\n",
        encoding="utf-8",
    )
    (docs / "foundry.md").write_text(
        "# Foundry Local\n\nFoundry Local picks a free port at start. Run `foundry service status` to see it. "
        "To pin a fixed port, run `foundry service set --port 5273`.\n",
        encoding="utf-8",
    )
    (docs / "llama-server.md").write_text(
        "# llama.cpp server\n\nThe llama.cpp server uses port 8080 unless you pass --port.\n", encoding="utf-8"
    )
    (docs / "lockers.md").write_text(
        "# Lockers\n\nThe lockers are on the second floor next to the kitchen. Ask reception for a key.\n", encoding="utf-8"
    )
    for name, text in FILLER.items():  # the rest of a small office folder: "port" is not in most files
        (docs / name).write_text(text, encoding="utf-8")
    (docs / "printer.md").write_text(
        "# Printer\n\nThe printer driver installer is on the software portal. The printer uses port 9100.\n", encoding="utf-8"
    )
    return docs


def _top(docs: Path, question: str, history: list[Turn]) -> tuple[str, object]:
    index, _ = open_index(docs, None)
    result = search(index, question, 3, context=resolve(question, history).carries)
    return result.hits[0].source, result


def test_a_follow_up_is_searched_with_its_subject(services: Path) -> None:
    history = [Turn("How do I find Foundry Local's port?", "Run foundry service status.")]
    bare, _ = _top(services, "And what port does it use?", [])
    source, result = _top(services, "Can I pin a fixed port instead?", history)
    assert source == "foundry.md"
    assert result.resolved and "Foundry" in result.searched and result.searched != result.query
    # the same words after another subject go to that subject's file
    source, _ = _top(services, "And what port does it use?", [Turn("How do I install Ollama?", "Download the Ollama installer.")])
    assert source == "ollama.md"
    assert bare != "ollama.md"  # searched alone, "what port does it use?" is about some other port


def test_a_topic_switch_is_searched_alone(services: Path) -> None:
    history = [Turn("How do I find Foundry Local's port?", "Run foundry service status.")]
    alone, _ = _top(services, "Where are the lockers?", [])
    source, result = _top(services, "Where are the lockers?", history)
    assert source == alone == "lockers.md"
    assert result.confidence.covered  # judged on its own words: the old subject is not required of the passage


def test_the_coverage_judgement_reads_the_resolved_question(services: Path) -> None:
    """A passage about the wrong service is not 'covered' for a follow-up about another one."""
    index, _ = open_index(services, None)
    question = "Which port does it use?"
    history = [Turn("How do I install the Kubernetes dashboard?", "Apply the manifest.")]  # no file is about it
    alone = search(index, question, 3)
    resolved = search(index, question, 3, context=resolve(question, history).carries)
    assert alone.confidence.covered
    assert not resolved.confidence.covered


def test_the_extractive_answer_of_a_follow_up_quotes_its_subject(services: Path) -> None:
    index, _ = open_index(services, None)
    assistant = Assistant(index, AssistantConfig(), slm=None, llm=None)

    async def turn(question: str, history=()) -> Done:
        async for event in assistant.ask(question, history=history):
            if isinstance(event, Done):
                return event
        raise AssertionError("no Done")

    first = asyncio.run(turn("How do I install Ollama?"))
    second = asyncio.run(turn("And what port does it use?", [Turn("How do I install Ollama?", first.answer)]))
    assert second.hits[0].source == "ollama.md"
    assert "11434" in second.answer


# --- the CLI contract: `rag search --queries FILE --json` with JSON lines


def test_search_queries_accepts_json_lines_with_history(services: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    queries = tmp_path / "q.txt"
    queries.write_text(
        "\n".join([
            "Where are the lockers?",
            json.dumps({"question": "Can I pin a fixed port instead?", "history": [{"question": "How do I find Foundry Local's port?", "answer": "status"}]}),
            json.dumps({"question": "Can I pin a fixed port instead?"}),
        ]) + "\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["search", "--queries", str(queries), "--docs", str(services), "--json", "--k", "2"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3
    assert json.loads(lines[0])[0]["source"] == "lockers.md"
    assert json.loads(lines[1])[0]["source"] == "foundry.md"


def test_a_plain_query_that_starts_with_a_brace_is_searched_as_text(services: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    queries = tmp_path / "q.txt"
    queries.write_text("{lockers} where are they?\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["search", "--queries", str(queries), "--docs", str(services), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)[0]["source"] == "lockers.md"


def test_a_bad_query_line_is_named_and_the_others_still_print(services: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    queries = tmp_path / "q.txt"
    queries.write_text(
        '{"question": "where are the lockers?"\n{"history": []}\nWhere are the lockers?\n{"question": "x", "history": [{"answer": "a"}]}\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["search", "--queries", str(queries), "--docs", str(services), "--json"], catch_exceptions=False)
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert lines[0] == lines[1] == lines[3] == "[]"
    assert json.loads(lines[2])[0]["source"] == "lockers.md"
    assert "line 1: not valid JSON" in result.stderr
    assert 'line 2: a JSON line needs a "question"' in result.stderr
    assert 'line 4: history entry 1 needs a "question"' in result.stderr


def test_an_over_long_history_does_not_drown_the_follow_up(services: Path, tmp_path: Path, monkeypatch) -> None:
    """A huge old turn is not carried (the turn after it names its own subject), and a tight RAG_HISTORY_TOKENS,
    which bounds the prompt, does not switch follow-up search off."""
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RAG_HISTORY_TOKENS", "100")
    line = {
        "question": "And what port does it use?",
        "history": [
            {"question": "Tell me about the printer " * 200, "answer": "printer " * 400},
            {"question": "How do I install Ollama?", "answer": "Download the Ollama installer."},
        ],
    }
    queries = tmp_path / "q.txt"
    queries.write_text(json.dumps(line) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["search", "--queries", str(queries), "--docs", str(services), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)[0]["source"] == "ollama.md"


# --- rag eval --dialogues: follow-ups bare, with history, standalone; topic switches from the QA set


def test_eval_dialogues_scores_each_mode_and_topic_switches(services: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    dialogues = tmp_path / "dialogues.jsonl"
    dialogues.write_text(json.dumps({
        "id": "d1", "lang": "en", "kind": "pronoun",
        "turns": [{"question": "How do I install Ollama?", "answer": "Download the Ollama installer."}, {"question": "And what port does it use?"}],
        "gold": ["ollama.md"], "answer_phrases": ["port 11434"], "standalone": "What port does Ollama listen on?",
    }) + "\n", encoding="utf-8")
    qa = tmp_path / "qa.jsonl"
    qa.write_text("\n".join(json.dumps(q) for q in [
        {"id": "q1", "lang": "en", "question": "Where are the lockers?", "gold": ["lockers.md"], "answer_phrases": ["second floor"]},
        {"id": "q2", "lang": "en", "question": "How do I pin a fixed port for Foundry Local?", "gold": ["foundry.md"], "answer_phrases": ["--port 5273"]},
    ]) + "\n", encoding="utf-8")
    out = tmp_path / "report"
    result = CliRunner().invoke(
        cli, ["eval", "--dialogues", str(dialogues), "--qa", str(qa), "--docs", str(services), "--out", str(out)], catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads((out / "followups.json").read_text(encoding="utf-8"))
    follow = report["followups"]["by_lang"]["en"]
    assert follow["history"]["evidence@1"] == 1.0 and follow["standalone"]["evidence@1"] == 1.0
    assert follow["bare"]["evidence@1"] == 0.0  # searched alone, "what port does it use?" is about llama.cpp's 8080
    switches = report["topic_switches"]["overall"]
    assert switches["n"] == 2 and switches["history"] == switches["bare"]
    assert "| en | 1 |" in result.stdout


def test_a_bad_dialogue_line_stops_with_its_number(services: Path, tmp_path: Path) -> None:
    dialogues = tmp_path / "dialogues.jsonl"
    dialogues.write_text('{"id": "d1", "turns": [{"question": "only one"}], "answer_phrases": []}\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", "--dialogues", str(dialogues), "--docs", str(services)])
    assert result.exit_code != 0
    assert "dialogues.jsonl:1: a dialogue needs at least two turns" in str(result.exception) + result.output


# --- rag chat: the terminal keeps the conversation


def test_rag_chat_answers_a_follow_up_with_its_history_and_new_starts_over(services: Path, tmp_path: Path, monkeypatch) -> None:
    """No model answers (the SLM's address refuses): the extractive tier shows what retrieval handed over."""
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RAG_SLM_BASE_URL", "http://127.0.0.1:9/v1")
    script = "How do I install Ollama?\nAnd what port does it use?\n/new\nAnd what port does it use?\n/quit\nnever asked\n"
    result = CliRunner().invoke(cli, ["chat", "--docs", str(services), "--quiet"], input=script, catch_exceptions=False)
    answers = result.stdout.split("-- answered by")
    assert len(answers) == 4  # three turns (the line after /quit is never read)
    assert "11434" in answers[1].split("\n\n", 1)[1]  # the follow-up, about Ollama
    assert result.stderr.count("[searched for: And what port does it use?, with") == 1  # not after /new
    assert "[a new conversation]" in result.stderr
    assert result.exit_code == 3  # the SLM failed every turn: said, as rag ask says it
