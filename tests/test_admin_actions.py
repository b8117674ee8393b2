"""Admin actions through Django's test client: confirmation, outcomes, history, CSRF,
permissions, whole-set refusals (whole sets are bulk jobs: tests/test_admin_jobs.py), and
races with workers."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.messages import get_messages
from django.test import Client

from tests import tasks
from tests.admin_helpers import fail_next, failure_json, lease_next, make_user, succeed_next
from threadmill.backends.records import AckOutcome, TaskState

pytestmark = pytest.mark.django_db

BASE = "/admin/threadmill/task/"
REQUEUE = f"{BASE}default/selected/requeue/"
PURGE = f"{BASE}default/selected/purge/"
INDEXES = ("ready", "deferred", "running", "successful", "failed")


def list_path(state: str, queue: str = "default") -> str:
    return f"{BASE}default/queues/{queue}/{state}/"


def batch_path(state: str, action: str, queue: str = "default") -> str:
    return f"{BASE}default/queues/{queue}/{state}/all/{action}/"


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def take_messages(client: Client, response) -> list[str]:
    """The messages of a redirecting response, then forgotten (as a page view would)."""
    found = messages_of(response)
    client.cookies.pop("messages", None)
    return found


def where(backend, rclient, task_id: str) -> list[str]:
    """Every index of every queue that holds task_id."""
    found = []
    for queue in backend.queue_names():
        for index in INDEXES:
            if rclient.zscore(backend.keys.index(queue, index), task_id) is not None:
                found.append(f"{queue}:{index}")
    return found


def make_failed(backend, n: int, queue: str = "default") -> list[str]:
    backend.enqueue_many(tasks.fail.using(queue_name=queue), [((f"f{i}",), {}) for i in range(n)])
    return [fail_next(backend, queues=[queue]).task_id for _ in range(n)]


# ---- one task and selected tasks ------------------------------------------------------------


def test_requeue_one_task_through_the_confirmation_page(admin_client, admin_user, backend, rclient):
    [task_id] = make_failed(backend, 1)
    detail = f"{BASE}default/tasks/{task_id}/"
    page = admin_client.post(REQUEUE, {"ids": [task_id], "next": detail})
    assert page.status_code == 200
    html = page.content.decode()
    assert "requeue 1 task</strong>" in html
    assert "Yes, requeue 1 task" in html
    assert backend.get_task(task_id).state == TaskState.FAILED  # nothing happened yet
    done = admin_client.post(REQUEUE, {"ids": [task_id], "next": detail, "confirmed": "1"})
    assert done.status_code == 302
    assert done.url == detail
    assert messages_of(done) == [
        "Requeued 1 task: back to READY, in priority order, id and history kept."
    ]
    record = backend.get_task(task_id)
    assert record.state == TaskState.READY
    assert len(record.errors) == 1  # history kept
    assert where(backend, rclient, task_id) == ["default:ready"]
    [entry] = LogEntry.objects.all()
    assert (entry.user, entry.action_flag) == (admin_user, CHANGE)
    assert entry.object_id == f"default:{task_id}"
    assert "Requeued" in entry.change_message


def test_requeue_selected_reports_every_outcome(admin_client, backend):
    failed = make_failed(backend, 2)
    tasks.noop.enqueue()
    running = lease_next(backend).task_id
    ready = tasks.noop.enqueue().id
    ids = [*failed, running, ready, "no-such-task"]
    page = admin_client.post(REQUEUE, {"ids": ids, "next": list_path("failed")})
    html = page.content.decode()
    assert "requeue 2 tasks</strong>" in html
    assert "Refused 1 task because RUNNING" in html  # predicted on the confirmation page
    done = admin_client.post(REQUEUE, {"ids": ids, "next": list_path("failed"), "confirmed": "1"})
    assert done.url == list_path("failed")
    got = messages_of(done)
    assert got[0].startswith("Requeued 2 tasks")
    assert sorted(got[1:]) == sorted(
        [
            "Refused 1 task because RUNNING: a worker holds it. Wait until finished.",
            "Refused 1 task because READY: only FAILED or SUCCESSFUL tasks can be requeued.",
            "1 task missing: already purged, or expired.",
        ]
    )
    assert backend.get_task(running).state == TaskState.RUNNING
    assert sorted(LogEntry.objects.values_list("object_id", flat=True)) == sorted(
        f"default:{i}" for i in failed
    )


def test_purge_selected_removes_everything_but_refuses_running(admin_client, backend, rclient):
    [failed] = make_failed(backend, 1)
    tasks.noop.enqueue()
    running = lease_next(backend).task_id
    tasks.add.enqueue(1, 2)
    successful = succeed_next(backend, value=3).task_id
    ids = [failed, running, successful]
    page = admin_client.post(PURGE, {"ids": ids, "queue": "default"})
    assert "purge 2 tasks</strong>" in page.content.decode()
    assert "cannot be undone" in page.content.decode()
    done = admin_client.post(PURGE, {"ids": ids, "queue": "default", "confirmed": "1"})
    assert messages_of(done) == [
        "Purged 2 tasks: removed from Redis.",
        "Refused 1 task because RUNNING: a worker holds it. Wait until finished.",
    ]
    for task_id in (failed, successful):
        assert not rclient.exists(backend.keys.task(task_id))
        assert where(backend, rclient, task_id) == []
    assert where(backend, rclient, running) == ["default:running"]
    assert set(LogEntry.objects.values_list("action_flag", flat=True)) == {DELETION}
    assert LogEntry.objects.count() == 2


def test_purge_hint_removes_ghost_index_entries(admin_client, backend, rclient):
    rclient.zadd(backend.keys.index("default", "failed"), {"ghost": 1})
    done = admin_client.post(PURGE, {"ids": ["ghost"], "queue": "default", "confirmed": "1"})
    assert messages_of(done) == ["Purged 1 task: removed from Redis."]
    assert where(backend, rclient, "ghost") == []


def test_an_empty_selection_does_nothing_and_says_so(admin_client):
    done = admin_client.post(REQUEUE, {"next": list_path("failed"), "confirmed": "1"})
    assert done.url == list_path("failed")
    assert messages_of(done) == ["Select at least one task."]


def test_a_get_never_acts(admin_client, backend):
    [task_id] = make_failed(backend, 1)
    page = admin_client.get(PURGE, {"ids": task_id, "confirmed": "1"})
    assert page.status_code == 200  # the confirmation page
    assert backend.get_task(task_id).state == TaskState.FAILED


def test_csrf_is_enforced(admin_user, backend):
    [task_id] = make_failed(backend, 1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    for path in (REQUEUE, PURGE):
        refused = client.post(path, {"ids": [task_id], "confirmed": "1"})
        assert refused.status_code == 403
    refused = client.post(batch_path("failed", "requeue"), {"confirmed": "1", "target": "1"})
    assert refused.status_code == 403
    assert backend.get_task(task_id).state == TaskState.FAILED
    page = client.get(REQUEUE, {"ids": task_id})  # the confirmation page carries a token
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    done = client.post(REQUEUE, {"ids": [task_id], "confirmed": "1", "csrfmiddlewaretoken": token})
    assert done.status_code == 302
    assert backend.get_task(task_id).state == TaskState.READY


def test_actions_need_their_permission(backend):
    [task_id] = make_failed(backend, 1)
    viewer = Client()
    viewer.force_login(make_user("viewer", "view_task"))
    requeuer = Client()
    requeuer.force_login(make_user("requeuer", "view_task", "requeue_task"))
    data = {"ids": [task_id], "confirmed": "1"}
    assert viewer.post(REQUEUE, data).status_code == 403
    assert viewer.get(REQUEUE, {"ids": task_id}).status_code == 403
    assert viewer.get(batch_path("failed", "requeue")).status_code == 403
    assert requeuer.post(PURGE, data).status_code == 403
    batch = {"confirmed": "1", "target": "1"}
    assert requeuer.post(batch_path("failed", "purge"), batch).status_code == 403
    assert backend.get_task(task_id).state == TaskState.FAILED
    assert requeuer.post(REQUEUE, data).status_code == 302
    assert backend.get_task(task_id).state == TaskState.READY
    assert not LogEntry.objects.filter(action_flag=DELETION).exists()


def test_next_is_never_an_open_redirect(admin_client, backend):
    [task_id] = make_failed(backend, 1)
    done = admin_client.post(
        REQUEUE, {"ids": [task_id], "confirmed": "1", "next": "https://evil.example/x"}
    )
    assert done.url == BASE


# ---- whole sets: bulk jobs (tests/test_admin_jobs.py) ------------------------------------


def test_running_tasks_cannot_be_purged_as_a_set(admin_client, backend):
    tasks.noop.enqueue()
    lease_next(backend)
    for method in ("get", "post"):
        response = getattr(admin_client, method)(batch_path("running", "purge"))
        assert response.url == list_path("running")
        assert messages_of(response)[0].startswith("Running tasks cannot be purged")
    assert backend.queue_stats(["default"])[0].running == 1
    response = admin_client.get(batch_path("ready", "requeue"))
    assert messages_of(response)[-1] == "READY tasks cannot be requeued as a whole set."


# ---- races with a worker ------------------------------------------------------------------


ROUNDS = 25


def _race(admin_client, backend, action: str, extra: dict) -> Iterator[tuple]:
    """Each round: a worker acknowledges a running task (FAILED) at the same moment as the
    admin's confirmed POST acts on it. The barrier sits right before the view's Redis call
    (the backend method is wrapped, Redis is real), so both reach Redis together. Yields
    (ack outcome, messages, task id) per round, so the caller checks (and cleans up)
    before the next round starts."""
    original = getattr(backend, action)
    path = REQUEUE if action == "requeue" else PURGE
    try:
        for _ in range(ROUNDS):
            result = tasks.noop.enqueue()
            lease = lease_next(backend)
            assert lease.task_id == result.id
            value = failure_json("raced")
            barrier = threading.Barrier(2, timeout=30)
            acks = []

            def at_the_same_moment(*args, barrier=barrier, **kwargs):
                barrier.wait()
                return original(*args, **kwargs)

            def worker(lease=lease, barrier=barrier, acks=acks, value=value):
                barrier.wait()
                acks.append(backend.acknowledge(lease, "w1", succeeded=False, value_json=value))

            setattr(backend, action, at_the_same_moment)
            thread = threading.Thread(target=worker)
            thread.start()
            response = admin_client.post(path, {"ids": [lease.task_id], "confirmed": "1", **extra})
            thread.join()
            setattr(backend, action, original)
            yield acks[0].outcome, take_messages(admin_client, response), lease.task_id
    finally:
        if action in vars(backend):
            delattr(backend, action)


def test_requeue_racing_an_acknowledgement_neither_duplicates_nor_loses(
    admin_client, backend, rclient
):
    outcomes = []
    for ack, msgs, task_id in _race(admin_client, backend, "requeue", {}):
        assert ack == AckOutcome.OK  # the worker's result is always stored
        record = backend.get_task(task_id)
        places = where(backend, rclient, task_id)
        logged = LogEntry.objects.filter(object_id=f"default:{task_id}").count()
        if msgs[0].startswith("Requeued 1 task"):
            # acknowledged first, then requeued: READY once, its failure kept in history
            assert record.state == TaskState.READY, msgs
            assert places == ["default:ready"]
            assert [e.traceback for e in record.errors][-1].endswith("ValueError: raced\n")
            assert logged == 1
            outcomes.append("requeued")
            backend.purge([task_id])  # keep the next round's lease on its own task
        else:
            # requeue came first and was refused; the acknowledgement then stored FAILED
            assert msgs == [
                "Refused 1 task because RUNNING: a worker holds it. Wait until finished."
            ]
            assert record.state == TaskState.FAILED
            assert places == ["default:failed"]
            assert logged == 0
            outcomes.append("refused")
    assert len(outcomes) == ROUNDS
    assert backend.queue_stats(["default"])[0].running == 0


def test_purge_racing_an_acknowledgement_leaves_one_consistent_state(
    admin_client, backend, rclient
):
    for ack, msgs, task_id in _race(admin_client, backend, "purge", {"queue": "default"}):
        assert ack == AckOutcome.OK
        places = where(backend, rclient, task_id)
        if msgs[0].startswith("Purged 1 task"):
            assert not rclient.exists(backend.keys.task(task_id))
            assert places == []
        else:
            assert msgs[0].startswith("Refused 1 task because RUNNING")
            assert backend.get_task(task_id).state == TaskState.FAILED
            assert places == ["default:failed"]
