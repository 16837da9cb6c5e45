"""The website's chat widget (rasa-webchat, web/) in real headless Chromium, against the running bot.

The module starts the action server and the Rasa server once (socketio channel, CORS for the page's
origin), serves web/ with scripts/serve_web.py on a free port, and drives Debian's chromium through its
chromedriver (selenium). What it needs is installed by scripts/install_browser_deps.sh from the module's
fixtures (apt's chromium and chromium-driver, `npm ci` in web/), so `make test` works on a fresh clone; the
browser tests are skipped, with the installer's message, only where chromium cannot be installed.
The accessibility tests audit the page with axe-core, use the widget with the keyboard only, check the
live region that reads new messages to screen readers, and the layout at 200% zoom and on a phone.
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
# Issue 14: every health answer's buttons end with "helpful / not helpful" (data/clinic/feedback.yml).
FEEDBACK_TITLES = list(yaml.safe_load((PROJECT_ROOT / "data" / "clinic" / "feedback.yml").read_text())["buttons"].values())
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
    expected_buttons = [GUIDE.get(t).label for t in SUGGESTIONS.for_topic("causes")] + FEEDBACK_TITLES
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


def test_feedback_button_is_thanked_and_kept_in_the_conversation(driver, web_page: str, webchat_bot: BotServer) -> None:
    """Issue 14: "helpful" under an answer, clicked, shows the visitor's choice and a short thanks, and the
    conversation keeps the press with the rated answer's topic (what `make insights` counts)."""
    open_fresh_widget(driver, web_page)
    ask(driver, "what causes plantar fasciitis?")
    wait_for_buttons(driver, "causes")
    before = len(texts(driver, ".rw-response"))
    click_button(driver, FEEDBACK_TITLES[0])
    thanks = wait_quiet(driver, before)
    assert texts(driver, ".rw-client")[-1] == FEEDBACK_TITLES[0]
    assert thanks and thanks[0].startswith("Thanks"), thanks
    tracker = webchat_bot.web_tracker(session_id(driver))
    pressed = [e["parse_data"] for e in tracker["events"] if e["event"] == "user"][-1]
    assert pressed["intent"]["name"] == "helpful"
    assert [(e["entity"], e["value"]) for e in pressed["entities"]] == [("rated_topic", "causes")]
    assert tracker["slots"]["topic"] == "smalltalk.feedback"
    screenshot(driver, "feedback.png")


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


# --------------------------------------------------------------------------------------- accessibility
# Measured with axe-core (web/package.json, served by serve_web.py as /vendor/axe.min.js) on the page with
# the widget open and one answer shown. Before web/a11y.js it found button-name (critical: the launcher and
# the send button), scrollable-region-focusable (serious: the message list), heading-order and region
# (moderate); docs/website.md has the figures. These must not come back.
FIXED_RULES = {"button-name", "scrollable-region-focusable", "heading-order", "region"}
BLOCKING_IMPACTS = {"serious", "critical"}
LIVE_REGION = ".pf-chat .pf-chat-live[aria-live='polite']"
# 200% browser zoom of the 1280x1100 window is a 640x550 CSS-pixel viewport at device pixel ratio 2; a phone
# is 360 CSS pixels wide (the narrowest common Android width).
VIEWPORTS = {
    "zoom-200": dict(width=640, height=550, deviceScaleFactor=2, mobile=False),
    "phone-360": dict(width=360, height=740, deviceScaleFactor=2, mobile=True),
}


def run_axe(driver) -> dict:
    """axe-core's results for the whole page: loaded from the page's own server (the Content-Security-Policy
    allows no other script source), then run with its default rules."""
    driver.set_script_timeout(90)
    error = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "if (window.axe) { done(null); return; }"
        "const s = document.createElement('script'); s.src = '/vendor/axe.min.js';"
        "s.onload = () => done(null); s.onerror = () => done('could not load /vendor/axe.min.js');"
        "document.head.appendChild(s);"
    )
    assert error is None, error
    results = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document).then(r => done({version: axe.version,"
        "  violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        "    targets: v.nodes.map(n => n.target.join(' '))})),"
        "  passes: r.passes.map(v => ({id: v.id, targets: v.nodes.map(n => n.target.join(' '))}))}))"
        ".catch(e => done({error: String(e)}));"
    )
    assert "error" not in results, results.get("error")
    return results


