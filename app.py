"""The Chainlit app: Chainlit events in, ``rag`` calls, rendering out.

Settings are read and checked once, when Chainlit imports this file: a bad
value stops ``chainlit run`` with the variable's name (a malformed login list
above all: login never fails open). Process-wide, a ``rag.web.runtime.Runtime``
builds the index of the docs folder and the model tiers in the background from
the app's start-up (the embedded server, when it is the SLM, is started, warmed
up, supervised, and stopped when the app shuts down); page loads never wait for
it longer than a few seconds, and a failed start is remembered with its reason
for a minute instead of being retried on every message. Per chat session: an
overlay for uploaded documents and the chat settings, whose controls are seeded
from and bounded by the settings. The turns and their metrics are read from
Chainlit's chat context (``rag.web.chat``): each final answer carries its turn in
its metadata, so an edit, which drops the later messages, drops those turns,
and a chat opened again from the history (``on_chat_resume``) has them; its
settings and uploads come back there too.

A turn renders the pipeline's events: a "Retrieval" step with the hits, a
"waiting for the model, N ahead" note while the turn is queued for the embedded
server (removed when the model starts), a reasoning model's thinking streamed
into a collapsible step (closed and titled with its duration when the answer
starts; shown, never saved), the answer streamed token by token, `Source N`
side elements, escalation notes, a tier badge, and the metrics table and
latency chart under the answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import math
import os
import secrets
import sys
import time
from pathlib import Path

import chainlit as cl
from chainlit.config import config as chainlit_config
from chainlit.auth import get_current_user
from chainlit.server import app as chainlit_server
from chainlit.input_widget import Select, Slider, Switch

from rag.web import chat as rag_chat
from rag.web.charts import TIER_LABELS, latency_figure, metrics_table, session_figure, session_table
from rag.tiers.client import REASONING_EFFORTS
from rag.web.demo import demo_router, mount as mount_demo
from rag.web import history as rag_history
from rag.errors import ConfigError, RagError
from rag.web.history import LOCAL_USER, plan_history
from rag.search.index import Index, IndexReport, Overlay
from rag.tiers.metrics import SessionStats
from rag.answer.pipeline import Assistant, AssistantConfig, Done, Escalation, Queued, Retrieved, Thinking, TierEnd, TierStart, Token
from rag.settings import Settings, load_settings
from rag.web.runtime import Runtime
from rag.tiers.discovery import Tiers
from rag.search.budget import MB, UploadBudget
from rag.web.uploads import UploadRules
from rag.web.wording import STARTERS, STARTING, TEXT, language_of, welcome

log = logging.getLogger("rag.app")

SERVER_DEFAULT = "server default"  # the reasoning-effort choice that sends none

try:  # read and checked once: a bad setting stops `chainlit run` here, naming the variable
    SETTINGS = load_settings()
except ConfigError as err:
    raise SystemExit(f"error: {err}") from None
RUNTIME = Runtime(SETTINGS)
# /demo: the workshop's side-by-side page (rag/web/demo.py), mounted ahead of Chainlit's catch-all route
# (its API wants a signed-in visitor only with password login: the local user's header login is not one to ask for)
mount_demo(chainlit_server, demo_router(RUNTIME.ready, compare_prompt=SETTINGS.compare_prompt, user=get_current_user if SETTINGS.auth_users else None))
WELCOME_WAIT_S = 20  # a page load waits at most this long for the start, then says "starting"
UPLOAD_RULES = UploadRules(max_bytes=int(SETTINGS.max_file_mb * MB))  # per file and per chat (rag.web.uploads)
# One source of truth for the upload size: Chainlit's own check (server and page) follows RAG_MAX_FILE_MB.
if chainlit_config.features.spontaneous_file_upload is not None:
    chainlit_config.features.spontaneous_file_upload.max_size_mb = max(1, math.ceil(SETTINGS.max_file_mb))


def bound_host() -> str:
    """The host ``chainlit run`` binds (its --host or CHAINLIT_HOST, else 127.0.0.1); "unknown" inside another server."""
    launcher = Path(sys.argv[0])
    by_chainlit_run = "chainlit" in (launcher.name, launcher.parent.name) and sys.argv[1:2] == ["run"]
    return chainlit_config.run.host if by_chainlit_run else "unknown"


_USERS = SETTINGS.users()
# Chat history (rag.web.history.plan_history): one per login user, or the one local user's while only this machine reaches the app.
HISTORY = plan_history(SETTINGS.history, SETTINGS.history_path(), bool(_USERS), bound_host())
if HISTORY.warning:
    log.warning(HISTORY.why)
else:
    log.info(HISTORY.why)
if HISTORY.path is not None:
    try:
        rag_history.open_history(HISTORY.path, SETTINGS.history_days)  # the schema, and RAG_HISTORY_DAYS's purge
    except ConfigError as err:
        raise SystemExit(f"error: {err}") from None
# The files uploaded into each chat, kept with its thread so that a resumed chat answers from them again.
UPLOAD_STORE = rag_history.UploadStore(HISTORY.path) if HISTORY.path is not None else None
if _USERS or HISTORY.local_user:  # a login: the password form, or the local user's (header) login
    # Chainlit signs its login cookie with CHAINLIT_AUTH_SECRET and refuses to start without one.
    os.environ.setdefault(
        "CHAINLIT_AUTH_SECRET",
        SETTINGS.auth_secret.get_secret_value() if SETTINGS.auth_secret else secrets.token_urlsafe(32),
    )
if HISTORY.local_user:

    @cl.header_auth_callback
    async def local_login(headers) -> cl.User:
        """No login form: whoever reaches the app is the local user, so their chats are in the sidebar (see HISTORY)."""
        return cl.User(identifier=LOCAL_USER, metadata={"provider": "local"})


if _USERS:  # RAG_AUTH_USERS: Chainlit's password login, off by default

    @cl.password_auth_callback
    async def login(username: str, password: str) -> cl.User | None:
        expected = _USERS.get(username)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            return None
        return cl.User(identifier=username, metadata={"provider": "password"})


async def runtime() -> tuple[Settings, Index, Tiers, IndexReport]:
    """Settings, index and tiers, built once per process (raises the ``RagError`` that stopped the start)."""
    parts = await RUNTIME.ready()
    return parts.settings, parts.index, parts.tiers, parts.report


@cl.on_app_startup
async def startup() -> None:
    RUNTIME.begin()  # index and tiers build while the first page loads


@cl.data_layer
def data_layer():
    """Chat history in SQLite, when there is one (``HISTORY``)."""
    if HISTORY.path is None:
        return None
    from rag.web.datalayer import SQLiteDataLayer

    return SQLiteDataLayer(HISTORY.path, UPLOAD_STORE)  # deleting a chat deletes its uploads too


@cl.on_app_shutdown
async def shutdown() -> None:
    await RUNTIME.close()


def _turkish() -> bool:
    try:
        return language_of(cl.context.session.language) == "tr"
    except Exception:  # noqa: BLE001 - no session (tests without a browser)
        return False


def starter_list(language: str | None) -> list[cl.Starter]:
    return [cl.Starter(label=label, message=message) for label, message in STARTERS[language_of(language)]]


@cl.set_starters
async def starters(user=None, language=None) -> list[cl.Starter]:
    return starter_list(language)


@cl.set_chat_profiles
async def chat_profiles(user=None, language=None) -> list[cl.ChatProfile]:
    """One profile: its description is the welcome (shown with the starters, which a message would hide)."""
    lang = language_of(language)
    try:
        parts = await RUNTIME.ready(timeout=WELCOME_WAIT_S)
        description = welcome(lang, SETTINGS.docs_dir, parts.report, parts.tiers.lines())
    except TimeoutError:
        description = STARTING[lang]
    except RagError as err:
        description = f"**The assistant could not start:** {err}"
    return [cl.ChatProfile(name="Grounded Assistant", markdown_description=description, icon="/public/assistant.svg", starters=starter_list(language), default=True)]


@cl.on_chat_start
async def on_chat_start() -> None:
    try:
        settings, index, tiers, summary = await runtime()
    except RagError as err:
        await cl.Message(content=f"**The assistant could not start:** {err}").send()
        return
    rag_chat.begin(index)
    chosen = await cl.ChatSettings(chat_controls(settings, _turkish())).send()
    cl.user_session.set("chat_settings_values", chosen)
    # The welcome is the chat profile's description (see chat_profiles): a message here would hide the starters.


@cl.on_chat_resume
async def on_chat_resume(thread: dict) -> None:
    """A chat opened again from the history: its turns are its messages; its settings and uploads come back here."""
    try:
        settings, index, tiers, summary = await runtime()
    except RagError as err:
        thread.setdefault("steps", []).append(cl.Message(content=f"**The assistant could not start:** {err}").to_dict())
        return
    values = await rag_chat.restore_settings(chat_controls(settings, _turkish()))
    cl.user_session.set("chat_settings_values", values)
    await rag_chat.resume(thread, index, UPLOAD_RULES, UPLOADS, UPLOAD_STORE)


def setting_bounds(name: str) -> tuple[float, float]:
    """The (min, max) that ``Settings`` allows for a field: a control never offers less, or more."""
    low = high = None
    for rule in Settings.model_fields[name].metadata:
        low = getattr(rule, "ge", getattr(rule, "gt", low))
        high = getattr(rule, "le", getattr(rule, "lt", high))
    assert low is not None and high is not None, f"{name} has no bounds"
    return float(low), float(high)


def chat_controls(settings: Settings, turkish: bool = False) -> list:
    """The chat-settings controls: each seeded from the setting it overrides, with that setting's range."""
    top_k = setting_bounds("top_k")
    temperature = setting_bounds("slm_temperature")
    short = setting_bounds("short_answer_chars")
    return [
        Slider(id="top_k", label="Passages per question (top-k, RAG_TOP_K)", initial=settings.top_k, min=top_k[0], max=top_k[1], step=1),
        Select(id="escalate", label="Escalation to the LLM tier (RAG_ESCALATE)", values=["auto", "always", "never"], initial_value=settings.escalate),
        Select(id="mode", label="Escalation mode (RAG_ESCALATION_MODE)", values=["refine", "regenerate"], initial_value=settings.escalation_mode),
        Slider(
            id="short_chars", label="Short-answer threshold in characters (RAG_SHORT_ANSWER_CHARS)", initial=settings.short_answer_chars,
            min=short[0], max=short[1], step=50,
        ),
        Slider(id="slm_temperature", label="SLM temperature (RAG_SLM_TEMPERATURE)", initial=settings.slm_temperature, min=temperature[0], max=temperature[1], step=0.1),
        Slider(id="llm_temperature", label="LLM temperature (RAG_LLM_TEMPERATURE)", initial=settings.llm_temperature, min=temperature[0], max=temperature[1], step=0.1),
        Select(
            id="reasoning_effort", label="Reasoning effort of the LLM tier (RAG_LLM_REASONING_EFFORT)", values=[*REASONING_EFFORTS, SERVER_DEFAULT],
            initial_value=settings.llm_reasoning_effort or SERVER_DEFAULT,
        ),
        Switch(id="show_draft", label="Show the SLM draft when escalating", initial=True),
    ]


