"""The workshop demo page (``/demo``) in a real browser, on the real app with scripted tiers.

One app process (``chainlit run app.py --headless``, from the repo root) for the
module, its SLM on the session's scripted server and its LLM on a second
scripted server of this module (so a test can kill the LLM alone), and one
headless Debian Chromium; each test gets a fresh browser context. The last
test runs an app of its own with no LLM configured. Screenshots go to
``artifacts/screenshots/demo-<what>.png``. The event stream itself is tested
without a browser in ``test_demo.py``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.helpers import CHROMIUM, assert_app_log_clean, chromium, running_app
from tests.support.scripted_server import Script, ScriptedServer, chunked

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
expect = playwright_sync.expect

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
SLM = "phi-4-mini-instruct-generic-cpu"
LLM = "gpt-oss-20b"
TIMEOUT = 30_000  # ms
COMPARE = "Explain in one sentence what a small language model is."  # the app's COMPARE_PROMPT

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def llm_server() -> Iterator[ScriptedServer]:
    """The LLM tier's own scripted server (a test stops it to kill the LLM tier alone)."""
    server = ScriptedServer([LLM]).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def app_server(scripted_server: ScriptedServer, llm_server: ScriptedServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    with running_app(
        tmp_path_factory.mktemp("demo-app"), RAG_HISTORY_DB="off", RAG_SLM_BASE_URL=scripted_server.base_url, RAG_LLM_BASE_URL=llm_server.base_url,
        COMPARE_PROMPT=COMPARE,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def app_url(app_server: tuple[str, Path]) -> str:
    return app_server[0]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


@pytest.fixture
def tiers(scripted: ScriptedServer, llm_server: ScriptedServer) -> tuple[ScriptedServer, ScriptedServer]:
    """(SLM server, LLM server), queues and request logs emptied; both answer "OK" by default."""
    llm_server.scripts.clear()
    llm_server.requests.clear()
    llm_server.default = Script(["OK"])
    return scripted, llm_server


class Page:
    """The demo page in a fresh browser context, and every request it made."""

    def __init__(self, page, requests: list[str], errors: list[str]) -> None:
        self.page, self.requests, self.errors = page, requests, errors

    def column(self, tier: str):
        return self.page.locator(f"#col-{tier}")

    def answer(self, tier: str):
        return self.column(tier).locator(".answer")

    def wait_ended(self, *tiers: str, phase: str = "done") -> None:
        for tier in tiers:
            expect(self.column(tier)).to_have_attribute("data-phase", phase, timeout=TIMEOUT)

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"demo-{name}.png"), full_page=True)


@pytest.fixture
def open_demo(browser, app_url: str):
    contexts = []

    def _open(locale: str = "en-US", url: str | None = None) -> Page:
        context = browser.new_context(locale=locale, viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(TIMEOUT)
        contexts.append(context)
        page = context.new_page()
        requests: list[str] = []
        errors: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url or f"{app_url}/demo")
        expect(page.locator("#run")).to_be_enabled()
        expect(page.locator("#col-slm .model")).not_to_have_text("", timeout=TIMEOUT)  # the config arrived
        return Page(page, requests, errors)

    yield _open
    for context in contexts:
        context.close()


def user_prompt(request: dict) -> str:
    return request["body"]["messages"][-1]["content"]


# ------------------------------------------------------------------ tests


def test_the_page_loads_with_nothing_leaving_127_0_0_1(open_demo, app_url: str) -> None:
    demo = open_demo()
    page = demo.page
    expect(page.locator("#prompt")).to_have_value(COMPARE)  # COMPARE_PROMPT, as `rag compare` reads it
    expect(demo.column("slm").locator(".model")).to_have_text(f"· {SLM}")
    expect(demo.column("llm").locator(".model")).to_have_text(f"· {LLM}")
    expect(page.locator("#index-info")).to_contain_text(re.compile(r"\d+ passages from \d+ documents"))
    assert page.evaluate("typeof Plotly.react") == "function"  # plotly.js, from the app
    expect(page.locator("#chart .main-svg").first).to_be_attached()
    page.wait_for_timeout(1000)  # anything the page would load later (fonts, tiles, telemetry) would be in by now
    assert demo.requests and all(u.startswith(app_url + "/") for u in demo.requests), demo.requests
    assert f"{app_url}/demo/static/plotly.min.js" in demo.requests
    assert demo.errors == []
    demo.shot("loaded")