def assert_accessible(results: dict, launcher_shown: bool = True) -> None:
    """No serious or critical violation, none of the rules fixed before, and the widget was really audited
    (its send button, and the launcher unless the chat fills the screen, are among the buttons axe-core
    found named)."""
    violations = results["violations"]
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    assert blocking == [], f"axe-core {results['version']}: serious or critical violations {blocking}"
    back = [v for v in violations if v["id"] in FIXED_RULES]
    assert back == [], f"axe-core {results['version']}: fixed violations are back: {back}"
    named = next((p["targets"] for p in results["passes"] if p["id"] == "button-name"), [])
    wanted = [".rw-send"] + ([".rw-launcher"] if launcher_shown else [])
    missing = [w for w in wanted if not any(w in t for t in named)]
    assert missing == [], f"{missing} not audited; the buttons axe-core found named: {named}"


def active_element(driver) -> dict:
    """What has the keyboard focus: its classes, role, accessible label and text."""
    return driver.execute_script(
        "const a = document.activeElement; if (!a) return {};"
        "return {tag: a.tagName.toLowerCase(), cls: a.className || '', role: a.getAttribute('role'),"
        "  label: a.getAttribute('aria-label'), expanded: a.getAttribute('aria-expanded'), text: a.innerText || ''};"
    )


def press(driver, *keys: str) -> None:
    """Keys typed into whatever has the focus, as a person would (not sent to a chosen element)."""
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(*keys).perform()


def shift_tab(driver) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()


def tab_to(driver, matches: Callable[[dict], bool], what: str, backwards: bool = False, most: int = 8) -> dict:
    """Press Tab (or Shift+Tab) until the focused element matches; fail after `most` presses."""
    from selenium.webdriver.common.keys import Keys

    seen = []
    for _ in range(most):
        shift_tab(driver) if backwards else press(driver, Keys.TAB)
        focused = active_element(driver)
        if matches(focused):
            return focused
        seen.append(f"{focused.get('tag')}.{focused.get('cls')}")
    raise AssertionError(f"{what} was not reached with {'Shift+' if backwards else ''}Tab; focus went to {seen}")


def is_launcher(focused: dict) -> bool:
    return "rw-launcher" in focused.get("cls", "")


def is_text_box(focused: dict) -> bool:
    return "rw-new-message" in focused.get("cls", "")


def is_suggestion(focused: dict) -> bool:
    """A suggested question's button (not one of the feedback buttons after them)."""
    return "rw-reply" in focused.get("cls", "") and focused.get("text") not in FEEDBACK_TITLES


def load_fresh_page(driver, url: str) -> None:
    """A new visitor (empty storage, see open_fresh_widget) with the page loaded and the launcher shown."""
    from selenium.webdriver.common.by import By

    driver.get(url.rstrip("/") + "/config.json")
    driver.execute_script("window.sessionStorage.clear(); window.localStorage.clear();")
    driver.get(url)
    wait_for(lambda: any(e.is_displayed() for e in driver.find_elements(By.CSS_SELECTOR, ".rw-launcher")),
             "the widget's launcher")


def wait_for_buttons(driver, topic_id: str) -> List[str]:
    """The answer's buttons: its suggested questions, then the feedback buttons."""
    expected = [GUIDE.get(t).label for t in SUGGESTIONS.for_topic(topic_id)] + FEEDBACK_TITLES
    wait_for(lambda: shown_buttons(driver) == expected, f"the suggested questions {expected}", 10)
    return expected


def test_axe_finds_no_serious_or_critical_violation(driver, web_page: str, figures: List[str]) -> None:
    """axe-core on the page with the widget open and one answer with its suggestions shown."""
    open_fresh_widget(driver, web_page)
    ask(driver, "what causes plantar fasciitis?")
    wait_for_buttons(driver, "causes")
    results = run_axe(driver)
    found = ", ".join(f"{v['id']} ({v['impact']}, {len(v['targets'])})" for v in results["violations"]) or "none"
    logger.info("axe-core %s violations: %s", results["version"], found)
    figures.append(f"Widget accessibility: axe-core {results['version']} violations with one answer shown: {found}")
    assert_accessible(results)
    assert browser_errors(driver) == []


