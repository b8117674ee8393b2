"""bench.compare's serving drivers: one driver process runs command after command."""

from __future__ import annotations

import os
import sys

import pytest

from bench.compare import PEERS, Failed
from bench.compare.drivers import ServingDriver


@pytest.fixture
def driver(redis_server, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update({"BENCH_REDIS_URL": redis_server.url, "BENCH_WORKDIR": str(tmp_path)})
    argv = [sys.executable, str(PEERS / "threadmill_driver.py"), "serve"]
    serving = ServingDriver(argv, env, tmp_path / "driver.log")
    yield serving
    serving.close()


def test_one_driver_process_serves_command_after_command(driver):
    assert driver.call(["info"], 60)["system"] == "threadmill"
    pid = driver.proc.pid
    assert driver.call(["drain-setup", "25"], 60)["pending"] == 25
    assert driver.call(["pending"], 60) == {"pending": 25}
    assert driver.call(["enqueue", "5"], 60)["n"] == 5
    assert driver.call(["pending"], 60) == {"pending": 31}  # 5 and a warm-up call
    assert driver.proc.pid == pid  # the same process throughout


def test_a_failed_command_is_reported_and_the_driver_goes_on(driver):
    with pytest.raises(Failed, match="`worker`: `worker` is not served"):
        driver.call(["worker", "1x1"], 60)  # it would exec over the serving process
    with pytest.raises(Failed, match=r"`nope`: .*invalid choice: 'nope'"):
        driver.call(["nope"], 60)
    assert driver.alive()
    assert driver.call(["pending"], 60) == {"pending": 0}


def test_a_reply_is_matched_to_its_request(driver):
    driver.proc.stdin.write(b"not json\n")  # answered with an error no call is waiting for
    driver.proc.stdin.flush()
    assert driver.call(["pending"], 60) == {"pending": 0}
    assert driver.call(["drain-setup", "3"], 60)["pending"] == 3
    assert driver.call(["pending"], 60) == {"pending": 3}


def test_a_command_that_times_out_stops_its_driver(driver):
    # No worker runs: the probe's task never starts.
    with pytest.raises(Failed, match="`probe` timed out after 1 s"):
        driver.call(["probe", "--timeout", "30"], 1)
    assert not driver.alive()