def test_run_streams_into_both_columns_then_shows_metrics_and_the_chart(open_demo, tiers) -> None:
    slm, llm = tiers
    slm.enqueue(SLM, Script([f"slm{i} " for i in range(12)], chunk_delay=0.25))
    llm.enqueue(LLM, Script([f"llm{i} " for i in range(12)], chunk_delay=0.3))
    demo = open_demo()
    page = demo.page
    page.click("#run")
    # partial text in both columns while both streams still go
    expect(demo.answer("slm")).to_contain_text("slm2")
    expect(demo.answer("llm")).to_contain_text("llm2")
    assert "slm11" not in demo.answer("slm").inner_text() and "llm11" not in demo.answer("llm").inner_text()
    assert demo.column("slm").locator(".metrics").is_hidden() and demo.column("llm").locator(".metrics").is_hidden()
    expect(page.locator("#stop")).to_be_enabled()
    demo.shot("streaming")

    demo.wait_ended("slm", "llm")
    expect(demo.answer("slm")).to_have_text(" ".join(f"slm{i}" for i in range(12)) + " ")
    expect(demo.answer("llm")).to_have_text(" ".join(f"llm{i}" for i in range(12)) + " ")
    for tier in ("slm", "llm"):
        table = demo.column(tier).locator(".metrics")
        expect(table).to_be_visible()
        labels = [c.strip() for c in table.locator("td:first-child").all_text_contents()]
        assert labels == ["Prep", "TTFT (first token)", "First answer token", "Generation", "Total", "Tokens in / out", "Answer tok/s"]
        values = dict(zip(labels, (c.strip() for c in table.locator("td.num").all_text_contents())))
        assert values["Tokens in / out"] == "42 / 12"  # the server's usage: not marked ≈
        assert re.fullmatch(r"\d+(\.\d+)? (ms|s)", values["TTFT (first token)"])
        assert re.fullmatch(r"\d+\.\d", values["Answer tok/s"])
        expect(demo.column(tier).locator(".estimated")).to_be_hidden()
    # the chart: TTFT and total per tier
    expect(page.locator("#chart .scatterlayer .trace")).to_have_count(4)
    legend = page.locator("#chart .legendtext").all_text_contents()
    assert legend == ["SLM TTFT", "SLM total", "LLM TTFT", "LLM total"]
    expect(page.locator("#stop")).to_be_disabled()
    assert demo.errors == []
    demo.shot("run")


