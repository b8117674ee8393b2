"""Periodic schedules: slots across DST, validation as check errors, the claim script, and
real pools racing over the same slots (each enqueued once), catch-up after every pool was
down, pause and run now."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.pool_helpers import wait_until
from threadmill.backends.records import TaskState
from threadmill.schedules import Schedule, parse

ENTRY = {"task": "tests.tasks.ledger_slot", "every": 1, "kwargs": {}}


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


# ---- slots ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "spring_day", "fall_day"),
    [
        ("Europe/Berlin", (2026, 3, 29), (2026, 10, 25)),
        ("America/New_York", (2026, 3, 8), (2026, 11, 1)),
    ],
)
def test_a_daily_slot_in_the_dst_gap_or_overlap_runs_once(zone, spring_day, fall_day):
    daily = Schedule("d", "x.y", cron="30 2 * * *", timezone=zone)
    day_before = local(zone, *spring_day, 0, 0) - timedelta(days=1)
    slots = daily.due_between(
        day_before.astimezone(UTC), day_before.astimezone(UTC) + timedelta(days=3), 10
    )
    spring = [s.astimezone(ZoneInfo(zone)) for s in slots]
    # 02:30 does not exist on the spring-forward day: it runs once, at 03:00 local time.
    assert [(s.day, s.hour, s.minute) for s in spring] == [
        (spring_day[2] - 1, 2, 30),
        (spring_day[2], 3, 0),
        (spring_day[2] + 1, 2, 30),
    ]
    nightly = Schedule("n", "x.y", cron="30 1 * * *", timezone=zone)
    start = local(zone, *fall_day, 0, 0).astimezone(UTC)
    fall = nightly.due_between(start, start + timedelta(days=1), 10)
    assert len(fall) == 1  # 01:30 happens twice that night (Berlin: 02:30): it runs once


def test_an_hourly_slot_runs_in_both_hours_of_a_fall_back_night():
    hourly = Schedule("h", "x.y", cron="30 * * * *", timezone="America/New_York")
    start = local("America/New_York", 2026, 11, 1, 0, 0).astimezone(UTC)
    slots = hourly.due_between(start, start + timedelta(hours=4), 10)
    assert len(slots) == 4  # 00:30, 01:30 EDT, 01:30 EST, 02:30: four different moments
    assert len(set(slots)) == 4


def test_interval_slots_are_the_same_for_every_pool():
    every = Schedule("e", "x.y", every=timedelta(minutes=5))
    a = every.next_slot(datetime(2026, 1, 1, 0, 3, 12, tzinfo=UTC))
    b = every.next_slot(datetime(2026, 1, 1, 0, 4, 59, tzinfo=UTC))
    assert a == b == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    assert every.describe() == "every 5 minutes"


def test_cron_names_and_words():
    [daily], problems = parse({"d": {"task": "a.b", "cron": "@daily"}}, "T")
    assert problems == []
    assert daily.cron == "0 0 * * *"
    assert "00:00" in daily.describe()


# ---- validation: manage.py check ------------------------------------------------------------


def test_bad_entries_are_check_errors(make_backend, redis_server):
    backend = make_backend(
        redis_server.url,
        {
            "schedules": {
                "cron": {"task": "tests.tasks.noop", "cron": "61 * * * *"},
                "zone": {"task": "tests.tasks.noop", "every": 60, "timezone": "Mars/Olympus"},
                "path": {"task": "tests.tasks.no_such_task", "every": 60},
                "shape": {"task": "tests.tasks.noop", "every": 60, "cron": "* * * * *"},
                "good": {"task": "tests.tasks.noop", "every": 60},
            }
        },
    )
    errors = {m.id: m for m in backend.check() if m.id.startswith("threadmill.E02")}
    assert set(errors) == {
        "threadmill.E020",
        "threadmill.E021",
        "threadmill.E022",
        "threadmill.E023",
    }
    assert "'cron'" in errors["threadmill.E021"].msg
    assert "Mars/Olympus" in errors["threadmill.E022"].msg
    assert "no_such_task" in errors["threadmill.E023"].msg
    assert errors["threadmill.E021"].hint
    entries, _ = backend.schedule_entries()
    assert [e.name for e in entries] == ["path", "good"]  # bad shapes left out


def test_the_report_lists_every_entry_in_settings_order_with_its_problem(
    make_backend, redis_server
):
    backend = make_backend(
        redis_server.url,
        {
            "schedules": {
                "path": {"task": "tests.tasks.no_such_task", "every": 60},
                "cron": {"task": "tests.tasks.noop", "cron": "61 * * * *"},
                "s": ENTRY,
            }
        },
    )
    [entry] = [e for e in backend.schedule_entries()[0] if e.name == "s"]
    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    fired = backend.fire_schedule(entry, slot)
    backend.pause_schedule("s", True)
    moment = datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    path, cron, sched = backend.schedule_report(now=moment)
    assert [path.name, cron.name, sched.name] == ["path", "cron", "s"]
    assert (path.problem.id, path.entry is None) == ("threadmill.E023", False)
    assert (cron.problem.id, cron.entry, cron.state) == ("threadmill.E021", None, None)
    assert (sched.problem, sched.paused, sched.description) == (None, True, "every second")
    assert sched.next_slot == slot + timedelta(seconds=1)  # after the newest claimed slot
    assert [(run.task_id, run.status) for run in sched.state.runs] == [(fired.task_id, "READY")]
    assert path.next_slot == datetime(2026, 1, 1, 0, 1, tzinfo=UTC)  # after `now`


@pytest.mark.parametrize("use_tz", [True, False])
def test_the_broker_catches_up_whatever_use_tz_says(make_backend, redis_server, settings, use_tz):
    """Schedule state times are aware UTC for the broker even with USE_TZ = False (a naive
    last slot made the broker's first tick fail comparing it with Redis time)."""
    from threadmill.pool.periodic import Periodic

    settings.USE_TZ = use_tz
    backend = make_backend(redis_server.url, {"schedules": {"s": ENTRY}})
    [entry] = backend.schedule_entries()[0]
    now = datetime.now(UTC).replace(microsecond=0)
    assert backend.fire_schedule(entry, now - timedelta(seconds=30)).outcome == "enqueued"
    periodic = Periodic(backend, grace=2)
    periodic.tick(now.timestamp())
    runs = backend.schedule_states(["s"])["s"].runs[::-1]  # oldest first
    assert [(run.how, now - run.slot) for run in runs] == [
        ("slot", timedelta(seconds=30)),
        ("catch-up", timedelta(seconds=2)),  # the newest slot missed, once
        ("slot", timedelta(seconds=1)),
        ("slot", timedelta(0)),
    ]
    assert periodic.next_slots()["s"] == now + timedelta(seconds=1)


@pytest.mark.parametrize(("catch_up", "caught_up"), [("none", 0), ("one", 1), ("all", 100)])
def test_slots_missed_during_an_outage_follow_catch_up(
    make_backend, redis_server, catch_up, caught_up
):
    """300 one-second slots missed: none runs none (one skip recorded), one runs the newest,
    all runs the newest CATCH_UP_ALL_LIMIT (100), never a burst of 300."""
    from threadmill.pool.periodic import Periodic
    from threadmill.schedules import CATCH_UP_ALL_LIMIT

    assert CATCH_UP_ALL_LIMIT == 100
    entry_options = {**ENTRY, "catch_up": catch_up, "queue_name": "low"}
    backend = make_backend(redis_server.url, {"schedules": {"s": entry_options}})
    [entry] = backend.schedule_entries()[0]
    now = datetime.now(UTC).replace(microsecond=0)
    assert backend.fire_schedule(entry, now - timedelta(seconds=300)).outcome == "enqueued"
    Periodic(backend, grace=2).tick(now.timestamp())
    state = backend.schedule_states(["s"])["s"]
    hows = Counter(run.how for run in state.runs)
    ready = backend.queue_stats(["low"])[0].ready
    assert ready == 1 + caught_up + 2  # the run before, the catch-up, the slots at -1 s and 0
    assert state.skipped == (1 if catch_up == "none" else 0)
    if catch_up != "all":
        assert hows["catch-up"] == caught_up
    newest = [run for run in state.runs if run.how == "catch-up"]
    if newest:
        assert newest[0].slot == now - timedelta(seconds=2)  # the newest missed slot


def test_an_entrys_queue_and_priority_override_the_tasks(make_backend, redis_server):
    schedules = {
        "own": ENTRY,
        "moved": {**ENTRY, "queue_name": "high", "priority": 7},
    }
    backend = make_backend(redis_server.url, {"schedules": schedules})
    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    fired = {e.name: backend.fire_schedule(e, slot).task_id for e in backend.schedule_entries()[0]}
    own, moved = backend.get_task(fired["own"]), backend.get_task(fired["moved"])
    assert (own.queue, own.priority) == ("default", 0)
    assert (moved.queue, moved.priority) == ("high", 7)


def test_a_schedule_removed_from_settings_stops_and_its_runs_stay(make_backend, redis_server):
    from threadmill.pool.periodic import Periodic

    backend = make_backend(redis_server.url, {"schedules": {"gone": ENTRY, "kept": ENTRY}})
    [gone, _] = backend.schedule_entries()[0]
    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    task_id = backend.fire_schedule(gone, slot).task_id
    later = make_backend(redis_server.url, {"schedules": {"kept": ENTRY}})  # a new deploy
    periodic = Periodic(later, grace=2)
    periodic.tick(slot.timestamp() + 5)
    assert set(periodic.next_slots()) == {"kept"}
    assert [r.name for r in later.schedule_report()] == ["kept"]
    assert later.schedule_states(["gone"])["gone"].last_slot == slot  # not claimed since
    record = later.get_task(task_id)  # its run stays, until result_ttl like any task
    assert (record.schedule, record.state) == ("gone", TaskState.READY)


# ---- the claim script -----------------------------------------------------------------------


def test_a_slot_is_claimed_once_never_early_and_pause_and_run_now(make_backend, redis_server):
    backend = make_backend(redis_server.url, {"schedules": {"s": ENTRY}})
    [entry], _ = backend.schedule_entries()
    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    first = backend.fire_schedule(entry, slot)
    assert first.outcome == "enqueued"
    assert backend.fire_schedule(entry, slot).outcome == "claimed"
    assert backend.fire_schedule(entry, slot + timedelta(hours=1)).outcome == "early"
    record = backend.get_task(first.task_id)
    assert record.slot == slot
    assert record.schedule == "s"
    backend.pause_schedule("s", True)
    assert backend.fire_schedule(entry, slot + timedelta(seconds=1)).outcome == "paused"
    now = backend.fire_schedule(entry, slot + timedelta(seconds=1), "now")
    assert now.outcome == "enqueued"
    state = backend.schedule_states(["s"])["s"]
    assert state.paused
    assert state.skipped == 1
    assert [run.how for run in state.runs] == ["now", "paused", "slot"]
    assert state.current == now.task_id


def test_no_overlap_skips_a_slot_while_the_previous_run_is_live(make_backend, redis_server):
    backend = make_backend(redis_server.url, {"schedules": {"s": {**ENTRY, "overlap": False}}})
    [entry], _ = backend.schedule_entries()
    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    assert backend.fire_schedule(entry, slot).outcome == "enqueued"
    assert backend.fire_schedule(entry, slot + timedelta(seconds=1)).outcome == "overlap"


# ---- real pools ----------------------------------------------------------------------------


def slots_run(book) -> Counter:
    if not book.exists():
        return Counter()
    return Counter(float(line.split()[0]) for line in book.read_text().splitlines() if line.strip())


SLOTS = int(os.environ.get("THREADMILL_SCHEDULE_SLOTS", "40"))


def test_three_pools_enqueue_every_slot_exactly_once(pool, backend, tmp_path):
    book = tmp_path / "ledger"
    options = {
        "broker_interval": 0.1,
        "schedules": {
            "every": {**ENTRY, "kwargs": {"path": str(book)}},
            "cron": {"task": "tests.tasks.ledger_slot", "cron": "* * * * *",
                     "kwargs": {"path": str(tmp_path / "cron-ledger")}},
        },
    }  # fmt: skip
    pools = [pool("--processes", "1", "--threads", "2", options=options) for _ in range(3)]
    for p in pools:
        p.wait_for_workers(1)
    start = time.time()
    wait_until(lambda: time.time() > start + SLOTS + 2, SLOTS + 10)
    runs = slots_run(book)
    window = [s for s in runs if start + 1 <= s <= start + SLOTS]
    assert max(runs.values()) == 1, [s for s, n in runs.items() if n > 1]
    expected = {float(int(start) + n) for n in range(2, SLOTS)}
    assert expected <= set(runs), sorted(expected - set(runs))
    assert len(window) >= SLOTS - 2
    cron_runs = slots_run(tmp_path / "cron-ledger")
    assert all(n == 1 for n in cron_runs.values())
    assert all(s % 60 == 0 for s in cron_runs)
    assert len(cron_runs) >= SLOTS // 60


def test_after_every_pool_was_down_one_catch_up_run(pool, backend, tmp_path):
    book = tmp_path / "ledger"
    options = {"broker_interval": 0.1, "schedules": {"s": {**ENTRY, "kwargs": {"path": str(book)}}}}
    first = pool("--processes", "1", "--threads", "1", options=options)
    wait_until(lambda: len(slots_run(book)) >= 3, 20, message=first.tail)
    os.killpg(first.pid, signal.SIGKILL)
    first.process.wait(10)
    last_before = max(slots_run(book))
    time.sleep(5.5)  # every pool down for five slots: nothing can claim them
    second = pool("--processes", "1", "--threads", "1", options=options)
    wait_until(lambda: max(slots_run(book)) >= last_before + 9, 20, message=second.tail)
    runs = slots_run(book)
    assert max(runs.values()) == 1
    state = backend.schedule_states(["s"])["s"]
    catch_ups = [run for run in state.runs if run.how == "catch-up"]
    assert len(catch_ups) == 1, state.runs
    caught = catch_ups[0].slot.timestamp()
    assert last_before + 5 <= caught  # the newest missed slot, not the oldest
    missed = [s for s in runs if last_before < s < caught]
    assert missed == []  # one run for the outage, not a burst


def test_a_paused_schedule_runs_nothing_and_run_now_runs_once(pool, backend, tmp_path):
    book = tmp_path / "ledger"
    options = {"broker_interval": 0.1, "schedules": {"s": {**ENTRY, "kwargs": {"path": str(book)}}}}
    backend.pause_schedule("s", True)
    p = pool("--processes", "1", "--threads", "1", options=options)
    p.wait_for_workers(1)
    wait_until(lambda: backend.schedule_states(["s"])["s"].skipped >= 3, 15, message=p.tail)
    assert slots_run(book) == Counter()
    [entry], _ = parse(options["schedules"], "T")
    fired = backend.fire_schedule(entry, datetime.now(UTC), "now")
    assert fired.outcome == "enqueued"
    wait_until(lambda: len(slots_run(book)) == 1, 10, message=p.tail)
    time.sleep(1.5)  # still paused: the run-now ran once, no slot followed
    assert sum(slots_run(book).values()) == 1
