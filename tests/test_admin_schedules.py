"""The admin's schedules page through Django's test client: what it lists (next run in the
schedule's and the user's time zone, last runs, check problems), Pause / Resume / Run now
checked in Redis, permissions, CSRF, escaping, live refresh and a Redis that is down."""

from __future__ import annotations

import html as htmllib
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.test import Client
from django.test.utils import override_settings

from tests.admin_helpers import make_user
from tests.conftest import tasks_setting
from tests.redis_server import free_port

pytestmark = pytest.mark.django_db

BASE = "/admin/threadmill/task/"
PAGE = f"{BASE}default/schedules/"
EVIL = "<script>alert(1)</script>"
SCHEDULES = {
    "nightly": {
        "task": "tests.tasks.echo",
        "cron": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "kwargs": {"value": "full"},
    },
    "sync": {"task": "tests.tasks.noop", "every": 300},
    "broken": {"task": "tests.tasks.no_such_task", "every": 60},
    "badcron": {"task": "tests.tasks.noop", "cron": "61 * * * *"},
}


def action(name: str) -> str:
    return f"{PAGE}{name}/"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def scheduled(make_backend, redis_server):
    return make_backend(redis_server.url, {"schedules": SCHEDULES})


def entry_of(backend, name: str):
    [entry] = [e for e in backend.schedule_entries()[0] if e.name == name]
    return entry


def state_of(backend, name: str):
    return backend.schedule_states([name])[name]


def test_the_page_lists_every_schedule_with_next_run_in_both_zones(admin_client, scheduled):
    fired = scheduled.fire_schedule(entry_of(scheduled, "sync"), datetime.now(UTC), "now")
    with override_settings(TIME_ZONE="America/New_York"):  # the user's zone
        response = admin_client.get(PAGE)
    assert response.status_code == 200
    rows = {row.report.name: row for row in response.context["rows"]}
    assert list(rows) == ["nightly", "sync", "broken", "badcron"]  # settings order
    html = response.content.decode()
    nightly = rows["nightly"]
    berlin = nightly.report.next_slot.astimezone(ZoneInfo("Europe/Berlin"))
    new_york = nightly.report.next_slot.astimezone(ZoneInfo("America/New_York"))
    assert (berlin.hour, berlin.minute) == (2, 30)
    assert f"{berlin:%Y-%m-%d %H:%M:%S} {berlin.tzname()}" in html
    assert f"{new_york:%Y-%m-%d %H:%M:%S} {new_york.tzname()}" in html
    assert "(yours, America/New_York)" in html
    assert nightly.report.description in html  # the expression in words
    assert "<code>tests.tasks.echo</code>" in html
    assert htmllib.escape('{"value": "full"}') in html
    # The run of "sync" links to its task, with its status.
    assert f'href="{BASE}default/tasks/{fired.task_id}/"' in html
    assert 'data-how="now"' in html
    assert 'data-state="ready">READY</span>' in html
    # What manage.py check says.
    assert "threadmill.E023" in html
    assert "no_such_task" in html
    assert "Point &#x27;task&#x27; at a function decorated with @task." in html
    assert "threadmill.E021" in html
    checks = re.findall(r'<dd class="tm-check">(.*?)</dd>', html, re.S)
    assert [c.startswith("OK") for c in checks] == [True, True, False, False]
    assert "4 schedules" in html
    assert "2 with a problem" in html
    # An entry that cannot be used offers no Run now; an invalid one no buttons at all.
    assert html.count(">Run now</button>") == 2
    assert html.count(">Pause</button>") == 3
    overview = admin_client.get(BASE).content.decode()
    assert f'href="{PAGE}"' in overview


def test_pause_resume_and_run_now_change_redis_and_are_logged(admin_client, scheduled):
    paused = admin_client.post(action("pause"), {"name": "sync"}, follow=True)
    assert state_of(scheduled, "sync").paused
    assert "Paused schedule “sync”" in paused.content.decode()
    assert ">Resume</button>" in paused.content.decode()
    [entry] = LogEntry.objects.all()
    assert (entry.action_flag, entry.object_id) == (CHANGE, None)
    assert (
        entry.change_message
        == "Paused schedule 'sync' (backend 'default') through the Threadmill admin."
    )

    ran = admin_client.post(action("run"), {"name": "sync"}, follow=True)
    state = state_of(scheduled, "sync")
    [run] = state.runs
    assert (run.how, run.status, state.paused) == ("now", "READY", True)  # runs while paused
    assert scheduled.get_task(run.task_id).path == "tests.tasks.noop"
    html = ran.content.decode()
    assert f'task <a href="{BASE}default/tasks/{run.task_id}/">' in html  # the message links
    added = LogEntry.objects.get(action_flag=ADDITION)
    assert added.object_id == f"default:{run.task_id}"
    assert admin_client.get(added.get_admin_url()).url == f"{BASE}default/tasks/{run.task_id}/"

    resumed = admin_client.post(action("resume"), {"name": "sync"}, follow=True)
    assert not state_of(scheduled, "sync").paused
    assert "Resumed schedule “sync”" in resumed.content.decode()
    assert LogEntry.objects.count() == 3


