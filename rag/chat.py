"""One chat's state in the app: its uploads, as Chainlit hands them over.

The Chainlit side of ``rag.uploads``: a file the user drops into the chat is
read and parsed in a worker thread (other chats go on meanwhile) and the chat
is told what happened. Chainlit is imported inside the functions, never at
module level.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rag.errors import LoadError
from rag.index import Overlay
from rag.uploads import UploadBudget, UploadRules
from rag.uploads import add_upload as rag_add_upload

__all__ = ["add_upload"]


async def add_upload(overlay: Overlay, element, rules: UploadRules, budget: UploadBudget) -> None:
    import chainlit as cl

    name = Path(element.name or "upload").name
    count = int(cl.user_session.get("uploads") or 0)
    try:
        source = Path(element.path) if element.path else (element.content or b"")
        started = asyncio.get_running_loop().time()
        # reading (up to RAG_MAX_FILE_MB) and parsing happen in a worker thread: other chats go on meanwhile
        added = await asyncio.to_thread(rag_add_upload, overlay, name, source, count, rules, budget)
        ms = (asyncio.get_running_loop().time() - started) * 1000
    except (LoadError, OSError) as err:
        await cl.Message(content=f"`{name}` was not added: {getattr(err, 'reason', err)}").send()
        return
    if added.duplicate:  # the same bytes again: nothing added, nothing counted
        await cl.Message(content=f"`{name}` is already in this chat (as `{added.source}`): not added again.").send()
        return
    cl.user_session.set("uploads", count + 1)
    renamed = f" as `{added.source}` (a different `{added.requested}` is already here)" if added.renamed else ""
    await cl.Message(content=f"📎 Added `{name}` to this chat{renamed}: {len(added)} passages in {ms:.0f} ms.").send()
