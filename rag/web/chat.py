"""One chat in the app: its turns, read from the messages Chainlit keeps, and its uploads.

Chainlit keeps each chat's messages (``cl.chat_context``): it adds every message
the app sends, drops an edited message's successors, and refills the list from
the database when a thread is resumed. So the conversation is read from there,
never kept in a copy of its own that an edit would leave behind: every final
answer the app sends carries ``answer_metadata`` (the question, the plain
answer without its footer, the tier, the sources, the metrics), and ``turns``
and ``turn_metrics`` pick those messages out, passing over notes, drafts,
upload receipts and stopped answers.

The rest of a chat's state is a ``Chat`` in ``cl.user_session``: its uploads
(an overlay of the index, holding its share of the process's upload budget). A
file the user drops into the chat is read and parsed in a worker thread (other
chats go on meanwhile), and the chat is told what happened; with a history, the
file is stored with the chat (``rag.web.history.UploadStore``: Chainlit deletes its
own copy with the session).

A chat opened again from the history (``resume``) gets back what its messages do
not hold: its uploads (from the store; one whose file is gone is named in the
chat, which goes on without it), its chat settings, and the ``Source N`` passages
and latency charts of its answers, rebuilt from their metadata (Chainlit's data
layer keeps no element files without a storage provider).

When a chat ends. Chainlit calls ``on_chat_end`` on every socket disconnect (a
laptop lid, a Wi-Fi drop, a proxy's idle timeout), and a client that comes back
within ``[project] session_timeout`` gets the same session, and the same chat,
back. So ``end`` frees the uploads at once only when the client asked for a new
chat (Chainlit marks that session ``to_clear``); otherwise it frees them once
Chainlit has dropped the session after its timeout, and not if it came back.

The pure half (metadata, turns, metrics) takes plain messages or step dicts and
is tested without Chainlit; the rest runs inside a Chainlit context and imports
Chainlit in its functions, never at module level.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import LoadError
from rag.web.history import UploadStore
from rag.search.index import Index, Overlay
from rag.tiers.metrics import Prices, TierMetrics, TurnMetrics
from rag.search.followup import Turn
from rag.search.budget import UploadBudget
from rag.web.uploads import UploadRules
from rag.web.uploads import add_upload as rag_add_upload

if TYPE_CHECKING:
    from rag.answer.pipeline import Done

__all__ = [
    "ANSWER", "UPLOAD", "Chat", "add_upload", "answer_metadata", "answered", "answers", "begin", "current", "end", "history", "measured",
    "metadata_of", "restore_settings", "resume", "source_text", "turn_metrics", "turns", "uploads_announced", "votes",
]

ANSWER = "answer"  # metadata["rag"] of a final answer message
UPLOAD = "upload"  # metadata["rag"] of the message that says a file was added (metadata["source"]: its name in the chat)


# ---------------------------------------------------------------- pure: messages in, turns out


def answer_metadata(question: str, done: Done) -> dict[str, object]:
    """What a final answer message carries (``msg.metadata``): all a later turn, /stats or a resume needs."""
    return {
        "rag": ANSWER,
        "question": question,
        "answer": done.answer,
        "tier": done.tier,
        "sources": [
            {"number": n, "source": h.source, "heading": h.heading, "page": h.chunk.page, "score": round(h.score, 4),
             "origin": h.origin, "text": h.text}
            for n, h in enumerate(done.hits, 1)
        ],
        "metrics": dataclasses.asdict(done.metrics),
    }


def source_text(source: dict) -> str:
    """The text of a ``Source N`` element: where the passage is from, its score, the passage."""
    page = f" (page {source['page']})" if source.get("page") else ""
    uploaded = " · uploaded to this chat" if source.get("origin") == "upload" else ""
    return f"{source.get('source', '')} › {source.get('heading', '')}{page}\nscore {float(source.get('score') or 0):.2f}{uploaded}\n\n{source.get('text', '')}"


def metadata_of(message: object) -> dict:
    """A message's metadata: a ``cl.Message``'s attribute or a step dict's key (text on SQLite, decoded)."""
    raw = message.get("metadata") if isinstance(message, dict) else getattr(message, "metadata", None)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return {}
    return raw if isinstance(raw, dict) else {}


def answers(messages: Iterable[object]) -> list[dict]:
    """The metadata of the final answers among ``messages``, in order."""
    return [meta for meta in map(metadata_of, messages) if meta.get("rag") == ANSWER]


def turns(messages: Iterable[object]) -> list[Turn]:
    """The conversation so far: one ``Turn`` per final answer among ``messages`` (oldest first)."""
    return [Turn(str(meta.get("question", "")), str(meta.get("answer", ""))) for meta in answers(messages)]


def uploads_announced(messages: Iterable[object]) -> list[str]:
    """The names of the files the chat said it added, in order."""
    names = [str(meta.get("source")) for meta in map(metadata_of, messages) if meta.get("rag") == UPLOAD and meta.get("source")]
    return list(dict.fromkeys(names))


