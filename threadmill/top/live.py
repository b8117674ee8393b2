"""The live dashboard: owns the terminal while it runs, and gives it back as it found it.

* A reader thread samples the backend every `interval` seconds, so a Redis that hangs
  (paused, cut off) never freezes the screen or the keyboard: the screen says how long
  Redis has been silent, and `q` still quits at once.
* The main thread draws with rich's `Live(screen=True, auto_refresh=False)`: the alternate
  screen, redrawn in place (no clearing, no flicker) when a new snapshot arrives, the
  terminal is resized, or a second passes (the clock).
* Keys are read in cbreak mode (no echo, no line buffering; Ctrl-C still interrupts):
  `q` quits, `t` switches to the per-task view and back (the sampler then reads the run
  metrics too). Ctrl-C and SIGTERM quit the same way. On the way out the terminal's
  attributes are restored, the alternate screen is left and the cursor shown again.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import termios
import threading
import time
import tty
from collections.abc import Iterator
from datetime import datetime
from types import FrameType
from typing import TextIO

from rich.console import Console
from rich.live import Live

from .render import render_screen
from .snapshot import Sampler
from .views import Snapshot

QUIT_KEYS = frozenset("qQ")
#: Switches between the overview and the per-task view (runs, failures, run times per task).
TASKS_KEYS = frozenset("tT")


class Reader(threading.Thread):
    """Samples in the background; the latest snapshot is always available, unblocked."""

    def __init__(self, sampler: Sampler, interval: float, wake_fd: int) -> None:
        super().__init__(name="threadmill-top-reader", daemon=True)
        self.sampler = sampler
        self.interval = interval
        self.wake_fd = wake_fd
        self.stop = threading.Event()
        self.latest: Snapshot = sampler.placeholder()
        self.reading_since: float | None = None  # monotonic time a read started

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            self.reading_since = started
            snapshot = self.sampler.sample()
            self.reading_since = None
            self.latest = snapshot
            with contextlib.suppress(OSError):
                os.write(self.wake_fd, b"s")
            self.stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def waiting(self) -> float:
        """Seconds the current read has gone unanswered, once that is longer than usual."""
        since = self.reading_since
        if since is None:
            return 0.0
        silent = time.monotonic() - since
        return silent if silent > max(2.0, self.interval) else 0.0


@contextlib.contextmanager
def cbreak(stream: TextIO) -> Iterator[int | None]:
    """The terminal in cbreak mode for single key presses; yields its fd (None when the
    stream is not a terminal: no keys then, Ctrl-C still works)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        yield None
        return
    if not os.isatty(fd):
        yield None
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd, termios.TCSANOW)
        yield fd
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def _signals(wake_fd: int) -> Iterator[None]:
    """SIGWINCH wakes the loop (redraw at the new size); SIGTERM quits like Ctrl-C."""

    def on_winch(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(OSError):
            os.write(wake_fd, b"w")

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {
        signal.SIGWINCH: signal.signal(signal.SIGWINCH, on_winch),
        signal.SIGTERM: signal.signal(signal.SIGTERM, on_term),
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError, OSError):
        while os.read(fd, 4096):
            pass


def run_live(
    sampler: Sampler,
    *,
    interval: float,
    console: Console | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Show the dashboard until `q`, Ctrl-C or SIGTERM; returns the exit code (0)."""
    console = console or Console()
    stdin = stdin or sys.stdin
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        os.set_blocking(fd, False)
    reader = Reader(sampler, interval, wake_w)
    view = "overview"
    try:
        with (
            _signals(wake_w),
            cbreak(stdin) as key_fd,
            Live(
                console=console,
                screen=True,
                auto_refresh=False,
                redirect_stdout=False,
                redirect_stderr=False,
            ) as live,
        ):
            reader.start()
            while True:
                width, height = console.size
                live.update(
                    render_screen(
                        reader.latest,
                        width,
                        height,
                        clock=datetime.now().astimezone(),
                        waiting=reader.waiting(),
                        retry_interval=interval,
                        ascii_only=console.options.ascii_only,
                        view=view,
                    ),
                    refresh=True,
                )
                fds = [wake_r] if key_fd is None else [wake_r, key_fd]
                ready, _, _ = select.select(fds, [], [], min(interval, 1.0))
                if wake_r in ready:
                    _drain(wake_r)
                if key_fd is not None and key_fd in ready:
                    keys = os.read(key_fd, 64).decode(errors="replace")
                    if not keys or QUIT_KEYS.intersection(keys):
                        break  # q, or the terminal hung up
                    for _ in range(sum(1 for k in keys if k in TASKS_KEYS)):
                        view = "tasks" if view == "overview" else "overview"
                    sampler.with_tasks = view == "tasks"
    except KeyboardInterrupt:
        pass
    finally:
        reader.stop.set()
        # A reader stuck in a Redis call is a daemon thread: it must not hold up the exit,
        # and it may still write to the pipe, so the pipe stays open until it is done.
        if reader.ident is not None:
            reader.join(timeout=0.5)
        if not reader.is_alive():
            os.close(wake_r)
            os.close(wake_w)
    return 0
