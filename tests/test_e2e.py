"""The Chainlit app in a real browser, on the scripted OpenAI-compatible backend.

One app process (``chainlit run app.py --headless``, from the repo root so it
uses the repo's ``.chainlit/config.toml``, ``chainlit.md`` and translations)
and one headless Debian Chromium for the module; every test gets a fresh
browser context, so a fresh Chainlit session. Both tiers point at the session's
scripted server, whose per-model script queues the tests fill before each
question. Each test saves a screenshot of its final state under
``artifacts/screenshots/<test name>.png``.

The embedded llama.cpp model is covered in ``test_embedded.py``; it is never
started here.
"""

from __future__ import annotations

import importlib.util
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.helpers import CHROMIUM, FACT, GROUNDED_OLLAMA, LLM_OLLAMA, assert_app_log_clean, chromium, running_app
from tests.support.scripted_server import Script, ScriptedServer, chunked

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
expect = playwright_sync.expect

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
TR_TRANSLATION = ROOT / ".chainlit" / "translations" / "tr-TR.json"
SLM = "phi-4-mini-instruct-generic-cpu"
LLM = "gpt-oss-20b"
TIMEOUT = 30_000  # ms, for anything the app or the browser does
ASSISTANT = '.step[data-step-type="assistant_message"]'

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)



# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def app_server(scripted_server: ScriptedServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The app with both tiers on the scripted server; stopped after the module."""
    with running_app(tmp_path_factory.mktemp("e2e-app"), RAG_SLM_BASE_URL=scripted_server.base_url, RAG_LLM_BASE_URL=scripted_server.base_url) as running:
        yield running


@pytest.fixture(scope="module")
def app_url(app_server: tuple[str, Path]) -> str:
    return app_server[0]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


@pytest.fixture
def backend(scripted: ScriptedServer) -> ScriptedServer:
    """The scripted server, queues and request log emptied (the default script answers "OK")."""
    return scripted


