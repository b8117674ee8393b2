"""Every Threadmill admin action, POSTed by a user with the view permission only, is
refused on the admin's 403 page naming the missing permission, and changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from tests import tasks
from tests.admin_helpers import fail_next, fake_heartbeat, make_user
from threadmill.backends.job_records import JobStatus
from threadmill.backends.pool_records import POOL_ACTIONS
from threadmill.backends.records import TaskState
from threadmill.backends.search_records import TaskFilter

pytestmark = pytest.mark.django_db

BASE = "/admin/threadmill/task/"


def test_every_action_refuses_a_viewer_naming_the_permission_and_changes_nothing(
    make_backend, redis_server
):
    sync = {"task": "tests.tasks.noop", "every": 3600}
    backend = make_backend(redis_server.url, {"schedules": {"sync": sync}})
    fake_heartbeat(backend, "pool-1")
    tasks.fail.enqueue()
    failed = fail_next(backend).task_id
    job = backend.create_job("purge", "default", TaskState.FAILED, TaskFilter(), who="t")
    ids = {"ids": [failed], "confirmed": "1"}
    posts = [
        (f"{BASE}default/queue-switch/default/{a}/", {}, "pause_queue") for a in ("pause", "resume")
    ]
    posts += [(f"{BASE}default/pools/pool-1/{a}/", {}, "manage_pools") for a in POOL_ACTIONS]
    posts += [
        (f"{BASE}default/schedules/{a}/", {"name": "sync"}, "manage_schedules")
        for a in ("pause", "resume", "run")
    ]
    for action, perm in [
        ("requeue", "requeue_task"),
        ("purge", "purge_task"),
        ("cancel", "cancel_task"),
        ("terminate", "cancel_task"),
        ("run-now", "requeue_task"),
    ]:
        posts.append((f"{BASE}default/selected/{action}/", ids, perm))
    for action, perm in [("requeue", "requeue_task"), ("purge", "purge_task")]:
        posts.append(
            (f"{BASE}default/queues/default/failed/all/{action}/", {"confirmed": "1"}, perm)
        )
    posts.append(
        (f"{BASE}default/queues/default/ready/all/cancel/", {"confirmed": "1"}, "cancel_task")
    )
    posts.append((f"{BASE}default/jobs/{job.id}/cancel/", {}, "purge_task"))
    viewer = Client()
    viewer.force_login(make_user("viewer", "view_task"))
    for path, data, perm in posts:
        response = viewer.post(path, data)
        assert response.status_code == 403, path
        assert "threadmill/forbidden.html" in [t.name for t in response.templates], path
        assert f"<code>threadmill.{perm}</code>" in response.content.decode(), path
    assert backend.paused_queues() == []
    assert backend.maintain(["default"], pool_id="pool-1").pool_requests == []
    assert backend.get_task(failed).state == TaskState.FAILED
    assert [j.id for j in backend.jobs()] == [job.id]
    assert backend.get_job(job.id).status == JobStatus.WAITING
    assert backend.schedule_report()[0].paused is False
    assert backend.schedule_report()[0].last_run is None