@cl.on_settings_update
async def on_settings_update(values: dict) -> None:
    cl.user_session.set("chat_settings_values", values)


@cl.action_callback("session_stats")
async def on_stats_action(action: cl.Action) -> None:
    await show_stats()


async def show_stats() -> None:
    stats = SessionStats(rag_chat.measured())  # the answers still in the chat: an edit takes its successors out
    if not stats.turns:
        await cl.Message(content="No turns yet: ask a question first.").send()
        return
    chart = cl.Plotly(name="Session", figure=session_figure(stats.turns), display="inline")
    votes = await rag_chat.votes()  # None: no history, so no thumbs to count
    voted = "" if votes is None else f"\n\nVotes on these answers: 👍 {votes[0]} · 👎 {votes[1]}"
    await cl.Message(content="**This session so far**\n\n" + session_table(stats) + voted, elements=[chart]).send()


@cl.on_message
async def on_message(message: cl.Message) -> None:
    try:
        settings, index, tiers, summary = await runtime()
    except RagError as err:
        await cl.Message(content=f"**The assistant could not start:** {err}").send()
        return
    chat = rag_chat.current(index)
    for element in message.elements or []:
        await rag_chat.add_upload(chat, element, UPLOAD_RULES, UPLOADS, UPLOAD_STORE)
    question = message.content.strip()
    if not question:
        return
    if question.lower() in ("/stats", "/istatistik"):
        await show_stats()
        return
    if question.lower() in ("/status", "/durum"):
        await cl.Message(content=welcome("tr" if _turkish() else "en", settings.docs_dir, summary, tiers.lines())).send()
        return
    await answer(question, settings, index, tiers, chat.overlay)
    await rag_chat.answered(chat)  # the first answer names the chat in the history