def test_run_x5_fills_the_percentile_table_and_copies_markdown(open_demo, tiers, browser) -> None:
    demo = open_demo()
    page = demo.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    expect(page.locator("#stats-hint")).to_be_visible()
    page.click("#run5")
    expect(page.locator("#status")).to_have_text("Finished 5 pass(es).", timeout=60_000)
    rows = page.locator("#stats tbody tr")
    expect(rows).to_have_count(2)
    head = [h.strip() for h in page.locator("#stats thead th").all_text_contents()]
    assert head[:4] == ["Tier", "Passes", "TTFT p50", "TTFT p95"] and "Total p95" in head
    for row, tier in zip(rows.all(), ("SLM", "LLM")):
        cells = [c.strip() for c in row.locator("td").all_text_contents()]
        assert cells[0] == tier and cells[1] == "5"
        assert all(re.fullmatch(r"\d+(\.\d+)? (ms|s)", c) for c in cells[2:8]), cells
    expect(page.locator("#stats-hint")).to_be_hidden()
    points = page.locator("#chart .scatterlayer .trace").first.locator(".point")
    expect(points).to_have_count(5)

    page.click("#copy")
    box = page.locator("#markdown")
    expect(box).to_be_visible()
    text = box.input_value()
    assert text.startswith(f"**Prompt:** {COMPARE}")
    assert len(re.findall(r"(?m)^\| \d+ \| SLM \| " + re.escape(SLM), text)) == 5
    assert len(re.findall(r"(?m)^\| \d+ \| LLM \| " + re.escape(LLM), text)) == 5
    assert re.search(r"(?m)^\| SLM \| 5 \| ", text) and re.search(r"(?m)^\| LLM \| 5 \| ", text)  # the p50/p95 table
    assert "| --- | --- | --- | ---: |" in text and "| --- | ---: | ---: |" in text  # names left, figures right
    expect(page.locator("#copied")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == text
    assert len(tiers[0].requests) == 5 and len(tiers[1].requests) == 5
    demo.shot("run-x5")


def test_stop_keeps_the_partial_text(open_demo, tiers) -> None:
    slm, llm = tiers
    slm.enqueue(SLM, Script([f"chunk{i} " for i in range(80)], chunk_delay=0.2))
    llm.enqueue(LLM, Script([f"word{i} " for i in range(80)], chunk_delay=0.2))
    demo = open_demo()
    page = demo.page
    page.click("#run")
    expect(demo.answer("slm")).to_contain_text("chunk2")
    expect(demo.answer("llm")).to_contain_text("word2")
    page.click("#stop")
    demo.wait_ended("slm", "llm", phase="stopped")
    expect(demo.column("slm").locator(".state")).to_have_text("stopped: the partial text is kept")
    kept = demo.answer("slm").inner_text(), demo.answer("llm").inner_text()
    assert kept[0].startswith("chunk0 chunk1 chunk2") and "chunk79" not in kept[0]
    time.sleep(1.0)  # nothing more arrives after the stop
    assert (demo.answer("slm").inner_text(), demo.answer("llm").inner_text()) == kept
    expect(page.locator("#run")).to_be_enabled()
    expect(page.locator("#status")).to_have_text("Stopped.")
    assert page.locator("#chart .scatterlayer .trace").count() == 0  # a stopped pass is not a measurement
    demo.shot("stopped")


def test_pasted_context_reaches_the_prompt(open_demo, tiers) -> None:
    slm, llm = tiers
    context = "The vault code is Owl-Lantern-7. It opens the north door of the lab."
    demo = open_demo()
    page = demo.page
    page.fill("#prompt", "What is the vault code?")
    page.fill("#context", context)
    page.click("#run")
    demo.wait_ended("slm", "llm")
    for server in (slm, llm):
        [request] = server.requests
        assert context in user_prompt(request) and user_prompt(request).endswith("What is the vault code?")
    expect(page.locator("#passages-panel")).to_be_hidden()
    demo.shot("pasted-context")


def test_the_docs_index_switch_shows_the_passages_used(open_demo, tiers) -> None:
    slm, llm = tiers
    demo = open_demo()
    page = demo.page
    page.fill("#prompt", "What port does Ollama listen on?")
    page.fill("#context", "pasted text that must not be used")
    page.check("#use-index")
    expect(page.locator("#context")).to_be_disabled()
    page.click("#run")
    demo.wait_ended("slm", "llm")
    panel = page.locator("#passages-panel")
    expect(panel).to_be_visible()
    items = panel.locator("#passages li")
    assert items.count() >= 1
    expect(items.first).to_contain_text("03-model-backends.md › Model backends › Ollama")
    expect(items.first.locator("blockquote")).to_contain_text("11434")
    expect(panel.locator("#passages-note")).to_contain_text(re.compile(r"Retrieved in \d+(\.\d+)? ms"))
    for server in (slm, llm):
        [request] = server.requests
        assert "Source 1 (03-model-backends.md › Model backends › Ollama)" in user_prompt(request)
        assert "must not be used" not in user_prompt(request)
    panel.scroll_into_view_if_needed()
    demo.shot("docs-index")


def test_thinking_is_shown_apart_from_the_answer(open_demo, tiers) -> None:
    slm, llm = tiers
    thought = "The user asks what an edge model is. Keep it to one sentence."
    answer = "An edge model runs on the device itself."
    llm.enqueue(LLM, Script(chunked(answer, 10), reasoning=chunked(thought, 8), chunk_delay=0.2))
    demo = open_demo()
    page = demo.page
    page.uncheck("#tier-slm")
    page.click("#run")
    thinking = demo.column("llm").locator(".thinking")
    expect(thinking).to_be_visible()
    expect(thinking.locator("summary")).to_have_text("Thinking…")
    expect(thinking.locator(".thinking-text")).to_contain_text("The user asks")
    demo.shot("thinking")
    demo.wait_ended("llm")
    expect(demo.column("slm")).to_have_attribute("data-phase", "off")
    expect(demo.column("slm").locator(".state")).to_have_text("not selected")
    expect(demo.answer("llm")).to_have_text(answer)
    expect(thinking.locator("summary")).to_have_text(re.compile(r"Thought for \d+\.\d s"))
    expect(thinking.locator(".thinking-text")).to_have_text(thought)
    labels = demo.column("llm").locator(".metrics td:first-child").all_text_contents()
    assert "Thinking" in labels
    assert [r["model"] for r in llm.requests] == [LLM] and slm.requests == []
    demo.shot("thought")


def test_turkish_browser_gets_turkish_strings(open_demo, tiers) -> None:
    demo = open_demo(locale="tr-TR")
    page = demo.page
    expect(page.locator("html")).to_have_attribute("lang", "tr")
    expect(page.locator("#run")).to_have_text("Çalıştır")
    expect(page.locator("#run5")).to_have_text("5× Çalıştır")
    expect(page.locator("label[for=context]")).to_have_text("Başvuru metni (RAG bağlamı)")
    expect(page.locator("#use-index + span")).to_have_text("Bunun yerine belge dizinini kullan")
    expect(page.locator("#copy")).to_have_text("Sonuçları Markdown olarak kopyala")
    page.click("#run")
    demo.wait_ended("slm", "llm")
    expect(demo.column("slm").locator(".state")).to_have_text("bitti")
    labels = demo.column("slm").locator(".metrics td:first-child").all_text_contents()
    assert labels[:3] == ["Hazırlık", "TTFT (ilk token)", "İlk yanıt token'ı"]
    assert page.locator("#chart .legendtext").all_text_contents() == ["SLM TTFT", "SLM toplam", "LLM TTFT", "LLM toplam"]
    demo.shot("turkish")


def test_the_chat_welcome_and_readme_link_to_the_demo(browser, app_url: str) -> None:
    for md in ("chainlit.md", "chainlit_tr-TR.md"):
        assert "](/demo)" in (ROOT / md).read_text(encoding="utf-8"), md
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT)
    try:
        page = context.new_page()
        page.goto(app_url)
        link = page.locator('#welcome-screen a[href="/demo"]')
        expect(link).to_have_text("workshop demo")
        expect(link).to_be_visible()
        expect(page.locator("#starters")).to_be_visible()  # the welcome screen has settled
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "demo-link-in-the-chat-welcome.png"))
        page.locator("#readme-button").click()
        expect(page.locator('[role=dialog] a[href="/demo"]').first).to_be_visible()
        page.keyboard.press("Escape")
        page.goto(f"{app_url}/demo")  # the link's target: the demo page, not Chainlit's SPA
        expect(page.locator("h1")).to_have_text("Workshop demo: SLM vs LLM")
        expect(page.locator("#col-llm .model")).to_have_text(f"· {LLM}")
    finally:
        context.close()


