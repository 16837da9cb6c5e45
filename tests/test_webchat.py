"""The website's chat widget (rasa-webchat, web/) in real headless Chromium, against the running bot.

The module starts the action server and the Rasa server once (socketio channel, CORS for the page's
origin), serves web/ with scripts/serve_web.py on a free port, and drives Debian's chromium through its
chromedriver (selenium). What it needs is installed by scripts/install_browser_deps.sh from the module's
fixtures (apt's chromium and chromium-driver, `npm ci` in web/), so `make test` works on a fresh clone; the
browser tests are skipped, with the installer's message, only where chromium cannot be installed.
Screenshots go to tests/output/webchat/.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import pytest
import requests
import yaml

from actions.knowledge import Guide, Suggestions
from actions.safety import SafetyPolicy
from tests.conftest import OUTPUT_DIR, PROJECT_ROOT
from tests.servers import BotServer, free_port, running_bot

pytestmark = pytest.mark.e2e
logger = logging.getLogger(__name__)

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
INSTALLER = PROJECT_ROOT / "scripts" / "install_browser_deps.sh"
SCREENSHOTS = OUTPUT_DIR / "webchat"
# The flags this machine needs: no sandbox as root, no GPU, and no traffic beyond loopback.
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,1100",
)
WAIT_S = 45  # an answer normally shows within a few seconds; this bounds a hung widget or bot
QUIET_S = 1.5  # no new message for this long: the bot has finished answering (message delay is 0.4 s)
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
EVIL_ORIGIN = "http://evil.example"

GUIDE = Guide.load()
SUGGESTIONS = Suggestions.load(GUIDE)
POLICY = SafetyPolicy.load()


def squash(text: str) -> str:
    """Whitespace-insensitive text: the widget splits answers into bubbles and wraps lines."""
    return " ".join(text.split())


def run_installer(part: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(INSTALLER), part], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1200)


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def page_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def page_origin(page_port: int) -> str:
    return f"http://127.0.0.1:{page_port}"


@pytest.fixture(scope="module")
def webchat_bot(trained_model: Path, page_origin: str) -> Iterator[BotServer]:
    """The bot, allowing browser pages from the test page's origin only (as `make serve` with CORS_ORIGINS)."""
    with running_bot(trained_model, OUTPUT_DIR / "webchat-bot", cors=[page_origin]) as server:
        yield server


@pytest.fixture(scope="module")
def web_page(webchat_bot: BotServer, page_port: int, page_origin: str) -> Iterator[str]:
    """web/ served by scripts/serve_web.py, pointing the widget at the test's bot. The npm packages are
    the project's own dependency, so failing to install them fails the test (no skip)."""
    installed = run_installer("web")
    assert installed.returncode == 0, f"npm ci in web/ failed:\n{installed.stdout}\n{installed.stderr}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    log = (SCREENSHOTS / "serve_web.log").open("w")
    server = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "serve_web.py"), "--host", "127.0.0.1",
         "--port", str(page_port), "--bot-url", webchat_bot.url],
        cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{page_origin}/", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            assert server.poll() is None, f"serve_web.py exited; see {SCREENSHOTS / 'serve_web.log'}"
            assert time.monotonic() < deadline, "serve_web.py did not answer within 20 s"
            time.sleep(0.2)
        yield f"{page_origin}/"
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def driver():
    """Headless Debian chromium through its chromedriver, with a fresh profile."""
    installed = run_installer("browser")
    if installed.returncode != 0 or not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(f"chromium cannot be installed here: {(installed.stderr or installed.stdout).strip()[-500:]}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="webchat-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=str(CHROMEDRIVER), log_output=str(SCREENSHOTS / "chromedriver.log"))
        browser = webdriver.Chrome(service=service, options=options)
        try:
            yield browser
        finally:
            browser.quit()


# ----------------------------------------------------------------------------------------------- helpers
def wait_for(condition: Callable[[], object], what: str, timeout: float = WAIT_S) -> object:
    """Poll until `condition` returns something truthy; fail naming `what` (and the last error) otherwise."""
    deadline = time.monotonic() + timeout
    error: Optional[Exception] = None
    while time.monotonic() < deadline:
        try:
            result = condition()
        except Exception as exc:  # e.g. elements re-rendered by React while we used them: look again
            result, error = None, exc
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}"
                         + (f" (last error: {str(error).splitlines()[0]})" if error else ""))