async def answer(question: str, settings: Settings, index: Index, tiers: Tiers, overlay: Overlay) -> None:
    values = cl.user_session.get("chat_settings_values") or {}
    config = AssistantConfig.from_settings(settings)
    config = dataclasses.replace(
        config,
        top_k=int(values.get("top_k", config.top_k)),
        policy=dataclasses.replace(config.policy, short_chars=int(values.get("short_chars", config.policy.short_chars))),
    )
    assistant = Assistant.from_tiers(index, config, tiers)
    history = rag_chat.history()  # the turns still in Chainlit's chat context (an edit drops the later ones)
    show_draft = bool(values.get("show_draft", True))
    effort = values.get("reasoning_effort")
    efforts = {"llm": None if effort == SERVER_DEFAULT else effort} if effort else None
    msg = cl.Message(content="")
    lang = "en"
    streaming = "slm"  # the tier whose text is in ``msg``
    thinking: ThinkingStep | None = None  # the open Thinking step, while a tier thinks
    waiting: cl.Message | None = None  # "waiting for the model, N ahead", while the turn is queued for it
    done: Done | None = None
    events = assistant.ask(
        question, overlay=overlay, history=history, escalate=values.get("escalate"),
        mode=values.get("mode"), reasoning_effort=efforts,
        temperature={tier: float(values[f"{tier}_temperature"]) for tier in ("slm", "llm") if values.get(f"{tier}_temperature") is not None},
    )
    try:
        async for event in events:
            if isinstance(event, Queued) or waiting is not None:  # queued for the model: say where it stands until it starts
                waiting = await queue_status(waiting, event, lang)
                if isinstance(event, Queued):
                    continue
            if isinstance(event, Retrieved):
                lang = event.result.lang if event.result.lang in TEXT else "en"
                await retrieval_step(question, event)
            elif isinstance(event, TierStart):
                thinking = await close_thinking(thinking)
                if (event.tier != "slm" or event.reason) and msg.content:  # a later tier, or the SLM asked again
                    await close_draft(msg, show_draft, lang, streaming)
                    msg = cl.Message(content="")
                streaming = event.tier
            elif isinstance(event, Thinking):
                thinking = thinking or ThinkingStep(TEXT[lang])
                await thinking.add(event.text)
            elif isinstance(event, Token):
                if thinking is not None:  # the answer starts: close the thinking; the answer goes below it
                    thinking = await close_thinking(thinking)
                    if not msg.content:
                        msg = cl.Message(content="")
                await msg.stream_token(event.text)
            elif isinstance(event, TierEnd):
                thinking = await close_thinking(thinking)
                if event.error:
                    await cl.Message(content=f"⚠️ {TIER_LABELS.get(event.tier, event.tier)}: {event.error}").send()
            elif isinstance(event, Escalation):
                await escalation_note(event, lang)
            elif isinstance(event, Done):
                done = event
    except asyncio.CancelledError:  # Stop: keep and save what was streamed
        await events.aclose()  # at once: the model request ends and its place in the queue goes to the next chat
        await queue_status(waiting, None, lang)
        await close_thinking(thinking)
        msg.content += "\n\n*(stopped)*"
        await msg.send()
        raise
    if done is None:
        return
    await finish(msg, done, lang, question)