def _fields(cls: type, data: dict) -> dict:
    names = {f.name for f in dataclasses.fields(cls)}
    return {key: value for key, value in data.items() if key in names}


def turn_metrics(messages: Iterable[object]) -> list[TurnMetrics]:
    """The measurements of each final answer among ``messages`` (fields a message lacks keep their defaults)."""
    found = []
    for meta in answers(messages):
        data = meta.get("metrics")
        if not isinstance(data, dict):
            continue
        turn = TurnMetrics(**_fields(TurnMetrics, {k: v for k, v in data.items() if k not in ("tiers", "llm_prices")}))
        turn.tiers = [TierMetrics(**_fields(TierMetrics, t)) for t in data.get("tiers") or [] if isinstance(t, dict)]
        turn.llm_prices = Prices(**_fields(Prices, data.get("llm_prices") or {}))
        found.append(turn)
    return found


# ---------------------------------------------------------------- in a Chainlit chat


def history() -> list[Turn]:
    """The turns of the current chat, from Chainlit's chat context (what an edit left of it)."""
    from chainlit.chat_context import chat_context

    return turns(chat_context.get())


def measured() -> list[TurnMetrics]:
    """The measurements of the current chat's answers (what /stats shows)."""
    from chainlit.chat_context import chat_context

    return turn_metrics(chat_context.get())


@dataclass(eq=False)
class Chat:
    """One chat's state beside its messages: its uploads and how many there are."""

    overlay: Overlay
    uploads: int = 0
    handled: set[str] = field(default_factory=set)  # ids of the upload elements already added: an edit sends them again
    named: bool = False  # the chat has its name in the sidebar: its first question


KEY = "chat"  # the Chat in cl.user_session (Chainlit saves that dict with the thread: a Chat is saved as null)
EXPIRY_MARGIN_S = 5.0  # after Chainlit's session timeout, before looking whether it dropped the session
_EXPIRIES: set[asyncio.Task] = set()  # the running expiry watches (a task nobody holds may be collected)


def begin(index: Index) -> Chat:
    """A new chat: no uploads yet."""
    import chainlit as cl

    chat = Chat(index.new_overlay())
    cl.user_session.set(KEY, chat)
    return chat


def current(index: Index) -> Chat:
    """The current chat's state (a new one if the chat has none: a message that came before the chat start)."""
    import chainlit as cl

    chat = cl.user_session.get(KEY)
    return chat if isinstance(chat, Chat) else begin(index)


async def votes() -> tuple[int, int] | None:
    """(thumbs up, thumbs down) on the current chat's answers; None without a history (no thumbs then)."""
    import chainlit as cl
    from chainlit.data import get_data_layer

    from rag.web.datalayer import SQLiteDataLayer
    from rag.web.history import vote_counts

    layer = get_data_layer()
    if not isinstance(layer, SQLiteDataLayer):
        return None
    return await asyncio.to_thread(vote_counts, layer.path, cl.context.session.thread_id)


async def add_upload(chat: Chat, element, rules: UploadRules, budget: UploadBudget, store: UploadStore | None = None) -> None:
    """Add a file from the user's message to the chat, and say what happened (added, already here, refused and why).

    With a ``store`` (a history), the file is kept with the chat's thread for a resume.
    """
    import chainlit as cl

    if element.id in chat.handled:  # an edited message comes back with its files: they are in the chat already
        return
    chat.handled.add(element.id)
    name = Path(element.name or "upload").name
    try:
        source = Path(element.path) if element.path else (element.content or b"")
        started = asyncio.get_running_loop().time()
        # reading (up to RAG_MAX_FILE_MB) and parsing happen in a worker thread: other chats go on meanwhile
        added = await asyncio.to_thread(rag_add_upload, chat.overlay, name, source, chat.uploads, rules, budget)
        ms = (asyncio.get_running_loop().time() - started) * 1000
        if store is not None and not added.duplicate:  # the file as it came (Chainlit deletes its copy with the session)
            await asyncio.to_thread(_store, store, cl.context.session.thread_id, added.source, source)
    except (LoadError, OSError) as err:
        await cl.Message(content=f"`{name}` was not added: {getattr(err, 'reason', err)}").send()
        return
    if added.duplicate:  # the same bytes again: nothing added, nothing counted
        await cl.Message(content=f"`{name}` is already in this chat (as `{added.source}`): not added again.").send()
        return
    chat.uploads += 1
    renamed = f" as `{added.source}` (a different `{added.requested}` is already here)" if added.renamed else ""
    await cl.Message(
        content=f"📎 Added `{name}` to this chat{renamed}: {len(added)} passages in {ms:.0f} ms.",
        metadata={"rag": UPLOAD, "source": added.source},
    ).send()


def _store(store: UploadStore, thread_id: str, source: str, data: Path | bytes) -> None:
    store.save(thread_id, source, data.read_bytes() if isinstance(data, Path) else data)