@pytest.fixture
def open_chat(browser, app_url: str, request: pytest.FixtureRequest):
    """``open_chat(locale=...)``: a page in a fresh browser context, on the app, with the welcome shown."""
    contexts = []

    def _open(locale: str = "en-US", on_response=None):
        context = browser.new_context(locale=locale, viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(TIMEOUT)
        contexts.append(context)
        page = context.new_page()
        if on_response is not None:
            page.on("response", on_response)
        page.goto(app_url)
        expect(page.locator("#chat-input")).to_be_editable(timeout=TIMEOUT)
        expect(page.locator("#welcome-screen")).to_contain_text("Hazır:" if locale.startswith("tr") else "Ready:", timeout=TIMEOUT)
        expect(page.locator("#starters")).to_be_visible(timeout=TIMEOUT)  # the welcome screen has settled
        # the settings button appears once on_chat_start has run over the socket: the chat is live
        expect(page.locator("#chat-settings-open-modal")).to_be_visible(timeout=TIMEOUT)
        return page

    yield _open
    for context in contexts:
        context.close()


# ------------------------------------------------------------------ helpers


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def type_and_send(page, text: str) -> None:
    # page.fill does not enable #chat-submit; real key presses do
    page.click("#chat-input")
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def answered(page):
    """Answers (messages with the metrics table) so far."""
    return page.locator(ASSISTANT).filter(has_text="Tokens in / out")


def ask(page, text: str):
    """Send ``text`` and wait until its answer (the message with the metrics table) is complete."""
    before = answered(page).count()
    type_and_send(page, text)
    expect(answered(page)).to_have_count(before + 1, timeout=TIMEOUT)
    page.wait_for_selector("#stop-button", state="detached", timeout=TIMEOUT)
    expect(page.locator(".loading-cursor")).to_have_count(0, timeout=TIMEOUT)
    return answered(page).last


def source_link(message, n: int):
    return message.locator(".element-link").filter(has_text=re.compile(rf"^\s*source {n}\s*$", re.IGNORECASE)).first


def passages_shown(side, timeout: float = TIMEOUT / 1000) -> int:
    """How many Source passages the side view shows (each starts with a "score N" line), once it settles on one."""
    deadline = time.monotonic() + timeout
    while True:
        count = len(re.findall(r"(?m)^score \d", side.inner_text()))
        if count == 1 or time.monotonic() > deadline:
            return count
        time.sleep(0.1)


def prompt_text(request: dict) -> str:
    return "\n".join(m["content"] for m in request["body"]["messages"])


# ------------------------------------------------------------------ tests


def test_answer_streams_and_source_link_opens_the_passage(open_chat, backend: ScriptedServer) -> None:
    backend.enqueue(SLM, Script(GROUNDED_OLLAMA, chunk_delay=0.05))
    page = open_chat()
    welcome = page.locator("#welcome-screen")
    expect(welcome.locator("li")).to_have_count(2)  # the tiers; the closing sentence is a paragraph of its own
    expect(welcome.locator("li").last).not_to_contain_text("Ask a question")
    expect(welcome).to_contain_text("Ask a question")
    expect(page.locator("#starters")).to_contain_text("How does escalation work?")  # the welcome doesn't hide them
    shot(page, "test_welcome_with_starters")
    answer = ask(page, "What port does Ollama listen on?")
    expect(answer).to_contain_text("Ollama listens on port 11434")
    expect(answer).to_contain_text("🟢 SLM")
    expect(page.locator("#step-Retrieval")).to_contain_text("Used Retrieval")
    assert [r["model"] for r in backend.requests] == [SLM]

    # Chainlit 2.12 opens the side view by itself with every side element of the chat; the link
    # narrows it to the one passage
    source_link(answer, 1).click()
    side = page.locator("#side-view-content")
    expect(side).to_be_visible()
    expect(side).to_contain_text("03-model-backends.md › Model backends › Ollama")
    expect(side).to_contain_text("Ollama listens on port 11434")
    assert passages_shown(side) == 1
    shot(page, "test_answer_streams_and_source_link_opens_the_passage")


def test_metrics_table_and_latency_chart_render(open_chat, backend: ScriptedServer) -> None:
    backend.enqueue(SLM, Script(GROUNDED_OLLAMA))
    page = open_chat()
    answer = ask(page, "What port does Ollama listen on?")
    table = answer.locator("table")
    expect(table).to_be_visible()
    headers = [h.strip() for h in table.locator("th").all_text_contents()]
    assert headers == ["Tier", "TTFT", "Generation", "Total", "Tokens in / out", "Tokens/s", "Cost"]
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("tbody tr").first.locator("td").first).to_have_text("SLM")
    chart = answer.locator(".inline-plotly")
    expect(chart).to_be_visible(timeout=TIMEOUT)
    expect(chart.locator(".main-svg").first).to_be_attached(timeout=TIMEOUT)  # plotly drew it
    expect(answer.get_by_role("button", name="Session stats")).to_be_visible()
    chart.scroll_into_view_if_needed()
    shot(page, "test_metrics_table_and_latency_chart_render")

    # the action shows the session's turns, with a chart of its own
    answer.get_by_role("button", name="Session stats").click()
    stats = page.locator(ASSISTANT).filter(has_text="This session so far")
    expect(stats).to_have_count(1, timeout=TIMEOUT)
    expect(stats.locator(".inline-plotly")).to_be_visible(timeout=TIMEOUT)


def test_an_uncited_slm_answer_escalates_to_the_llm_and_keeps_the_draft(open_chat, backend: ScriptedServer) -> None:
    backend.enqueue(SLM, Script(["Port 11434."]))
    backend.enqueue(LLM, Script([LLM_OLLAMA[:50], LLM_OLLAMA[50:]]))
    page = open_chat()
    answer = ask(page, "What port does Ollama listen on?")
    messages = page.locator(ASSISTANT)
    expect(messages.filter(has_text=re.compile(r"^\s*⤴ Escalated to the LLM tier"))).to_have_count(1)
    expect(messages.filter(has_text="Escalated to the LLM tier").first).to_contain_text("the answer cited no source")
    draft = messages.filter(has_text="SLM draft")
    expect(draft).to_have_count(1)
    expect(draft).to_contain_text("Port 11434.")
    expect(answer).to_contain_text("Ollama listens on port 11434")
    expect(answer).to_contain_text("🔵 LLM")
    rows = [r.locator("td").first.inner_text().strip() for r in answer.locator("table tbody tr").all()]
    assert rows == ["SLM", "LLM"]
    assert [r["model"] for r in backend.requests] == [SLM, LLM]
    shot(page, "test_short_slm_answer_escalates_to_the_llm_and_keeps_the_draft")