class ThinkingStep:
    """A model's thinking, streamed live into a collapsible step: shown, never saved.

    Chainlit stores a step when it is sent or updated, but streaming stores nothing. So the
    thinking is only streamed, and closing it (its title becomes the duration, its end time
    makes the UI collapse it) goes to the UI alone: thinking is never part of the saved chat.
    """

    def __init__(self, words: dict) -> None:
        from chainlit.utils import utc_now

        self.words = words
        run = cl.context.current_step  # the handler's run: the step goes among its messages, in order
        self.step = cl.Step(name=words["thinking"], type="llm", default_open=True, auto_collapse=True, parent_id=run.id if run else None)
        self.step.start = utc_now()  # "Using …" with a shimmer while it runs
        self.started = time.perf_counter()

    async def add(self, text: str) -> None:
        await self.step.stream_token(text)

    async def close(self) -> None:
        from chainlit.utils import utc_now

        self.step.name = self.words["thought"].format(seconds=time.perf_counter() - self.started)
        self.step.end = utc_now()
        self.step.streaming = False
        await cl.context.emitter.update_step(self.step.to_dict())


async def close_thinking(step: ThinkingStep | None) -> ThinkingStep | None:
    """Close the open Thinking step, if any; returns the new open step: none."""
    if step is not None:
        await step.close()
    return None


