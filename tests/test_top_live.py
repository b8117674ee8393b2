"""The live dashboard in a pseudo-terminal: refresh, resize, quit, Redis down and back."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import signal
import sys
import termios
import time

import pexpect
import pytest

from tests import tasks
from tests.pool_helpers import ROOT, children
from threadmill.top.live import cbreak

ANSI = re.compile(
    r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]"
)
HOME = "\x1b[H"  # rich's Live starts each frame of a full-screen display here
ENTER_ALT_SCREEN, LEAVE_ALT_SCREEN, SHOW_CURSOR = "\x1b[?1049h", "\x1b[?1049l", "\x1b[?25h"
# pexpect forks a pty and execs bash at once; an idle executor thread that an earlier
# in-process test left behind (asgiref) makes Python warn about forking with threads.
pytestmark = pytest.mark.filterwarnings(
    "ignore:This process .* is multi-threaded, use of forkpty:DeprecationWarning"
)
# Redis options of the dashboard process: fail fast when the server is gone.
FAST_FAIL = {"retry_attempts": 0, "socket_timeout": 1, "socket_connect_timeout": 1}


class Terminal:
    """`threadmill_top` in a pty, run by a shell that prints the tty settings (`stty -g`)
    before and after it, and its exit status."""

    def __init__(self, url: str, *args: str, options: dict | None = None, size=(40, 120)):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "THREADMILL_TEST_REDIS_URL": url,
            "THREADMILL_TEST_OPTIONS": json.dumps(options or {}),
            "TERM": "xterm-256color",
        }
        for name in ("FORCE_COLOR", "NO_COLOR", "COLUMNS", "LINES", "TTY_COMPATIBLE"):
            env.pop(name, None)
        command = " ".join([sys.executable, "-m", "django", "threadmill_top", *args])
        script = f"stty -g; echo STARTING; {command}; echo EXIT=$?; stty -g"
        self.child = pexpect.spawn(
            "bash",
            ["-c", script],
            cwd=str(ROOT),
            env=env,
            dimensions=size,
            encoding="utf-8",
            codec_errors="replace",
            timeout=30,
        )
        self.child.expect(r"(\S+)\r\nSTARTING\r\n")
        self.tty_before = self.child.match.group(1)
        self.raw = ""

    def pump(self, wait: float = 0.1) -> None:
        try:
            while True:
                self.raw += self.child.read_nonblocking(1 << 16, timeout=wait)
        except pexpect.TIMEOUT:
            pass

    def mark(self) -> int:
        self.pump(0.01)
        return len(self.raw)

    def wait_frame(self, predicate, since: int = 0, timeout: float = 30.0) -> str:
        """The first frame drawn after `since` for which predicate(text) holds."""
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            for frame in self.raw[since:].split(HOME)[1:]:
                text = ANSI.sub("", frame).replace("\r", "")
                if predicate(text):
                    return text
            if time.monotonic() > deadline or not self.child.isalive():
                tail = ANSI.sub("", self.raw[-3000:])
                raise AssertionError(f"no such frame within {timeout}s; output ends:\n{tail}")

    def finish(self) -> tuple[int, str]:
        """Exit status and the tty settings after the dashboard exited."""
        self.child.expect(r"EXIT=(\d+)\r\n(\S+)\r\n")
        code, tty_after = int(self.child.match.group(1)), self.child.match.group(2)
        self.raw += self.child.before
        self.child.expect(pexpect.EOF)
        return code, tty_after

    def close(self) -> None:
        self.child.close(force=True)


@pytest.fixture
def terminal():
    opened: list[Terminal] = []

    def start(*args, **kwargs) -> Terminal:
        t = Terminal(*args, **kwargs)
        opened.append(t)
        return t

    yield start
    for t in opened:
        t.close()


def queue_row(queue: str, ready: int):
    """A frame whose queues table shows `ready` tasks in queue (marked when no pool runs)."""
    return lambda text: re.search(rf"^{queue}( \(no pool\))?\s+{ready}\s", text, re.MULTILINE)


def test_live_screen_refreshes_resizes_and_q_restores_the_terminal(redis_server, terminal):
    term = terminal(redis_server.url, "--interval", "0.3")
    term.wait_frame(queue_row("low", 0))
    since = term.mark()
    for _ in range(3):
        tasks.noop.using(queue_name="low").enqueue()
    frame = term.wait_frame(queue_row("low", 3), since)
    assert "Deferred" in frame
    since = term.mark()
    term.child.setwinsize(24, 60)
    narrow = term.wait_frame(lambda text: "Queue" in text and "Deferred" not in text, since)
    assert max(len(line.rstrip()) for line in narrow.splitlines()) <= 60
    term.child.send("q")
    code, tty_after = term.finish()
    assert code == 0
    assert tty_after == term.tty_before  # echo and line mode back
    assert ENTER_ALT_SCREEN in term.raw
    tail = term.raw[term.raw.rindex(HOME) :]  # after the last frame
    assert LEAVE_ALT_SCREEN in tail
    assert SHOW_CURSOR in tail
    assert "Traceback" not in ANSI.sub("", term.raw)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_ctrl_c_and_sigterm_quit_cleanly_too(redis_server, terminal, how):
    term = terminal(redis_server.url, "--interval", "0.3")
    term.wait_frame(queue_row("default", 0))
    if how == "ctrl-c":
        term.child.sendintr()
    else:
        [dashboard] = children(term.child.pid)  # the shell's child
        os.kill(dashboard, signal.SIGTERM)
    code, tty_after = term.finish()
    assert code == 0
    assert tty_after == term.tty_before
    assert LEAVE_ALT_SCREEN in term.raw[term.raw.rindex(HOME) :]
    assert "Traceback" not in ANSI.sub("", term.raw)


def test_redis_down_is_shown_and_retried_until_it_is_back(disposable_redis, make_backend, terminal):
    server = disposable_redis()
    make_backend(server.url)  # for this test's enqueues
    term = terminal(server.url, "--interval", "0.3", options=FAST_FAIL)
    term.wait_frame(queue_row("default", 0))
    since = term.mark()
    server.kill()
    frame = term.wait_frame(lambda text: "Redis down" in text, since)
    assert "did not answer" in " ".join(frame.split())
    assert queue_row("default", 0)(frame)  # the last figures stay on screen
    since = term.mark()
    term.wait_frame(lambda text: "Redis down" in text, since)  # still retrying, still up
    assert term.child.isalive()
    assert "EXIT=" not in term.raw
    server.restart()
    for _ in range(2):
        tasks.noop.using(queue_name="low").enqueue()
    since = term.mark()
    recovered = term.wait_frame(queue_row("low", 2), since)
    assert "Redis down" not in recovered
    term.child.send("q")
    code, tty_after = term.finish()
    assert code == 0
    assert tty_after == term.tty_before


def test_cbreak_turns_off_echo_and_line_mode_and_restores_them():
    leader, follower = pty.openpty()
    try:
        before = termios.tcgetattr(follower)
        with open(follower, closefd=False) as stream, cbreak(stream) as fd:
            during = termios.tcgetattr(fd)
            assert not during[3] & termios.ICANON
            assert not during[3] & termios.ECHO
            assert during[3] & termios.ISIG  # Ctrl-C still interrupts
        assert termios.tcgetattr(follower) == before
        with cbreak(io.StringIO()) as fd:
            assert fd is None  # not a terminal: no keys, nothing to restore
    finally:
        os.close(leader)
        os.close(follower)