def test_a_dead_llm_tier_shows_its_reason_while_the_slm_column_completes(open_demo, tiers) -> None:
    """Runs after the others that need the LLM: it stops the LLM's server for good."""
    slm, llm = tiers
    slm.enqueue(SLM, Script(["Edge AI ", "runs on ", "the device."], chunk_delay=0.1))
    llm.stop()
    demo = open_demo()
    page = demo.page
    page.click("#run")
    demo.wait_ended("slm")
    demo.wait_ended("llm", phase="failed")
    expect(demo.answer("slm")).to_have_text("Edge AI runs on the device.")
    error = demo.column("llm").locator(".error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(f"Nothing answers at {llm.base_url}")
    expect(error).to_contain_text("set RAG_LLM_BASE_URL")
    expect(demo.column("llm").locator(".state")).to_have_text(re.compile(r"^failed after \d+(\.\d+)? (ms|s)$"))
    expect(demo.column("llm").locator(".metrics")).to_be_hidden()  # no token arrived: no timings to show
    expect(page.locator("#chart .scatterlayer .trace")).to_have_count(2)  # the SLM's pass only
    demo.shot("dead-llm")


def test_an_unconfigured_llm_tier_says_what_to_set_and_the_slm_still_runs(browser, scripted: ScriptedServer, tmp_path: Path) -> None:
    """An app of its own, with no LLM configured: the column says why and what to set, from the first look."""
    scripted.enqueue(SLM, Script(["Edge AI is local."]))
    with running_app(tmp_path, RAG_HISTORY_DB="off", RAG_SLM_BASE_URL=scripted.base_url) as (url, log_path):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(TIMEOUT)
        try:
            page = context.new_page()
            page.goto(f"{url}/demo")
            expect(page.locator("#prompt")).to_have_value("Explain in two sentences what an edge AI model is.")  # no COMPARE_PROMPT
            down = page.locator("#col-llm .down")
            expect(down).to_be_visible()
            expect(down.locator(".reason")).to_have_text("the LLM tier is not configured (set RAG_LLM_BASE_URL)")
            expect(down.locator(".fix")).to_contain_text("Set RAG_LLM_BASE_URL (and RAG_LLM_MODEL)")
            page.click("#run")
            expect(page.locator("#col-slm")).to_have_attribute("data-phase", "done")
            expect(page.locator("#col-slm .answer")).to_have_text("Edge AI is local.")
            expect(page.locator("#col-llm")).to_have_attribute("data-phase", "down")
            expect(down).to_be_visible()
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "demo-llm-not-configured.png"), full_page=True)
        finally:
            context.close()
        assert [r["model"] for r in scripted.requests] == [SLM]
    log = log_path.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log, log[-3000:]