def test_an_upload_is_cited_in_its_chat_only(open_chat, backend: ScriptedServer, tmp_path: Path) -> None:
    notes = tmp_path / "secret-notes.md"
    notes.write_text(f"# Secret notes\n\n{FACT} Only this chat knows it.\n", encoding="utf-8")
    page = open_chat()
    page.set_input_files("#upload-button-input", str(notes))
    # the attachment chip (on the welcome screen the composer has no #attachments wrapper)
    expect(page.get_by_text("secret-notes.md").first).to_be_visible()
    type_and_send(page, "/stats")  # a message to carry the file; /stats answers without a model
    added = page.locator(ASSISTANT).filter(has_text="Added")
    expect(added).to_have_count(1, timeout=TIMEOUT)
    expect(added).to_contain_text(re.compile(r"📎 Added secret-notes\.md to this chat: 1 passages in \d+ ms\."))
    expect(page.locator(ASSISTANT).filter(has_text="No turns yet")).to_have_count(1, timeout=TIMEOUT)

    backend.enqueue(SLM, Script(["Zephyr-Quokka-42."]))
    backend.enqueue(LLM, Script([f"{FACT} [Source 1]"]))
    answer = ask(page, "What is the project codename?")
    expect(answer).to_contain_text("Zephyr-Quokka-42")
    expect(answer).to_contain_text("🔵 LLM")
    assert "secret-notes.md" in prompt_text(backend.requests[0])
    source_link(answer, 1).click()
    side = page.locator("#side-view-content")
    expect(side).to_contain_text("secret-notes.md › Secret notes")
    assert passages_shown(side) == 1
    expect(side).to_contain_text("uploaded to this chat")
    expect(side).to_contain_text(FACT)
    shot(page, "test_an_upload_is_cited_in_its_chat_only")

    # another chat (a fresh browser context) does not see the upload
    backend.requests.clear()
    other = open_chat()
    answer = ask(other, "What is the project codename?")
    other.locator("#step-Retrieval").click()
    retrieval = other.locator(".step").filter(has=other.locator("#step-Retrieval"))
    expect(retrieval).to_contain_text(re.compile(r"\.md › .*\(score "))  # the hits are listed...
    expect(retrieval).not_to_contain_text("secret-notes.md")  # ...and the upload is not among them
    expect(other.locator("body")).not_to_contain_text("Zephyr-Quokka-42")
    assert backend.requests and all("Zephyr" not in prompt_text(r) for r in backend.requests)
    shot(other, "test_an_upload_is_cited_in_its_chat_only-other-chat")


def test_stop_keeps_the_partial_answer(open_chat, backend: ScriptedServer) -> None:
    backend.enqueue(SLM, Script([f"chunk{i} " for i in range(60)], chunk_delay=0.3))
    page = open_chat()
    type_and_send(page, "What port does Ollama listen on?")
    expect(page.locator(ASSISTANT).filter(has_text="chunk2")).to_have_count(1, timeout=TIMEOUT)
    page.click("#stop-button")
    stopped = page.locator(ASSISTANT).filter(has_text="(stopped)")
    expect(stopped).to_have_count(1, timeout=TIMEOUT)
    expect(stopped).to_contain_text("chunk0 chunk1 chunk2")
    expect(stopped).not_to_contain_text("chunk59")
    page.wait_for_selector("#stop-button", state="detached", timeout=TIMEOUT)
    text = stopped.inner_text()
    time.sleep(1.0)  # nothing more arrives after the stop
    assert stopped.inner_text() == text
    shot(page, "test_stop_keeps_the_partial_answer")

    backend.enqueue(SLM, Script(GROUNDED_OLLAMA))
    answer = ask(page, "What port does Ollama listen on?")
    expect(answer).to_contain_text("Ollama listens on port 11434")
    expect(page.locator(ASSISTANT).filter(has_text="(stopped)")).to_have_count(1)