def texts(driver, selector: str) -> List[str]:
    """The rendered text of each element, read in one script: React may replace elements between calls."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText);", selector
    )


def chat_is_open(driver) -> bool:
    from selenium.webdriver.common.by import By

    return any("rw-chat-open" in (e.get_attribute("class") or "")
               for e in driver.find_elements(By.CSS_SELECTOR, ".rw-widget-container"))


def open_chat(driver) -> None:
    """Click the launcher (bottom right) unless the chat window is open already (after a reload it may be:
    the widget keeps that state too, and a click would close it)."""
    from selenium.webdriver.common.by import By

    launcher = wait_for(
        lambda: next((e for e in driver.find_elements(By.CSS_SELECTOR, ".rw-launcher") if e.is_displayed()), None),
        "the widget's launcher (shown once the widget is connected to the bot)",
    )
    if not chat_is_open(driver):
        launcher.click()
    wait_for(lambda: chat_is_open(driver) and driver.find_element(By.CSS_SELECTOR, ".rw-new-message").is_displayed(),
             "the chat window to open")


def open_fresh_widget(driver, url: str) -> None:
    """A new visitor: empty browser storage (so a new conversation), page loaded, chat opened, greeting shown.

    The storage is emptied from another page of the same origin: the widget on its own page writes its
    state back every half second, so clearing it there would race with the widget."""
    driver.get(url.rstrip("/") + "/config.json")
    driver.execute_script("window.sessionStorage.clear(); window.localStorage.clear();")
    driver.get(url)
    open_chat(driver)
    wait_for(lambda: any("plantar fasciitis" in t for t in texts(driver, ".rw-response")),
             "the bot's greeting (initPayload /greet)")
    wait_quiet(driver, len(texts(driver, ".rw-response")) - 1)


def wait_quiet(driver, responses_before: int) -> List[str]:
    """Wait until new bot bubbles arrived and none came for QUIET_S; return the new bubbles' texts."""
    wait_for(lambda: len(texts(driver, ".rw-response")) > responses_before, "the bot's answer")
    count, since = -1, time.monotonic()
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        now = len(texts(driver, ".rw-response"))
        if now != count:
            count, since = now, time.monotonic()
        elif time.monotonic() - since >= QUIET_S:
            break
        time.sleep(0.2)
    return texts(driver, ".rw-response")[responses_before:]


def ask(driver, question: str) -> List[str]:
    """Type a question into the widget, press Enter, and return the bubbles of the bot's answer."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    before = len(texts(driver, ".rw-response"))
    box = driver.find_element(By.CSS_SELECTOR, ".rw-new-message")
    box.send_keys(question)
    box.send_keys(Keys.ENTER)
    return wait_quiet(driver, before)


def shown_buttons(driver) -> List[str]:
    """The labels of the visible suggestion buttons."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.rw-replies .rw-reply'))"
        ".filter(e => e.offsetParent !== null).map(e => e.innerText);"
    )


def click_button(driver, label: str) -> None:
    """A real mouse click in the middle of the suggestion button with this label.

    By position, not by element: the widget re-renders its buttons so often that an element found by
    WebDriver is usually stale by the time it is clicked."""
    from selenium.webdriver.common.action_chains import ActionChains

    def centre():
        return driver.execute_script(
            "const b = Array.from(document.querySelectorAll('.rw-replies .rw-reply'))"
            "  .find(e => e.innerText === arguments[0] && e.offsetParent !== null);"
            "if (!b) return null; b.scrollIntoView({block: 'center'});"
            "const r = b.getBoundingClientRect(); return [Math.round(r.x + r.width / 2), Math.round(r.y + r.height / 2)];",
            label,
        )

    x, y = wait_for(centre, f"the button {label!r}", 10)
    actions = ActionChains(driver)
    actions.w3c_actions.pointer_action.move_to_location(x, y).click()
    actions.perform()


def session_id(driver) -> Optional[str]:
    """The conversation id the widget keeps in sessionStorage (Rasa's sender id with session_persistence)."""
    return driver.execute_script(
        "var s = window.sessionStorage.getItem('chat_session'); return s ? JSON.parse(s).session_id : null;"
    )


def topic_of_last_answer(bot: BotServer, session: str) -> str:
    """The topic of the last answer in a widget session's conversation (stored under a keyed hash of the id)."""
    return bot.web_tracker(session)["slots"]["topic"]


def assert_health_answer(answer: List[str], topic_id: str, first_in_conversation: bool) -> None:
    """The guide's passage, its source line and the disclaimer, as the visitor sees them."""
    topic = GUIDE.get(topic_id)
    shown = squash("\n".join(answer))
    assert squash(topic.passage) in shown, f"passage of {topic_id} not shown; the widget shows:\n{shown}"
    assert POLICY.source_line.format(heading=topic.heading) in shown
    assert squash(POLICY.disclaimer(first_in_conversation)) in shown, f"disclaimer not shown in:\n{shown}"