def test_with_login_on_the_demo_runs_nothing_for_a_visitor_who_is_not_signed_in(browser, scripted: ScriptedServer, tmp_path: Path) -> None:
    """RAG_AUTH_USERS: the demo's API needs the chat's login cookie; after signing in at the chat it works."""
    with running_app(tmp_path, RAG_HISTORY_DB="off", RAG_SLM_BASE_URL=scripted.base_url, RAG_AUTH_USERS="alice:wonderland") as (url, _):
        assert httpx.post(f"{url}/demo/api/run", json={"prompt": "p"}, timeout=10).status_code == 401
        assert httpx.get(f"{url}/demo/api/config", timeout=10).status_code == 401
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(TIMEOUT)
        try:
            page = context.new_page()
            page.goto(f"{url}/demo")
            expect(page.locator("#status")).to_have_text("Sign in to the chat first (the app asks for a login), then reload this page.")
            page.click("#run")
            expect(page.locator("#status")).to_contain_text("Sign in to the chat first")
            assert scripted.requests == []
            page.goto(url)
            page.fill("#email", "alice")
            page.fill("#password", "wonderland")
            page.click("button[type=submit]")
            expect(page.locator("#chat-input")).to_be_visible()
            page.goto(f"{url}/demo")
            expect(page.locator("#col-slm .model")).to_have_text(f"· {SLM}")
            page.click("#run")
            expect(page.locator("#col-slm")).to_have_attribute("data-phase", "done")
        finally:
            context.close()
    assert [r["model"] for r in scripted.requests] == [SLM]


def test_the_app_logged_no_errors(app_server: tuple[str, Path], request: pytest.FixtureRequest) -> None:
    """After every test of the shared app: a handler that raised would be logged even when the page looked fine."""
    assert_app_log_clean(app_server[1], request)