def test_keyboard_only_open_ask_suggestion_close(driver, web_page: str, webchat_bot: BotServer) -> None:
    """Keyboard only: Tab to the launcher, Enter opens the chat with the focus in the text box, a typed
    question and Enter get the answer, Shift+Tab reaches a suggestion and Enter presses it (Space the next
    one), Tab reaches the launcher and Enter closes the chat; reopened, Escape closes it. No clicks."""
    from selenium.webdriver.common.keys import Keys

    load_fresh_page(driver, web_page)
    launcher = tab_to(driver, is_launcher, "the launcher")
    assert (launcher["label"], launcher["expanded"]) == ("Open the chat", "false")

    press(driver, Keys.ENTER)
    wait_for(lambda: chat_is_open(driver) and is_text_box(active_element(driver)),
             "the chat to open with the focus in the text box", 10)
    assert active_element(driver)["label"] == "Your question"
    wait_for(lambda: any("plantar fasciitis" in t for t in texts(driver, ".rw-response")), "the greeting")
    wait_quiet(driver, len(texts(driver, ".rw-response")) - 1)

    before = len(texts(driver, ".rw-response"))
    press(driver, "what causes plantar fasciitis?", Keys.ENTER)
    assert_health_answer(wait_quiet(driver, before), "causes", first_in_conversation=True)
    expected = wait_for_buttons(driver, "causes")

    suggestion = tab_to(driver, is_suggestion, "a suggested question", backwards=True)
    assert suggestion["role"] == "button" and suggestion["text"] in expected, suggestion
    time.sleep(0.4)  # the focus ring is drawn
    screenshot(driver, "keyboard-suggestion.png")
    before = len(texts(driver, ".rw-response"))
    press(driver, Keys.ENTER)
    answer = wait_quiet(driver, before)
    topic_id = next(t for t in SUGGESTIONS.for_topic("causes") if GUIDE.get(t).label == suggestion["text"])
    assert texts(driver, ".rw-client")[-1] == suggestion["text"]
    assert topic_of_last_answer(webchat_bot, session_id(driver)) == topic_id
    assert_health_answer(answer, topic_id, first_in_conversation=False)
    assert is_text_box(active_element(driver)), f"focus after a suggestion: {active_element(driver)}"

    next_expected = wait_for_buttons(driver, topic_id)
    second = tab_to(driver, is_suggestion, "a suggested question of the second answer", backwards=True)
    before = len(texts(driver, ".rw-response"))
    press(driver, Keys.SPACE)
    wait_quiet(driver, before)
    assert second["text"] in next_expected and texts(driver, ".rw-client")[-1] == second["text"]

    launcher = tab_to(driver, is_launcher, "the launcher (to close the chat)")
    assert (launcher["label"], launcher["expanded"]) == ("Close the chat", "true")
    press(driver, Keys.ENTER)
    wait_for(lambda: not chat_is_open(driver), "the chat to close", 10)
    assert is_launcher(active_element(driver)) and active_element(driver)["label"] == "Open the chat"

    press(driver, Keys.ENTER)
    wait_for(lambda: chat_is_open(driver) and is_text_box(active_element(driver)), "the chat to open again", 10)
    press(driver, Keys.ESCAPE)
    wait_for(lambda: not chat_is_open(driver), "Escape to close the chat", 10)
    assert is_launcher(active_element(driver)), f"focus after Escape: {active_element(driver)}"
    assert browser_errors(driver) == []


def watch_announcements(driver) -> None:
    """Record every line added to the widget's live region (a screen reader reads additions to it)."""
    assert driver.execute_script(
        "const live = document.querySelector(arguments[0]); if (!live) return false;"
        "window.__announced = [];"
        "new MutationObserver(ms => ms.forEach(m => m.addedNodes.forEach(n => window.__announced.push(n.textContent))))"
        "  .observe(live, {childList: true, subtree: true, characterData: true});"
        "return true;", LIVE_REGION,
    ), f"no polite live region ({LIVE_REGION}) in the chat's landmark"


def announced(driver) -> List[str]:
    return driver.execute_script("return window.__announced || [];")


def test_new_bot_messages_are_announced(driver, web_page: str) -> None:
    """Each new bot message is added to the polite live region, with its suggested questions; the visitor's
    own words are not, and a conversation shown again after a reload is not read out again."""
    load_fresh_page(driver, web_page)
    watch_announcements(driver)
    open_chat(driver)
    wait_for(lambda: any("plantar fasciitis" in t for t in announced(driver)), "the greeting to be announced")

    question = "what causes plantar fasciitis?"
    ask(driver, question)
    wait_for_buttons(driver, "causes")
    said = "\n".join(announced(driver))
    assert_health_answer([said], "causes", first_in_conversation=True)
    labels = [GUIDE.get(t).label for t in SUGGESTIONS.for_topic("causes")] + FEEDBACK_TITLES
    assert f"Suggested questions: {'; '.join(labels)}." in said, said
    assert question not in said

    driver.refresh()
    wait_for(lambda: driver.execute_script("return !!document.querySelector(arguments[0])", LIVE_REGION),
             "the live region after the reload")
    watch_announcements(driver)
    open_chat(driver)
    wait_for(lambda: question in texts(driver, ".rw-client"), "the conversation shown again")
    time.sleep(QUIET_S)
    assert announced(driver) == [], f"the old conversation was read out again: {announced(driver)}"
    ask(driver, "how does massage help plantar fasciitis?")
    assert_health_answer(["\n".join(announced(driver))], "massage_benefits", first_in_conversation=False)