def test_run_now_is_refused_for_a_task_that_cannot_be_used(admin_client, scheduled):
    refused = admin_client.post(action("run"), {"name": "broken"}, follow=True)
    html = refused.content.decode()
    assert "Schedule “broken” cannot run now" in html
    assert "no_such_task" in html
    assert state_of(scheduled, "broken").runs == []
    invalid = admin_client.post(action("pause"), {"name": "badcron"}, follow=True)
    assert "Schedule “badcron” cannot be used" in invalid.content.decode()
    unknown = admin_client.post(action("pause"), {"name": "nope"}, follow=True)
    assert "has no schedule “nope”" in unknown.content.decode()
    assert not LogEntry.objects.exists()
    assert admin_client.get(action("pause")).status_code == 405
    assert admin_client.post(action("explode"), {"name": "sync"}).status_code == 404


def test_run_now_of_a_unique_task_that_is_still_queued_says_so(
    admin_client, make_backend, redis_server
):
    schedules = {"once": {"task": "tests.tasks.unique_nap", "every": 60, "kwargs": {"seconds": 0}}}
    backend = make_backend(redis_server.url, {"schedules": schedules})
    admin_client.post(action("run"), {"name": "once"})
    again = admin_client.post(action("run"), {"name": "once"}, follow=True)
    assert "its task is unique and an equal task is still queued" in again.content.decode()
    assert [run.how for run in state_of(backend, "once").runs] == ["unique", "now"]
    assert LogEntry.objects.count() == 1  # only the run that enqueued


def test_a_viewer_sees_no_buttons_and_gets_a_403_naming_the_permission(scheduled):
    client = client_for(make_user("viewer", "view_task"))
    html = client.get(PAGE).content.decode()
    assert "nightly" in html
    for button in (">Pause</button>", ">Resume</button>", ">Run now</button>"):
        assert button not in html
    for name in ("pause", "resume", "run"):
        refused = client.post(action(name), {"name": "sync"})
        assert refused.status_code == 403
        text = refused.content.decode()
        assert "threadmill.manage_schedules" in text
        assert "Can pause, resume and run periodic schedules" in text
        assert 'id="site-name"' in text  # the admin's own page, not a bare 403
    state = state_of(scheduled, "sync")
    assert (state.paused, state.runs) == (False, [])
    assert not LogEntry.objects.exists()
    manager = client_for(make_user("manager", "view_task", "manage_schedules"))
    assert ">Run now</button>" in manager.get(PAGE).content.decode()
    assert manager.post(action("pause"), {"name": "sync"}).status_code == 302
    assert state_of(scheduled, "sync").paused


def test_staff_without_view_permission_gets_403(scheduled):
    client = client_for(make_user("staff", "manage_schedules"))
    assert client.get(PAGE).status_code == 403
    assert client.post(action("pause"), {"name": "sync"}).status_code == 403
    assert not state_of(scheduled, "sync").paused


def test_csrf_is_enforced(admin_user, scheduled):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(action("pause"), {"name": "sync"}).status_code == 403
    assert client.post(action("run"), {"name": "sync"}).status_code == 403
    state = state_of(scheduled, "sync")
    assert (state.paused, state.runs) == (False, [])
    page = client.get(PAGE).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    done = client.post(action("pause"), {"name": "sync", "csrfmiddlewaretoken": token})
    assert done.status_code == 302
    assert state_of(scheduled, "sync").paused