def test_turkish_locale_gets_turkish_ui_and_prompts(open_chat, backend: ScriptedServer) -> None:
    if not TR_TRANSLATION.exists():
        pytest.skip(f"{TR_TRANSLATION.relative_to(ROOT)} does not exist yet (the Turkish UI translation is being added)")
    strings = json.loads(TR_TRANSLATION.read_text(encoding="utf-8"))
    settings_bodies: list[dict] = []

    def keep_settings(response) -> None:
        if "/project/settings" in response.url and response.ok:
            settings_bodies.append(response.json())

    page = open_chat(locale="tr-TR", on_response=keep_settings)
    expect(page.locator("#chat-input")).to_have_attribute("placeholder", strings["chat"]["input"]["placeholder"])
    expect(page.locator("#readme-button")).to_have_text(strings["navigation"]["header"]["readme"])
    # the Turkish starters are on screen, beside the Turkish welcome
    expect(page.locator("#starters")).to_contain_text("Yükseltme nasıl çalışır?")
    expect(page.locator("#starters")).not_to_contain_text("How does escalation work?")
    expect(page.locator("#welcome-screen")).to_contain_text("klasöründen 5 belge")

    backend.enqueue(SLM, Script(["Varsayılan port 11434 [Source 1]."]))
    backend.enqueue(LLM, Script(["Ollama 11434 numaralı bağlantı noktasını dinler [Source 1]."]))
    ask(page, "Kurulum için hangi komutu çalıştırmalıyım?")
    system_prompts = [r["body"]["messages"][0]["content"] for r in backend.requests]
    assert system_prompts and all("Türkçe" in p and "Yalnızca aşağıdaki kaynakları kullan" in p for p in system_prompts)
    expect(page.locator(ASSISTANT).filter(has_text="SLM taslağı")).to_have_count(1)
    shot(page, "test_turkish_locale_gets_turkish_ui_and_prompts")


def test_a_thinking_model_shows_its_thinking_step_then_the_answer(open_chat, backend: ScriptedServer) -> None:
    """gpt-oss-style thinking streams into an open "Thinking" step, which closes (titled with its duration) when the answer starts."""
    thought = "The user asks which port Ollama listens on. The backends page says 11434, so I will cite it."
    backend.enqueue(SLM, Script(["Port 11434."]))
    backend.enqueue(LLM, Script(chunked(LLM_OLLAMA, 24), reasoning=chunked(thought, 9), chunk_delay=0.25))
    page = open_chat()
    before = answered(page).count()
    type_and_send(page, "What port does Ollama listen on?")
    live = page.locator("#step-Thinking")
    expect(live).to_be_visible(timeout=TIMEOUT)  # while the model thinks: "Using Thinking"
    expect(live).to_contain_text("Using Thinking")
    thinking_step = page.locator(".step").filter(has=live)
    expect(thinking_step).to_contain_text("The user asks which port", timeout=TIMEOUT)  # open, streaming live
    shot(page, "test_a_thinking_model_shows_its_thinking_step-while-thinking")

    closed = page.locator('[id^="step-Thought for "]')
    expect(closed).to_have_count(1, timeout=TIMEOUT)  # the answer started: closed, titled with its duration
    expect(closed).to_contain_text(re.compile(r"Thought for \d+\.\d s"))
    expect(answered(page)).to_have_count(before + 1, timeout=TIMEOUT)
    page.wait_for_selector("#stop-button", state="detached", timeout=TIMEOUT)
    answer = answered(page).last
    expect(answer).to_contain_text("Ollama listens on port 11434")
    expect(answer).to_contain_text("🔵 LLM")
    expect(answer).not_to_contain_text("The user asks which port")
    expect(answer.locator("table th").filter(has_text="First answer token")).to_have_count(1)
    # the step sits above the answer, and opening it shows the whole thought
    step = page.locator(".step").filter(has=closed)
    assert step.bounding_box()["y"] < answer.bounding_box()["y"]
    if thought not in step.inner_text():
        closed.click()
    expect(step).to_contain_text(thought)
    shot(page, "test_a_thinking_model_shows_its_thinking_step_then_the_answer")


EVIL = (
    "# Evil notes\n\nThe vault code is Owl-Lantern-7. <img src=x onerror=\"window.__xss='img'\">\n\n"
    "<script>window.__xss = 'script'</script>\n\n"
    "[Open the vault](javascript:window.__xss='link') and <b onmouseover=\"window.__xss='hover'\">hover here</b>.\n"
)


