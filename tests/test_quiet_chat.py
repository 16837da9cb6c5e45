"""`make chat` as a new user sees it, in a terminal (a pseudo-terminal here): one line while the bot starts,
then the bot; the deprecation warnings and log lines of Rasa and its dependencies go to var/chat.log; the
shell's own server listens on loopback only; a port that is taken gets a plain message, not a traceback.

The test runs the real `make chat` (the model is not remade: `-o`), on free ports, with a conversation
store of its own. It writes var/chat.log and var/action-server.log, as `make chat` does.
"""
from __future__ import annotations

import fcntl
import logging
import os
import pty
import re
import select
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Dict, List, Optional, Set

import pytest

from actions.knowledge import Guide
from actions.safety import SafetyPolicy
from tests.conftest import OUTPUT_DIR, PROJECT_ROOT
from tests.servers import free_port, stop_process_group

pytestmark = pytest.mark.e2e
logger = logging.getLogger(__name__)

CHAT_LOG = PROJECT_ROOT / "var" / "chat.log"
START_TIMEOUT_S = 240
PROMPT = "Your input ->"
# What must never reach the chat's screen: Python warnings, log lines, tracebacks.
NOISE = re.compile(r"warning|deprecat|traceback|\bINFO\b|\bDEBUG\b|site-packages", re.IGNORECASE)
# Terminal control sequences (colours, cursor moves of the prompt) and the other escapes prompt_toolkit sends.
ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\x1b[=>78]")
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