def test_names_and_arguments_are_escaped(admin_client, make_backend, redis_server):
    schedules = {EVIL: {"task": "tests.tasks.echo", "every": 60, "kwargs": {"value": EVIL}}}
    backend = make_backend(redis_server.url, {"schedules": schedules})
    html = admin_client.get(PAGE).content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    ran = admin_client.post(action("run"), {"name": EVIL}, follow=True)
    assert "<script>alert" not in ran.content.decode()
    assert "Enqueued a run of schedule “&lt;script&gt;" in ran.content.decode()
    [run] = state_of(backend, EVIL).runs
    assert backend.get_task(run.task_id).kwargs == {"value": EVIL}


def test_next_is_never_an_open_redirect(admin_client, scheduled):
    done = admin_client.post(action("pause"), {"name": "sync", "next": "https://evil.example/"})
    assert done.url == PAGE
    back = admin_client.post(action("resume"), {"name": "sync", "next": f"{PAGE}?runs=20"})
    assert back.url == f"{PAGE}?runs=20"


def test_runs_are_newest_first_and_limited(admin_client, scheduled):
    entry = entry_of(scheduled, "sync")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    for n in range(7):
        scheduled.fire_schedule(entry, start + timedelta(seconds=n), "slot")
    response = admin_client.get(PAGE)
    [row] = [r for r in response.context["rows"] if r.report.name == "sync"]
    assert [r.run.slot for r in row.runs] == [start + timedelta(seconds=n) for n in (6, 5, 4, 3, 2)]
    assert row.more_runs == 2
    assert "2 older runs kept" in response.content.decode()
    everything = admin_client.get(PAGE + "?runs=20").context["rows"][1]
    assert (len(everything.runs), everything.more_runs) == (7, 0)


def test_htmx_refresh_returns_only_the_live_fragment(admin_client, scheduled):
    headers = {"HX-Request": "true", "HX-Target": "tm-live"}
    html = admin_client.get(PAGE, headers=headers).content.decode()
    assert "<html" not in html
    assert 'id="tm-live"' not in html
    assert "nightly" in html
    full = admin_client.get(PAGE).content.decode()
    assert 'hx-trigger="tm-refresh"' in full
    assert "<script>" not in full


def test_an_alias_without_schedules_says_how_to_add_them(admin_client):
    html = admin_client.get(PAGE).content.decode()
    assert "has no schedules" in html
    assert "docs/schedules.md" in html
    assert admin_client.get(f"{BASE}nope/schedules/").status_code == 404


def test_a_dead_redis_shows_the_banner_and_actions_report_an_error(admin_client, redis_server):
    setting = tasks_setting(redis_server.url)
    setting["down"] = {
        "BACKEND": "threadmill.backends.redis.RedisTaskBackend",
        "REDIS_URL": f"redis://:secret@127.0.0.1:{free_port()}/0",
        "OPTIONS": {
            "retry_attempts": 0,
            "socket_connect_timeout": 0.5,
            "socket_timeout": 0.5,
            "schedules": {"sync": {"task": "tests.tasks.noop", "every": 300}},
        },
    }
    with override_settings(TASKS=setting):
        response = admin_client.get(f"{BASE}down/schedules/")
        assert response.status_code == 200
        html = response.content.decode()
        assert "Backend “down” is unavailable" in html
        assert "secret" not in html
        for name in ("pause", "run"):
            done = admin_client.post(f"{BASE}down/schedules/{name}/", {"name": "sync"}, follow=True)
            assert done.status_code == 200
            assert "Schedule “sync” was not changed" in done.content.decode()
    assert not LogEntry.objects.exists()


def test_a_schedules_option_that_is_not_a_dict_shows_its_check_error(
    admin_client, make_backend, redis_server
):
    make_backend(redis_server.url, {"schedules": ["sync"]})
    response = admin_client.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "(the schedules option)" in html
    assert "threadmill.E020" in html
    assert "must be a dict of name -&gt; entry" in html
    assert "/schedules/pause/" not in html  # nothing to act on
    assert "/schedules/run/" not in html


def test_the_page_works_without_use_tz(admin_client, scheduled, settings):
    settings.USE_TZ = False
    settings.TIME_ZONE = "Asia/Tokyo"
    response = admin_client.get(PAGE)
    assert response.status_code == 200
    [nightly] = [r for r in response.context["rows"] if r.report.name == "nightly"]
    tokyo = nightly.report.next_slot.astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"{tokyo:%Y-%m-%d %H:%M:%S} JST" in response.content.decode()
    assert admin_client.post(action("run"), {"name": "sync"}).status_code == 302
    [run] = state_of(scheduled, "sync").runs
    assert run.how == "now"