def layout(driver) -> dict:
    """Rectangles (CSS pixels) of the widget's parts, the viewport, and what overflows."""
    return driver.execute_script(
        "const box = e => { const r = e.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top,"
        "  bottom: r.bottom, width: r.width, height: r.height}; };"
        "const one = s => { const e = document.querySelector(s); return e && e.offsetParent !== null ? box(e) : null; };"
        "const all = s => Array.from(document.querySelectorAll(s)).filter(e => e.offsetParent !== null);"
        "return {width: innerWidth, height: innerHeight, scrollWidth: document.documentElement.scrollWidth,"
        "  chat: one('.rw-conversation-container'), messages: one('.rw-messages-container'),"
        "  title: one('.rw-title'), subtitle: one('.rw-header span'), close: one('.rw-close-button'),"
        "  textBox: one('.rw-new-message'),"
        "  pieces: all('.rw-response, .rw-client, .rw-reply').map(box),"
        "  clipped: all('.rw-response, .rw-client, .rw-reply, .rw-title, .rw-header span')"
        "    .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText.slice(0, 40)),"
        "  smallest: Math.min(...all('.rw-response, .rw-reply, .rw-new-message')"
        "    .map(e => parseFloat(getComputedStyle(e).fontSize)))};"
    )


def overlap(a: dict, b: dict) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_readable_at_200_percent_zoom_and_on_a_phone(driver, web_page: str, viewport: str) -> None:
    """At 200% zoom and on a 360-pixel phone the chat fills the screen: nothing runs off its sides or is cut,
    the header's title and subtitle clear the close button, the text box is on screen, the answer has room;
    axe-core finds nothing serious there either, and the close button closes it from the keyboard, the
    focus back on the launcher. Screenshots: zoom-200.png, phone-360.png."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", VIEWPORTS[viewport])
    try:
        open_fresh_widget(driver, web_page)
        ask(driver, "what causes plantar fasciitis?")
        wait_for_buttons(driver, "causes")
        time.sleep(0.6)  # the widget's slide-in animation has ended
        shown = layout(driver)
        screenshot(driver, f"{viewport}.png")
        width, height = shown["width"], shown["height"]
        assert width == VIEWPORTS[viewport]["width"], shown
        assert shown["scrollWidth"] <= width, f"the page scrolls sideways: {shown['scrollWidth']} > {width}"
        chat = shown["chat"]
        assert chat and chat["left"] >= 0 and chat["right"] <= width and chat["bottom"] <= height, chat
        outside = [p for p in shown["pieces"] if p["left"] < 0 or p["right"] > width]
        assert outside == [], f"message bubbles or buttons past the screen's edge: {outside}"
        assert shown["clipped"] == [], f"text cut off: {shown['clipped']}"
        assert shown["close"], "no close button (the launcher is hidden while the chat fills the screen)"
        for part in ("title", "subtitle"):
            assert shown[part] and not overlap(shown[part], shown["close"]), f"the {part} runs under the close button"
        assert not overlap(shown["title"], shown["subtitle"]), "the title and subtitle overlap"
        box = shown["textBox"]
        assert box and box["left"] >= 0 and box["right"] <= width and box["bottom"] <= height, box
        assert shown["messages"]["height"] >= 0.4 * height, f"little room for the answer: {shown['messages']}"
        assert shown["smallest"] >= 14, f"text smaller than 14 CSS pixels: {shown['smallest']}"
        assert_accessible(run_axe(driver), launcher_shown=False)

        # The launcher is hidden while the chat fills the screen: the header's close button closes it.
        from selenium.webdriver.common.keys import Keys

        close = tab_to(driver, lambda f: "rw-close-button" in f.get("cls", ""), "the close button", backwards=True)
        assert close["label"] == "Close the chat"
        press(driver, Keys.ENTER)
        wait_for(lambda: not chat_is_open(driver), "the chat to close", 10)
        assert is_launcher(active_element(driver)), f"focus after closing: {active_element(driver)}"
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