# rasa-webchat's CSS @imports a Google font; the page's Content-Security-Policy refuses it on purpose
# (no third-party requests from a health page; the widget falls back to the system font).
EXPECTED_REFUSAL = "fonts.googleapis.com"


def browser_errors(driver) -> List[str]:
    """Script errors and Content-Security-Policy refusals (but the expected one) from the browser's console."""
    return [
        entry["message"] for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and EXPECTED_REFUSAL not in entry["message"]
        and ("Content Security Policy" in entry["message"] or "Uncaught" in entry["message"])
    ]


def screenshot(driver, name: str) -> Path:
    path = SCREENSHOTS / name
    assert driver.save_screenshot(str(path)), f"could not save {path}"
    return path


# ------------------------------------------------------------------------------------------------- tests
def test_socketio_refuses_other_origins(webchat_bot: BotServer, page_origin: str) -> None:
    """socket.io's polling and WebSocket handshakes: the page's origin is served, another origin gets 403,
    and the CORS header is sent once (two would make browsers refuse the answer)."""
    import websocket  # websocket-client, a dependency of selenium

    handshake = f"{webchat_bot.url}/socket.io/?EIO=4&transport=polling"
    allowed = requests.get(handshake, headers={"Origin": page_origin}, timeout=10)
    assert allowed.status_code == 200 and allowed.text.startswith("0{"), allowed.text[:200]
    assert allowed.headers.get("Access-Control-Allow-Origin") == page_origin
    refused = requests.get(handshake, headers={"Origin": EVIL_ORIGIN}, timeout=10)
    assert refused.status_code == 403, (refused.status_code, refused.text[:200])
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert requests.get(handshake, timeout=10).status_code == 200  # no Origin: not a browser page

    ws_url = webchat_bot.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused_ws:
        websocket.create_connection(ws_url, origin=EVIL_ORIGIN, timeout=10)
    assert refused_ws.value.status_code == 403
    ws = websocket.create_connection(ws_url, origin=page_origin, timeout=10)
    try:
        assert ws.recv().startswith("0{")  # engine.io's open packet
    finally:
        ws.close()


def socketio_conversation(bot: BotServer, origin: str, session: object, question: str):
    """One socket.io connection, as the widget makes it: ask for a session (sending `session` as its id),
    send a question, and collect the bot's messages until the last one (it carries the buttons)."""
    import socketio

    # Over a WebSocket, as browsers connect; the page's origin goes in the handshake's Origin header.
    client = socketio.Client(reconnection=False, websocket_extra_options={"origin": origin})
    confirmed: List[str] = []
    said: List[dict] = []
    client.on("session_confirm", confirmed.append)
    client.on("bot_uttered", said.append)
    client.connect(bot.url, transports=["websocket"], wait_timeout=10)
    try:
        client.emit("session_request", {"session_id": session})
        wait_for(lambda: confirmed, "session_confirm", 10)
        client.emit("user_uttered", {"message": question, "session_id": confirmed[0]})
        wait_for(lambda: any(m.get("quick_replies") for m in said), f"the answer to {question!r}")
    finally:
        client.disconnect()
    return confirmed[0], [m.get("text", "") for m in said]


def test_socketio_session_persists_across_connections(webchat_bot: BotServer, page_origin: str) -> None:
    """No browser needed: answers reach the widget's session (the bot sends them to the session's room),
    and a new connection with the same session id continues the same conversation (session_persistence)."""
    session, answer = socketio_conversation(webchat_bot, page_origin, None, "what causes plantar fasciitis?")
    assert len(session) == 32 and int(session, 16) >= 0  # a new uuid4 hex from the channel
    assert_health_answer(answer, "causes", first_in_conversation=True)

    same, answer = socketio_conversation(webchat_bot, page_origin, session, "how does massage help plantar fasciitis?")
    assert same == session
    assert_health_answer(answer, "massage_benefits", first_in_conversation=False)  # the same conversation
    asked = [e["text"] for e in webchat_bot.web_tracker(session)["events"] if e["event"] == "user"]
    assert asked == ["what causes plantar fasciitis?", "how does massage help plantar fasciitis?"]

    other, _ = socketio_conversation(webchat_bot, page_origin, {"not": "an id"}, "hello")
    assert other not in (session, "") and isinstance(other, str)  # a malformed id gets a new session