async def retrieval_step(question: str, event: Retrieved) -> None:
    result = event.result
    async with cl.Step(name="Retrieval", type="tool", default_open=False) as step:
        step.input = question
        rows = [f"{n}. `{h.source}` › {h.heading} (score {h.score:.2f}{', uploaded' if h.origin == 'upload' else ''})" for n, h in enumerate(result.hits, 1)]
        c = result.confidence
        verdict = "covered" if c.covered else "probably not covered by the documents"
        # a follow-up was searched with words carried from the conversation: say which (rag.search.followup)
        searched = f"{result.searched_note()}\n\n" if result.carried else ""
        step.output = searched + "\n".join(rows or ["no passages found"]) + f"\n\ncoverage {c.coverage:.2f}, margin {c.margin:.2f}: {verdict} · {result.elapsed_ms:.1f} ms"


async def close_draft(msg: cl.Message, show_draft: bool, lang: str, tier: str = "slm") -> None:
    """A streamed draft stays (it was seen), labelled with the tier that wrote it (the SLM's, or an LLM answer
    the sources did not back); collapsed into a step when hidden by the setting."""
    label = TIER_LABELS.get(tier, tier)
    if show_draft:
        msg.content = TEXT[lang]["draft"].format(tier=label) + "\n\n" + msg.content
        await msg.send()
        return
    draft = msg.content
    await msg.remove()
    async with cl.Step(name=f"{label} draft", type="llm", default_open=False) as step:
        step.output = draft


async def queue_status(status: cl.Message | None, event: object, lang: str) -> cl.Message | None:
    """The turn's place in the model's queue: one small message, updated as the line moves, removed when any
    other event comes (the model started); returns the message while it is shown."""
    if not isinstance(event, Queued):
        if status is not None:
            await status.remove()
        return None
    text = TEXT[lang]["queued"].format(ahead=event.ahead)
    if status is None:
        status = cl.Message(content=text)
        await status.send()
    else:
        status.content = text
        await status.update()
    return status


async def escalation_note(event: Escalation, lang: str) -> None:
    words = TEXT[lang]
    reasons = ", ".join(f"`{r}` ({words['reasons'].get(r, r)})" for r in event.reasons)
    if event.to == "llm":
        text = words["escalated"].format(mode=event.mode, reasons=reasons)
    else:
        text = words["skipped"].format(reasons=reasons, why=event.skipped)
    await cl.Message(content=text).send()


async def finish(msg: cl.Message, done: Done, lang: str, question: str) -> None:
    """The final answer: text, badge, sources and metrics; its metadata is the turn (``rag.web.chat.answer_metadata``)."""
    msg.metadata = rag_chat.answer_metadata(question, done)
    sources = [cl.Text(name=f"Source {s['number']}", content=rag_chat.source_text(s), display="side") for s in msg.metadata["sources"]]
    cited = [f"Source {n}" for n in range(1, len(done.hits) + 1)]
    words = TEXT[lang]
    footer = [f"\n\n---\n{words['badges'].get(done.tier, done.tier)}"]
    if done.hits:
        footer.append(f" · {words['sources']}: " + ", ".join(cited))
    for note in done.unsaid:  # escalation and tier failures were shown as they happened
        footer.append(f"\n\n*{note}*")
    footer.append("\n\n" + metrics_table(done.metrics))
    # the final answer as the pipeline kept it (never thinking: a bare </think> can turn streamed text into
    # thinking after the fact), also when the tier streamed nothing
    msg.content = done.answer + "".join(footer)
    msg.elements = sources + [cl.Plotly(name="Latency", figure=latency_figure(done.metrics), display="inline")]
    msg.actions = [cl.Action(name="session_stats", payload={}, label="Session stats")]
    await msg.send()


# What all chats' uploads together may hold (rag.search.budget): each chat gives its share back when it ends.
UPLOADS = UploadBudget(int(SETTINGS.max_uploads_mb * MB))


@cl.on_chat_end
async def on_chat_end() -> None:
    """A disconnect: a new chat frees the uploads (and their share of ``UPLOADS``) now, a dropped socket only if it never comes back."""
    await rag_chat.end()
