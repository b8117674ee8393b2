"""A task thread's database connection hygiene (runner.run_lease): Django's
close_old_connections after every task, and before a task that follows an idle wait only
when a connection stayed open (only a persistent one can go stale while the thread idles).

Django's connection handler is replaced by fakes here: what is tested is when the runner
asks a connection to close itself if unusable or obsolete, not Django's answer."""

import threading

import pytest

from tests import tasks
from tests.test_backend_states import ALL, token
from threadmill.pool import runner


class FakeConnection:
    """A connection that is open (persistent) or closes itself when checked."""

    checks = 0

    def __init__(self, persistent: bool) -> None:
        self.persistent = persistent
        self.connection = object()

    def close_if_unusable_or_obsolete(self) -> None:
        FakeConnection.checks += 1
        if not self.persistent:
            self.connection = None


class FakeHandler:
    def __init__(self, conns: list[FakeConnection]) -> None:
        self.conns = conns

    def all(self, initialized_only: bool = False) -> list[FakeConnection]:
        return self.conns


@pytest.fixture
def run(backend, monkeypatch):
    """(run_task, use): run_task runs one note_connection_checks task with run_lease in
    the calling thread; use sets the connections the runner sees."""
    FakeConnection.checks = 0
    tasks.checks_at_start.clear()
    monkeypatch.setattr(runner, "_held", threading.local())  # no thread has run a task

    def run_task(after_idle: bool) -> None:
        tasks.note_connection_checks.enqueue()
        lease = backend.acquire("w1", ALL, token())
        outcome = runner.run_lease(lease, "default", type(backend), 1000, after_idle=after_idle)
        assert outcome.succeeded, outcome.error_summary

    def use(conns: list[FakeConnection]) -> None:
        monkeypatch.setattr(runner, "connections", FakeHandler(conns))

    return run_task, use


def test_a_persistent_connection_is_checked_before_a_task_that_follows_an_idle_wait(run):
    run_task, use = run
    use([FakeConnection(persistent=True)])
    run_task(after_idle=True)  # a new thread knows nothing: it checks first
    run_task(after_idle=True)  # the connection stayed open: checked again before the task
    assert tasks.checks_at_start == [1, 3]
    assert FakeConnection.checks == 4  # and after each task


def test_no_check_before_a_task_when_the_last_one_left_every_connection_closed(run):
    run_task, use = run
    use([FakeConnection(persistent=False)])
    run_task(after_idle=True)
    use([FakeConnection(persistent=False)])  # opened again by the task, closed after it
    run_task(after_idle=True)
    run_task(after_idle=False)  # back to back: never checked before
    assert tasks.checks_at_start == [1, 2, 3]
    assert FakeConnection.checks == 4


def test_what_stayed_open_is_noted_per_thread(run):
    run_task, use = run
    use([FakeConnection(persistent=False)])
    run_task(after_idle=True)  # this thread: nothing open
    other = threading.Thread(target=run_task, args=(True,))
    other.start()
    other.join()
    assert tasks.checks_at_start == [1, 3]  # the other thread checked before its first task
