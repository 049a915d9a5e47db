"""The embedded model server's own process: ``python -m rag.tiers.llama_server [llama_cpp.server args]``.

It is llama-cpp-python's OpenAI-compatible server (``llama_cpp.server``), run
with two things that its command line cannot say:

- **Extra buffer types off** (unless ``--extra-buffers`` is given). llama.cpp
  repacks weights into "extra" CPU buffer types chosen for the CPU it runs on:
  ``CPU_REPACK`` (interleaved ``q4_K_8x8`` blocks on AVX2/AVX-512) and ``AMX``
  (Intel AMX tiles). The AMX path crashes on some Xeons (a general protection
  fault in ``libggml-cpu.so`` on the first completion: the tile-data permission
  is requested for the main thread only, not for the worker threads that run the
  tile instructions; llama.cpp issues #20824, PR #26954). With the extra buffer
  types off (``llama_model_params.use_extra_bufts = False``, the library's
  ``--no-repack``), the plain CPU kernels run on every x86-64 CPU. The cost was
  measured (docs/embedded-model.md): on this model it is small.
- **A lifeline to its parent.** The parent holds the write end of this process's
  stdin; a thread here blocks on reading it. When the parent exits for any
  reason (Ctrl-C, SIGTERM, SIGKILL, a crash, a reload that dropped it), the
  kernel closes that pipe, the read returns end-of-file, and this process exits
  at once. No ``atexit`` hope, no orphaned server using every core.
"""

from __future__ import annotations

import os
import sys
import threading

__all__ = ["disable_extra_buffers", "main"]


def disable_extra_buffers() -> None:
    """Make every model that llama-cpp-python loads in this process skip the extra buffer types.

    ``llama_cpp.Llama`` builds its model parameters from
    ``llama_cpp.llama_cpp.llama_model_default_params()`` and exposes no argument
    for ``use_extra_bufts``; wrapping that one function is the narrowest place to
    set it. Raises ``RuntimeError`` when the installed llama-cpp-python has no
    such field (a version the project was not tested with).
    """
    import llama_cpp.llama_cpp as lib

    original = lib.llama_model_default_params
    if getattr(original, "_rag_no_extra_buffers", False):
        return
    if "use_extra_bufts" not in {name for name, _ in lib.llama_model_params._fields_}:
        raise RuntimeError(
            "this llama-cpp-python has no llama_model_params.use_extra_bufts: reinstall the tested version "
            "(.venv/bin/pip install -e .)"
        )

    def defaults():  # type: ignore[no-untyped-def]
        params = original()
        params.use_extra_bufts = False
        return params

    defaults._rag_no_extra_buffers = True  # type: ignore[attr-defined]
    lib.llama_model_default_params = defaults


def _hold_lifeline() -> None:
    """Exit this process as soon as the parent's end of stdin closes."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    os._exit(0)  # the parent is gone: nothing here is worth a graceful shutdown


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    lifeline = "--lifeline" in args
    extra = "--extra-buffers" in args
    args = [a for a in args if a not in ("--lifeline", "--extra-buffers")]
    if lifeline:
        threading.Thread(target=_hold_lifeline, name="lifeline", daemon=True).start()
    if not extra:
        disable_extra_buffers()
    from llama_cpp.server.__main__ import main as serve

    sys.argv = [sys.argv[0], *args]
    serve()


if __name__ == "__main__":
    main()