class Terminal:
    """A program in a pseudo-terminal of 160x50 characters: what it shows, and keys typed into it."""

    def __init__(self, command: List[str], env: Dict[str, str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
        # A session of its own, so that whatever is left of it can be stopped at the end (its group).
        self.process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdin=slave, stdout=slave,
                                        stderr=slave, start_new_session=True)
        os.close(slave)
        self.master = master
        self.raw = b""

    def read(self, timeout: float = 0.2) -> None:
        while select.select([self.master], [], [], timeout)[0]:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the program closed the terminal
                return
            if not data:
                return
            self.raw += data
            timeout = 0.05

    def screen(self) -> str:
        """The text shown, without control sequences (ANSI colours, cursor moves)."""
        text = ESCAPES.sub("", self.raw.decode("utf-8", errors="replace"))
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def wait_for(self, text: str, timeout: float, times: int = 1) -> str:
        """Wait until `text` has been shown `times` times; the screen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read()
            if self.screen().count(text) >= times:
                return self.screen()
            if self.process.poll() is not None:
                self.read()
                break
        raise AssertionError(f"{text!r} not shown within {timeout:.0f} s (exit status {self.process.poll()}); "
                             f"the screen:\n{self.screen()[-3000:]}")

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def wait_exit(self, timeout: float) -> Optional[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            self.read()
        self.read()
        return self.process.poll()

    def close(self) -> None:
        stop_process_group(self.process, timeout=20)
        os.close(self.master)


def listening_addresses(port: int) -> Set[str]:
    """The local addresses of the TCP sockets listening on `port` (from /proc/net/tcp and tcp6)."""
    found: Set[str] = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word in host (little-endian) order.
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(socket.inet_ntop(family, raw))
    return found


def chat_env(model: Path, rasa_port: int, action_port: int, workdir: Path) -> Dict[str, str]:
    """The environment of a developer's terminal, with this test's ports and conversation store."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "conversations.db").unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "MAKE", "MFLAGS"))}
    env.update(TERM="xterm-256color", VENV=str(Path(sys.executable).parent.parent), MODEL=str(model),
               RASA_PORT=str(rasa_port), ACTION_PORT=str(action_port),
               ACTION_ENDPOINT_URL=f"http://localhost:{action_port}/webhook",
               TRACKER_STORE_URL=f"sqlite:///{workdir / 'conversations.db'}")
    env.pop("ACTION_SERVER_TOKEN", None)  # run.sh makes one for the run, as for a developer
    return env


def make_chat(model: Path, env: Dict[str, str]) -> List[str]:
    """`make chat` with the test's ports; -o: never retrain here (make test has just trained)."""
    return ["make", "--no-print-directory", "-o", str(model), f"MODEL={model}", "chat",
            f"RASA_PORT={env['RASA_PORT']}", f"ACTION_PORT={env['ACTION_PORT']}",
            f"ACTION_ENDPOINT_URL={env['ACTION_ENDPOINT_URL']}", f"TRACKER_STORE_URL={env['TRACKER_STORE_URL']}"]


def test_make_chat_shows_one_line_then_the_bot(trained_model: Path) -> None:
    rasa_port, action_port = free_port(), free_port()
    env = chat_env(trained_model, rasa_port, action_port, OUTPUT_DIR / "quiet-chat")
    terminal = Terminal(make_chat(trained_model, env), env)
    try:
        screen = terminal.wait_for(PROMPT, START_TIMEOUT_S)
        before_bot = screen.split("Bot loaded", 1)[0]
        shown = [line for line in before_bot.splitlines() if line.strip()]
        assert len(shown) == 1 and shown[0].startswith("Starting the bot"), f"before the bot:\n{before_bot}"
        assert "var/chat.log" in shown[0]  # where the details are
        assert not NOISE.search(screen), f"noise on the chat's screen:\n{screen}"

        # The shell's own server and the action server listen on loopback only.
        assert listening_addresses(rasa_port) and listening_addresses(rasa_port) <= LOOPBACK, \
            listening_addresses(rasa_port)
        assert listening_addresses(action_port) and listening_addresses(action_port) <= LOOPBACK
        # The warnings were moved to the log, not lost; Rasa's own line names the address it serves on.
        log = CHAT_LOG.read_text()
        assert "DeprecationWarning" in log and f"Starting Rasa server on http://127.0.0.1:{rasa_port}" in log

        # The bot works, and its answer is all the screen shows.
        question = "what causes plantar fasciitis?"
        terminal.type(question + "\r")
        passage = Guide.load().get("causes").passage
        screen = terminal.wait_for(passage.split("\n")[0][:60], 60)
        screen = terminal.wait_for(SafetyPolicy.load().disclaimer(True)[:60], 20)
        assert not NOISE.search(screen), f"noise on the chat's screen:\n{screen}"

        # Issue 14: the answer's choices end with "helpful / not helpful"; choosing "not helpful" (up twice from
        # the first choice, past "type your own message") is thanked. Then a second question.
        assert '👎 Not helpful (/not_helpful{"rated_topic":"causes"})' in screen, screen[-2000:]
        terminal.type("\x1b[A\x1b[A")
        terminal.type("\r")
        terminal.wait_for("Thanks for telling me", 30)
        terminal.type("how do i massage my foot at home?\r")
        screen = terminal.wait_for(SafetyPolicy.load().short_disclaimer[:40], 60)

        # Leave as the shell says: the last choice of the suggestions is "type your own message", then /stop.
        prompts = screen.count(PROMPT)
        terminal.type("\x1b[A")  # up from the first choice: the last one
        terminal.type("\r")
        terminal.wait_for(PROMPT, 10, times=prompts + 1)
        terminal.type("/stop\r")
        assert terminal.wait_exit(60) == 0, f"`make chat` did not end with /stop:\n{terminal.screen()[-2000:]}"
        assert not NOISE.search(terminal.screen()), f"noise on the chat's screen:\n{terminal.screen()}"
        assert question not in CHAT_LOG.read_text(), "a visitor's words in var/chat.log"
        time.sleep(1)
        assert listening_addresses(action_port) == set(), "the action server was left running"
    finally:
        terminal.close()


def test_make_chat_on_a_taken_port_says_so(trained_model: Path) -> None:
    """A second `make chat` (the port is taken): a plain sentence and a non-zero status, not a traceback
    in the log and a silent return to the prompt (Rasa exits with status 0 when it cannot bind)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        rasa_port = taken.getsockname()[1]
        action_port = free_port()
        env = chat_env(trained_model, rasa_port, action_port, OUTPUT_DIR / "quiet-chat-taken")
        terminal = Terminal(make_chat(trained_model, env), env)
        try:
            status = terminal.wait_exit(120)
            screen = terminal.screen()
        finally:
            terminal.close()
    assert status not in (0, None), f"exit status {status}:\n{screen}"
    assert f"Port {rasa_port} is already in use" in screen, screen
    assert not NOISE.search(screen), f"noise on the screen:\n{screen}"
    assert listening_addresses(action_port) == set(), "the action server was left running"