def test_answer_shows_passage_source_disclaimer_and_buttons(driver, web_page: str, webchat_bot: BotServer) -> None:
    open_fresh_widget(driver, web_page)
    answer = ask(driver, "what causes plantar fasciitis?")
    sender = session_id(driver)
    assert sender, "the widget has no session id"
    assert topic_of_last_answer(webchat_bot, sender) == "causes"
    assert_health_answer(answer, "causes", first_in_conversation=True)
    # The guide's bullet points stay one per line (chat.css), not one run-on paragraph.
    passage_bubble = next(t for t in answer if "Overuse or Overloading" in t)
    assert "\n• Improper Footwear" in passage_bubble, passage_bubble
    expected_buttons = [GUIDE.get(t).label for t in SUGGESTIONS.for_topic("causes")]
    wait_for(lambda: shown_buttons(driver) == expected_buttons, f"the suggested questions {expected_buttons}", 10)
    screenshot(driver, "answer.png")
    assert browser_errors(driver) == []


def test_button_answers_its_topic(driver, web_page: str, webchat_bot: BotServer) -> None:
    open_fresh_widget(driver, web_page)
    ask(driver, "what causes plantar fasciitis?")
    title = wait_for(lambda: shown_buttons(driver)[0], "a button")
    topic_id = next(t for t in SUGGESTIONS.for_topic("causes") if GUIDE.get(t).label == title)
    before = len(texts(driver, ".rw-response"))
    click_button(driver, title)
    answer = wait_quiet(driver, before)
    assert texts(driver, ".rw-client")[-1] == title  # the visitor's side shows the button's words
    assert topic_of_last_answer(webchat_bot, session_id(driver)) == topic_id
    assert_health_answer(answer, topic_id, first_in_conversation=False)
    screenshot(driver, "button.png")


def test_script_text_is_shown_as_text_not_run(driver, web_page: str) -> None:
    """Typed HTML stays text: nothing runs (and no Content-Security-Policy refusal shows that something
    tried to), it is shown literally, and no element is made from it."""
    open_fresh_widget(driver, web_page)
    answer = ask(driver, XSS)
    assert answer, "the bot did not answer"
    time.sleep(0.5)  # an onerror handler would have fired by now
    assert driver.execute_script("return typeof window.__xss") == "undefined"
    assert texts(driver, ".rw-client")[-1] == XSS  # shown literally, as the visitor typed it
    made = driver.execute_script(
        "return document.querySelectorAll('.rw-messages-container script, .rw-messages-container img').length;"
    )
    assert made == 0
    driver.execute_script("const c = document.querySelectorAll('.rw-client'); c[c.length - 1].scrollIntoView();")
    screenshot(driver, "script-text.png")
    assert browser_errors(driver) == []


def test_reload_keeps_the_conversation(driver, web_page: str, webchat_bot: BotServer) -> None:
    """The widget shows the conversation again after a reload, and the bot continues the same one: the next
    answer carries the short disclaimer, which only follows an earlier health answer of that conversation."""
    open_fresh_widget(driver, web_page)
    question = "what causes plantar fasciitis?"
    ask(driver, question)
    sender = session_id(driver)
    shown_before = texts(driver, ".rw-client"), texts(driver, ".rw-response")

    driver.refresh()
    open_chat(driver)
    wait_for(lambda: (texts(driver, ".rw-client"), texts(driver, ".rw-response")) == shown_before,
             "the earlier conversation to be shown again", 15)
    assert session_id(driver) == sender

    answer = ask(driver, "how does massage help plantar fasciitis?")
    topic_id = topic_of_last_answer(webchat_bot, sender)
    assert topic_id == "massage_benefits"
    assert_health_answer(answer, topic_id, first_in_conversation=False)
    assert question in texts(driver, ".rw-client")
    screenshot(driver, "after-reload.png")


# ------------------------------------------------------------------------------ erasure (issue 13, privacy.js)
def test_delete_my_conversation_erases_it_says_so_and_starts_afresh(driver, web_page: str, webchat_bot: BotServer) -> None:
    """The page's "Delete my conversation" control: the conversation is gone on the bot, the page says so in
    words, and the widget starts a new conversation (a new session, the old messages no longer shown)."""
    from selenium.webdriver.common.by import By

    open_fresh_widget(driver, web_page)
    question = "how do I massage my foot at home?"
    ask(driver, question)
    old_session = session_id(driver)
    assert [e["text"] for e in webchat_bot.web_tracker(old_session)["events"] if e["event"] == "user"]

    driver.find_element(By.ID, "delete-conversation").click()
    confirmation = yaml.safe_load((PROJECT_ROOT / "data" / "privacy" / "privacy.yml").read_text())["erase"]["done"]
    wait_for(lambda: driver.find_element(By.ID, "privacy-status").text == confirmation,
             "the confirmation after the reload")
    assert not [e for e in webchat_bot.web_tracker(old_session)["events"] if e["event"] == "user"]
    open_chat(driver)
    wait_for(lambda: session_id(driver) and session_id(driver) != old_session, "a new session")
    assert question not in texts(driver, ".rw-client")
    screenshot(driver, "after-erase.png")
    assert browser_errors(driver) == []
