"""The Chainlit app: Chainlit events in, ``rag`` calls, rendering out.

For now (retrieval core only) a turn shows the passages that best match the
question as cited sources; the answering pipeline plugs in here next.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path

import chainlit as cl

from rag.errors import LoadError, RagError
from rag.index import Index, open_index
from rag.retrieval import search
from rag.settings import Settings, load_settings

ALLOWED_UPLOADS = {".md", ".markdown", ".txt", ".rst", ".html", ".htm", ".pdf", ".docx"}


@lru_cache(maxsize=1)
def _library() -> tuple[Settings, Index, str]:
    settings = load_settings()
    index, report = open_index(settings.docs_dir, settings.cache_dir, settings.index_config())
    summary = f"{report.files} documents, {report.chunks} passages indexed from `{settings.docs_dir}`"
    return settings, index, summary


@cl.on_chat_start
async def on_chat_start() -> None:
    try:
        _, index, summary = await asyncio.to_thread(_library)
    except RagError as err:
        await cl.Message(content=f"**The documents could not be indexed:** {err}").send()
        return
    cl.user_session.set("overlay", index.new_overlay())
    await cl.Message(content=f"Ready: {summary}. Ask a question, or drop a document into the chat.").send()


@cl.on_message
async def on_message(message: cl.Message) -> None:
    try:
        settings, index, _ = _library()
    except RagError as err:
        await cl.Message(content=f"**The documents could not be indexed:** {err}").send()
        return
    overlay = cl.user_session.get("overlay")
    for element in message.elements or []:
        await _add_upload(overlay, element)
    if not message.content.strip():
        return
    async with cl.Step(name="Retrieval", type="tool") as step:
        step.input = message.content
        result = search(index, message.content, settings.top_k, overlay=overlay, language=settings.language, min_coverage=settings.min_coverage)
        step.output = "\n".join(f"{h.rank}. {h.source} › {h.heading} ({h.score:.2f})" for h in result.hits) or "no passages"
    if not result.hits or not result.confidence.covered:
        await cl.Message(content="The documents don't seem to cover this question.").send()
        return
    sources = [cl.Text(name=f"Source {h.rank}", content=f"{h.source} › {h.heading}\n\n{h.text}", display="side") for h in result.hits]
    lines = [f"- Source {h.rank}: {h.source} ({h.heading})" for h in result.hits]
    await cl.Message(content="The most relevant passages:\n" + "\n".join(lines), elements=sources).send()


async def _add_upload(overlay, element) -> None:
    name = Path(element.name or "upload").name
    if Path(name).suffix.lower() not in ALLOWED_UPLOADS:
        await cl.Message(content=f"`{name}` was not added: only {', '.join(sorted(ALLOWED_UPLOADS))} files can be added.").send()
        return
    try:
        data = Path(element.path).read_bytes() if element.path else (element.content or b"")
        chunks = await asyncio.to_thread(overlay.add_bytes, name, data)
    except (LoadError, OSError) as err:
        await cl.Message(content=f"`{name}` was not added: {getattr(err, 'reason', err)}").send()
        return
    await cl.Message(content=f"Added `{name}` to this chat: {len(chunks)} passages.").send()