async def restore_settings(controls: list) -> dict:
    """A resumed chat's settings panel: ``controls`` set to the values the chat had (a value no longer offered is not)."""
    import chainlit as cl

    saved = cl.user_session.get("chat_settings_values") or cl.context.session.chat_settings or {}
    for control in controls:
        if control.id not in saved:
            continue
        value = saved[control.id]
        items = getattr(control, "items", None)
        low, high = getattr(control, "min", None), getattr(control, "max", None)
        if items and value not in items:
            continue
        if isinstance(value, (int, float)) and low is not None and high is not None and not low <= value <= high:
            continue
        control.initial = value
    return await cl.ChatSettings(controls).send()


async def resume(thread: dict, index: Index, rules: UploadRules, budget: UploadBudget, store: UploadStore | None) -> Chat:
    """Chainlit's ``on_chat_resume``: the chat's uploads, and its answers' passages and charts, back.

    Chainlit shows the thread it passes here once this returns (the messages and elements of ``thread``, replacing
    whatever was sent meanwhile): so the rebuilt elements and the notes about uploads go into ``thread`` itself.
    """
    import chainlit as cl

    chat = begin(index)
    chat.named = True
    steps: list[dict] = thread.setdefault("steps", [])
    notes: list[str] = []
    stored = await asyncio.to_thread(store.load, thread["id"]) if store is not None else []
    for upload in stored:
        try:
            added = await asyncio.to_thread(rag_add_upload, chat.overlay, upload.source, upload.data, chat.uploads, rules, budget)
        except LoadError as err:
            notes.append(f"`{upload.source}` could not be added back to this chat: {getattr(err, 'reason', err)}")
            continue
        if not added.duplicate:
            chat.uploads += 1
    missing = [name for name in uploads_announced(steps) if name not in {u.source for u in stored}]
    if missing:
        names = ", ".join(f"`{name}`" for name in missing)
        notes.append(f"⚠️ {names} {'was' if len(missing) == 1 else 'were'} uploaded to this chat, but the file is no longer "
                     "stored: answers go on without it. Upload it again to use it.")
    thread.setdefault("elements", [])
    for step in steps:
        meta = metadata_of(step)
        if meta.get("rag") == ANSWER:
            thread["elements"] = (thread["elements"] or []) + await _elements_of(step, meta)
    for note in notes:  # shown with the thread, below its messages; not saved (the next resume says it again)
        steps.append(cl.Message(content=note).to_dict())
    return chat


async def _elements_of(step: dict, meta: dict) -> list[dict]:
    """An answer's ``Source N`` texts and latency chart, as element dicts served from this session's files."""
    import chainlit as cl
    from chainlit.config import config

    from rag.web.charts import latency_figure

    session = cl.context.session
    made: list[cl.Text | cl.Plotly] = [
        cl.Text(name=f"Source {s.get('number', n)}", content=source_text(s), display="side")
        for n, s in enumerate(meta.get("sources") or [], 1) if isinstance(s, dict)
    ]
    (metrics,) = turn_metrics([step]) or [None]
    if metrics is not None and metrics.tiers:
        made.append(cl.Plotly(name="Latency", figure=latency_figure(metrics), display="inline"))
    found = []
    for element in made:
        mime = "application/json" if isinstance(element, cl.Plotly) else "text/plain"
        file = await session.persist_file(name=element.name, mime=mime, content=element.content)
        element.for_id, element.thread_id, element.chainlit_key, element.mime = step["id"], step.get("threadId"), file["id"], mime
        found.append({**element.to_dict(), "url": f"{config.run.root_path or ''}/project/file/{file['id']}?session_id={session.id}"})
    return found


async def answered(chat: Chat) -> None:
    """After a turn: the chat's first answer names it in the history after its question, cut to a line.

    (Chainlit names a thread after its first message, which may be a file with no text, or a command.)
    """
    import chainlit as cl
    from chainlit.data import get_data_layer

    if chat.named:
        return
    done = history()
    layer = get_data_layer()
    if not done or layer is None:
        return
    chat.named = True
    await layer.update_thread(cl.context.session.thread_id, name=done[0].question)


async def end() -> None:
    """Chainlit's ``on_chat_end``: free the uploads now for a new chat; for a disconnect, once the session expired."""
    import chainlit as cl
    from chainlit.config import config

    chat = cl.user_session.get(KEY)
    if not isinstance(chat, Chat):
        return
    session = cl.context.session
    if getattr(session, "to_clear", False) is True:  # the client asked for a new chat: this one is over
        await asyncio.to_thread(chat.overlay.clear)
        return
    task = asyncio.create_task(_expire(chat, session.id, config.project.session_timeout + EXPIRY_MARGIN_S))
    _EXPIRIES.add(task)
    task.add_done_callback(_EXPIRIES.discard)


async def _expire(chat: Chat, session_id: str, after_s: float) -> None:
    """Free the chat's uploads if Chainlit dropped its session (a client that came back keeps it: nothing to do)."""
    from chainlit.session import WebsocketSession

    await asyncio.sleep(after_s)
    if WebsocketSession.get_by_id(session_id) is None:
        await asyncio.to_thread(chat.overlay.clear)
