"""The Prometheus endpoint and `threadmill_ctl stats`: the text parses (prometheus_client's
parser) and carries queue depth, runs and run-time histograms read from Redis; the writer
without prometheus_client says the same; access needs the bearer token or a staff login;
the ctl command's table, JSON and exposition."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest
from django.core import checks
from django.core.management import call_command
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from tests import tasks
from tests.admin_helpers import fail_next, fake_heartbeat, lease_next, retry_next, succeed_next
from threadmill.exposition import collect, render_client, render_plain

pytestmark = pytest.mark.django_db
TOKEN = "s3cret-token"


def samples(text: str) -> dict[tuple, float]:
    """(sample name, sorted label pairs) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def some_runs(backend) -> None:
    """3 successful adds, 1 failed and 1 retried fail, 1 add still ready, one busy thread."""
    for n in range(3):
        tasks.add.enqueue(n, 1)
        succeed_next(backend)
    tasks.fail.enqueue()
    fail_next(backend)
    tasks.fail.enqueue()
    retry_next(backend)
    tasks.add.enqueue(8, 8)
    fake_heartbeat(backend, running=lease_next(backend))
    tasks.add.enqueue(9, 9)


def key(name: str, **labels: str) -> tuple:
    return (name, tuple(sorted({"backend": "default", **labels}.items())))


def test_exposition_parses_and_counts_what_ran(backend):
    some_runs(backend)
    families = collect([backend])
    text = render_client(families)
    got = samples(text)
    q = {"queue": "default"}
    assert got[key("threadmill_up")] == 1
    assert got[key("threadmill_queue_ready", **q)] == 1
    assert got[key("threadmill_queue_running", **q)] == 1
    assert got[key("threadmill_queue_retrying", **q)] == 1
    assert got[key("threadmill_queue_paused", **q)] == 0
    assert got[key("threadmill_queue_oldest_ready_age_seconds", **q)] >= 0
    assert got[key("threadmill_queue_tasks_total", event="enqueued", **q)] == 7
    assert got[key("threadmill_queue_tasks_total", event="failed", **q)] == 1
    add = {"queue": "default", "task": "tests.tasks.add"}
    fail = {"queue": "default", "task": "tests.tasks.fail"}
    assert got[key("threadmill_task_runs_total", outcome="successful", **add)] == 3
    assert got[key("threadmill_task_runs_total", outcome="failed", **fail)] == 1
    assert got[key("threadmill_task_runs_total", outcome="retried", **fail)] == 1
    assert got[key("threadmill_task_run_seconds_count", **add)] == 3
    assert got[key("threadmill_task_run_seconds_bucket", le="+Inf", **add)] == 3
    assert key("threadmill_task_run_seconds_sum", **add) in got
    pool = {"host": "web-1.example", "pool": "pool-1"}
    assert got[key("threadmill_pool_busy_threads", **pool)] == 1
    assert got[key("threadmill_pool_threads", **pool)] == 2
    assert got[key("threadmill_pool_workers", **pool)] == 1
    assert got[key("threadmill_pools")] == 1
    assert got[key("threadmill_pool_quiet", **pool)] == 0
    # Without prometheus_client the same text comes out.
    assert render_plain(families) == text


def test_a_paused_queue_and_a_quiet_pool_are_1(backend):
    tasks.add.enqueue(1, 1)
    backend.pause_queue("default")
    fake_heartbeat(backend)
    report = backend.overview().pools[0].report
    backend.heartbeat("pool-1", ["w1"], replace(report, quiet=True))  # as a quiet pool says
    got = samples(render_client(collect([backend])))
    assert got[key("threadmill_queue_paused", queue="default")] == 1
    assert got[key("threadmill_pool_quiet", host="web-1.example", pool="pool-1")] == 1
    backend.resume_queue("default")
    got = samples(render_client(collect([backend])))
    assert got[key("threadmill_queue_paused", queue="default")] == 0


def test_an_unreachable_redis_is_up_0(make_backend):
    dead = make_backend(
        "redis://127.0.0.1:1/0", {"socket_connect_timeout": 0.1, "retry_attempts": 0}
    )
    got = samples(render_plain(collect([dead])))
    assert got == {key("threadmill_up"): 0}


def test_view_needs_a_token_or_a_staff_login(backend, django_user_model):
    some_runs(backend)
    anonymous = Client().get("/metrics/")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    assert Client().get("/metrics/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 403
    with override_settings(THREADMILL_METRICS_TOKEN=TOKEN):
        wrong = Client().get("/metrics/", HTTP_AUTHORIZATION="Bearer nope")
        assert wrong.status_code == 403
        right = Client().get("/metrics/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert right.status_code == 200
        assert right["Content-Type"].startswith("text/plain; version=0.0.4")
        assert samples(right.content.decode())[key("threadmill_up")] == 1
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=False)
    plain = Client()
    plain.force_login(user)
    assert plain.get("/metrics/").status_code == 403
    staff = Client()
    staff.force_login(django_user_model.objects.create_user("ops", password="pw", is_staff=True))
    response = staff.get("/metrics/")
    assert response.status_code == 200
    assert "threadmill_task_runs_total" in response.content.decode()
    assert staff.post("/metrics/").status_code == 405


def test_a_bad_token_setting_is_a_check_error():
    with override_settings(THREADMILL_METRICS_TOKEN=""):
        errors = [m for m in checks.run_checks() if m.id == "threadmill.E032"]
    assert errors
    assert "non-empty string" in errors[0].msg


def ctl(*args: str) -> str:
    out = io.StringIO()
    call_command("threadmill_ctl", "stats", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_ctl_stats_prints_json_table_and_exposition(backend):
    some_runs(backend)
    doc = json.loads(ctl("--json"))
    assert doc["busy_threads"] == 1
    assert doc["queues"][0]["ready"] == 1
    rows = {t["task"]: t for t in doc["tasks"]}
    assert rows["tests.tasks.add"]["runs"] == 3
    assert rows["tests.tasks.fail"]["failure_rate"] == 1.0
    assert rows["tests.tasks.fail"]["last_failure"]["class"] == "builtins.ValueError"
    table = ctl()
    assert "tests.tasks.add" in table
    assert "1/2 thread(s) busy" in table
    text = ctl("--prometheus")
    assert samples(text)[key("threadmill_up")] == 1


def test_ctl_stats_rejects_a_short_span():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="--span must be at least 60"):
        ctl("--span", "5")