def test_document_and_model_html_never_runs_in_the_browser(open_chat, backend: ScriptedServer, tmp_path: Path) -> None:
    """Uploaded text, quoted passages and model output are shown as text: no script, handler or javascript: link runs."""
    evil = tmp_path / "evil-notes.md"
    evil.write_text(EVIL, encoding="utf-8")
    page = open_chat()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.set_input_files("#upload-button-input", str(evil))
    expect(page.get_by_text("evil-notes.md").first).to_be_visible()
    type_and_send(page, "/stats")
    expect(page.locator(ASSISTANT).filter(has_text="Added")).to_have_count(1, timeout=TIMEOUT)
    backend.enqueue(SLM, Script(['The vault code is Owl-Lantern-7 [Source 1]. <img src=x onerror="window.__xss=\'model\'">'] + [" More."] * 120))
    answer = ask(page, "What is the vault code?")
    expect(answer).to_contain_text("Owl-Lantern-7")
    source_link(answer, 1).click()
    expect(page.locator("#side-view-content")).to_contain_text("vault code")
    for link in page.locator("#side-view-content a, .step a").all():  # a javascript: link must not survive as a link
        assert not (link.get_attribute("href") or "").lower().startswith("javascript:")
    page.locator("text=hover here").first.hover() if page.locator("text=hover here").count() else None
    page.wait_for_timeout(500)
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
    assert page.locator('.step img[src="x"], #side-view-content img[src="x"]').count() == 0
    shot(page, "test_document_and_model_html_never_runs_in_the_browser")


def test_the_app_logged_no_errors(app_server: tuple[str, Path], request: pytest.FixtureRequest) -> None:
    """After every test of the shared app: a handler that raised would be logged even when the page looked fine."""
    assert_app_log_clean(app_server[1], request)


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python[server] is not installed")
def test_one_real_turn_on_the_embedded_model(browser, tmp_path: Path) -> None:
    """Nothing configured: the app starts the embedded llama.cpp server with the packaged model.

    Tests that run an app of their own come last in this module: a Chainlit app deletes
    ``<app root>/.files`` when it stops, which the module's shared app uses for uploads.
    """
    with running_app(tmp_path) as (url, log_path):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(TIMEOUT)
        page = context.new_page()
        page.goto(url)
        # the welcome says the embedded server is up and was warmed up, with its measured speed
        expect(page.locator("#welcome-screen")).to_contain_text(re.compile(r"\(embedded; warmed up in \d+\.\d s, \d+ tok/s\)"), timeout=120_000)
        expect(page.locator("#chat-settings-open-modal")).to_be_visible(timeout=120_000)
        answer = ask(page, "What port does Ollama listen on?")
        expect(answer).to_contain_text("11434")
        rows = [r.locator("td").first.inner_text().strip() for r in answer.locator("table tbody tr").all()]
        assert rows[0] == "SLM"  # the embedded model answered first (the extractive tier may quote after it)
        expect(page.locator(".inline-plotly").last).to_be_visible()
        shot(page, "test_one_real_turn_on_the_embedded_model")
        context.close()
        assert "Traceback" not in log_path.read_text(errors="replace")


def test_login_when_users_are_configured(browser, tmp_path: Path) -> None:
    """RAG_AUTH_USERS turns login on: a wrong password gets nothing, anonymous uploads are refused."""
    with running_app(tmp_path, RAG_AUTH_USERS="alice:wonderland", RAG_SLM_BASE_URL="http://127.0.0.1:9/v1", RAG_HISTORY_DB="off") as (url, _):
        refused = httpx.post(f"{url}/project/file", params={"session_id": "anonymous"},
                             files={"file": ("a.md", b"# A\n\nsecret", "text/markdown")}, timeout=10)
        assert refused.status_code == 401
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        context.set_default_timeout(TIMEOUT)
        page = context.new_page()
        page.goto(url)
        page.fill("#email", "alice")
        page.fill("#password", "not-the-password")
        page.click("button[type=submit]")
        page.wait_for_timeout(1500)
        assert page.locator("#chat-input").count() == 0
        expect(page.locator("#password")).to_be_visible()
        shot(page, "test_login_wrong_password")
        page.fill("#password", "wonderland")
        page.click("button[type=submit]")
        expect(page.locator("#chat-input")).to_be_visible(timeout=TIMEOUT)
        context.close()
