"""Queue depth over time: a pool's broker samples each of its queues' READY count and the
age of its oldest ready task once a minute, inside its maintenance round trip; the first
sample of a minute wins however many pools run; the overview draws them under the runs
chart; nothing is sampled with metrics off."""

from __future__ import annotations

import re

import pytest

from tests import tasks
from tests.pool_helpers import wait_until

FAST = {"broker_interval": 0.05}


def sampled(backend, queue: str) -> list[tuple[int, int | None]]:
    """(depth, oldest ms) of every sampled minute of the last two, for `queue`."""
    return [
        (m.depth[queue], m.oldest_ms.get(queue))
        for m in backend.metrics_minutes(2).minutes
        if queue in m.depth
    ]


def test_a_sample_is_taken_once_a_minute_and_the_first_wins(backend):
    backend.enqueue_many(tasks.noop, [((), {})] * 3)
    first = backend.maintain(["default", "low"], sample=True)
    assert first.sampled == 2  # both queues, the empty one too (depth 0)
    backend.enqueue_many(tasks.noop, [((), {})] * 4)
    again = backend.maintain(["default", "low"], sample=True)
    if again.sampled:  # the minute turned between the two calls: a new minute's sample
        assert sampled(backend, "default")[-1][0] == 7
    else:
        [(depth, oldest)] = sampled(backend, "default")
        assert depth == 3  # the first sample of the minute stays
        assert oldest is not None
        assert oldest >= 0
    assert all(age is None for _, age in sampled(backend, "low"))  # nothing waits there
    assert backend.maintain(["default"]).sampled == 0  # no sample unless asked


def test_a_pool_samples_its_queues_while_they_are_paused(pool, backend):
    backend.pause_queue("low")
    backend.enqueue_many(tasks.noop.using(queue_name="low"), [((), {})] * 3)
    pool("--queues", "low", "--processes", "1", "--threads", "1", options=FAST)
    wait_until(lambda: sampled(backend, "low"), timeout=30, message="a sample")
    [(depth, oldest), *_] = sampled(backend, "low")
    assert depth == 3
    assert oldest is not None


def test_no_sample_with_metrics_off(make_backend, redis_server, rclient):
    backend = make_backend(redis_server.url, {"metrics_window": 0})
    tasks.noop.enqueue()
    assert backend.maintain(["default"], sample=True).sampled == 0
    assert list(rclient.scan_iter(f"{backend.keys.base}m:*")) == []


@pytest.mark.django_db
def test_the_overview_draws_the_samples_under_the_runs_chart(admin_client, backend):
    html = admin_client.get("/admin/threadmill/task/").content.decode()
    assert "No sample yet" in html
    backend.enqueue_many(tasks.noop, [((), {})] * 5)
    backend.maintain(["default"], sample=True)
    html = admin_client.get("/admin/threadmill/task/").content.decode()
    assert html.count('class="tm-depth-bar"') == 60
    ready = re.findall(r'class="tm-depth-bar" data-start="[^"]+" data-ready="(\d*)"', html)
    assert ready.count("") >= 58  # minutes without a sample
    assert "5" in ready
    assert "5 ready, the oldest waiting" in html
    day = admin_client.get("/admin/threadmill/task/?chart=day").content.decode()
    assert day.count('class="tm-depth-bar"') == 144
