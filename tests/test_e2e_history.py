"""Chat history in a real browser: the app with login on, a SQLite history, the scripted backend.

One app process for the module (``chainlit run app.py`` with ``RAG_AUTH_USERS``
for alice and bob, escalation off so that each question is one scripted SLM
answer) and one headless Debian Chromium; each test opens fresh browser
contexts. What is checked is what a person sees: after a reload the sidebar
lists the chat by its first question, opening it shows its turns and goes on
with its history and its upload, another user's sidebar does not have it, and
a dropped connection (``set_offline``, which makes socket.io reconnect)
leaves the chat and its upload as they were. The votes given are then read
back with ``rag feedback``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.helpers import CHROMIUM, FACT, assert_app_log_clean, chromium, clean_env, rag, running_app
from tests.support.scripted_server import Script, ScriptedServer

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
expect = playwright_sync.expect

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
SLM = "phi-4-mini-instruct-generic-cpu"
TIMEOUT = 30_000
ASSISTANT = '.step[data-step-type="assistant_message"]'
USERS = {"alice": "wonderland", "bob": "builder"}
FIRST = "What is the project codename?"


@pytest.fixture(scope="module")
def app_server(scripted_server: ScriptedServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """The app with login and a history; yields (URL, log file, history database)."""
    tmp = tmp_path_factory.mktemp("e2e-history")
    users = ",".join(f"{u}:{p}" for u, p in USERS.items())
    with running_app(tmp, RAG_AUTH_USERS=users, RAG_SLM_BASE_URL=scripted_server.base_url,
                     RAG_LLM_BASE_URL=scripted_server.base_url, RAG_ESCALATE="never") as (url, log):
        yield url, log, tmp / "data" / "chat-history.db"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


@pytest.fixture
def sign_in(browser, app_server, request: pytest.FixtureRequest):
    """``sign_in(user)``: a page in a fresh browser context, signed in, the chat started. Its websockets are in ``page.sockets``."""
    contexts = []

    def _open(user: str):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(TIMEOUT)
        contexts.append(context)
        page = context.new_page()
        page.sockets = []
        page.on("websocket", lambda socket: page.sockets.append(socket))
        page.goto(app_server[0])
        page.fill("#email", user)
        page.fill("#password", USERS[user])
        page.click("button[type=submit]")
        chat_ready(page)
        return page

    yield _open
    for context in contexts:
        context.close()


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    path = tmp_path / "secret-notes.md"
    path.write_text(f"# Secret notes\n\n{FACT} Only this chat knows it.\n", encoding="utf-8")
    return path


def chat_ready(page) -> None:
    expect(page.locator("#chat-input")).to_be_editable(timeout=TIMEOUT)
    expect(page.locator("#chat-settings-open-modal")).to_be_visible(timeout=TIMEOUT)  # on_chat_start (or resume) has run


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def answered(page):
    return page.locator(ASSISTANT).filter(has_text="Tokens in / out")


def ask(page, text: str, upload: Path | None = None):
    """Send ``text`` (with ``upload`` attached) and wait for its answer to be complete."""
    before = answered(page).count()
    if upload is not None:
        page.set_input_files("#upload-button-input", str(upload))
        expect(page.get_by_text(upload.name).first).to_be_visible()
    page.click("#chat-input")
    page.keyboard.type(text)
    page.keyboard.press("Enter")
    expect(answered(page)).to_have_count(before + 1, timeout=TIMEOUT)
    page.wait_for_selector("#stop-button", state="detached", timeout=TIMEOUT)
    expect(page.locator(".loading-cursor")).to_have_count(0, timeout=TIMEOUT)
    return answered(page).last


def prompt(request: dict) -> list[str]:
    return [m["content"] for m in request["body"]["messages"]]


def sidebar(page):
    return page.locator("#thread-history")


def test_a_chat_is_kept_listed_by_name_resumed_with_its_turns_and_upload_and_private(
    sign_in, scripted: ScriptedServer, notes: Path, app_server,
) -> None:
    url, _, database = app_server
    alice = sign_in("alice")
    scripted.enqueue(SLM, Script([f"{FACT} [Source 1]"]))
    ask(alice, FIRST, upload=notes)
    expect(alice.locator(ASSISTANT).filter(has_text="📎 Added secret-notes.md to this chat")).to_have_count(1)
    scripted.enqueue(SLM, Script(["Only this chat knows it [Source 1]."]))
    second = ask(alice, "Who knows it?")
    assert prompt(scripted.requests[-1])[1:3] == [FIRST, f"{FACT} [Source 1]"]  # turn 1 in the prompt of turn 2

    second.locator(".positive-feedback-off").click()  # thumbs up, with a comment
    dialog = alice.locator('[role="dialog"]')
    dialog.locator("textarea").fill("right, and it cited the notes")
    dialog.get_by_role("button", name=re.compile("submit", re.I)).click()
    expect(second.locator(".positive-feedback-on")).to_have_count(1)

    alice.reload()
    chat_ready(alice)
    entry = sidebar(alice).get_by_text(FIRST, exact=True)
    expect(entry).to_be_visible(timeout=TIMEOUT)  # listed by its first question
    shot(alice, "test_history_sidebar_after_reload")
    entry.click()
    expect(alice).to_have_url(re.compile(r"/thread/[0-9a-f-]{36}$"), timeout=TIMEOUT)
    thread_id = alice.url.rsplit("/", 1)[1]
    expect(answered(alice)).to_have_count(2, timeout=TIMEOUT)  # the turns are back
    expect(answered(alice).first).to_contain_text("Zephyr-Quokka-42")
    expect(answered(alice).last.locator(".positive-feedback-on")).to_have_count(1)  # and the vote
    chat_ready(alice)

    scripted.requests.clear()
    scripted.enqueue(SLM, Script([f"Again: {FACT} [Source 1]"]))
    answer = ask(alice, "Say the codename once more?")
    expect(answer).to_contain_text("Again: The project codename is Zephyr-Quokka-42")
    (request,) = scripted.requests
    sent = prompt(request)
    assert sent[1:5] == [FIRST, f"{FACT} [Source 1]", "Who knows it?", "Only this chat knows it [Source 1]."]
    assert "secret-notes.md" in sent[-1]  # the upload is searched again in the resumed chat
    answer.locator(".element-link").filter(has_text=re.compile(r"^\s*source 1\s*$", re.I)).first.click()
    expect(alice.locator("#side-view-content")).to_contain_text(FACT)
    shot(alice, "test_history_resumed_chat")

    bob = sign_in("bob")
    expect(sidebar(bob)).not_to_contain_text(FIRST)
    assert bob.request.get(f"{url}/project/thread/{thread_id}").status in (401, 403)  # and not by its address either

    # the votes, read back with the CLI from the app's database
    result = rag(["feedback", "--json"], clean_env(database.parent, RAG_HISTORY_DB=str(database)), cwd=database.parent)
    assert result.returncode == 0, result.stderr
    (vote,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert (vote["user"], vote["question"], vote["answer"], vote["tier"], vote["value"], vote["comment"]) == (
        "alice", "Who knows it?", "Only this chat knows it [Source 1].", "slm", 1, "right, and it cited the notes")
    assert any(s.startswith("secret-notes.md › Secret notes") for s in vote["sources"])


def test_a_dropped_connection_keeps_the_chat_and_its_upload(sign_in, scripted: ScriptedServer, notes: Path) -> None:
    """Going offline and back: socket.io reconnects, Chainlit ran on_chat_end on the disconnect, and the chat goes on with its upload."""
    page = sign_in("alice")
    scripted.enqueue(SLM, Script([f"{FACT} [Source 1]"]))
    ask(page, FIRST, upload=notes)
    sockets = len(page.sockets)

    page.context.set_offline(True)
    time.sleep(3)
    page.context.set_offline(False)
    deadline = time.monotonic() + TIMEOUT / 1000
    while len(page.sockets) == sockets and time.monotonic() < deadline:  # a new socket: it reconnected
        page.wait_for_timeout(200)
    assert len(page.sockets) > sockets, "the page did not reconnect"
    assert page.sockets[sockets - 1].is_closed()
    expect(page.locator("#chat-input")).to_be_editable(timeout=TIMEOUT)

    scripted.requests.clear()
    scripted.enqueue(SLM, Script([f"Still: {FACT} [Source 1]"]))
    answer = ask(page, "And the codename, after the reconnect?")
    expect(answer).to_contain_text("Still: The project codename is Zephyr-Quokka-42")
    (request,) = scripted.requests
    assert "secret-notes.md" in prompt(request)[-1]  # the upload survived the disconnect
    assert prompt(request)[1:3] == [FIRST, f"{FACT} [Source 1]"]  # and so did the turn
    expect(page.locator(ASSISTANT).filter(has_text="📎 Added secret-notes.md")).to_have_count(1)  # not added again
    shot(page, "test_history_after_reconnect")


def test_the_app_logged_no_errors(app_server, request: pytest.FixtureRequest) -> None:
    """After the module's tests: no traceback, ERROR line or failed history write ('An error occurred') in the app's log."""
    assert_app_log_clean(app_server[1], request)
    assert httpx.get(f"{app_server[0]}/health", timeout=5).status_code == 200
