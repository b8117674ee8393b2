"""The benchmark measures the newest published threadmill that installs on its Python."""

from __future__ import annotations

from bench.peers.versions import PINS, pins_for


def test_python_3_14_gets_the_newest_release() -> None:
    assert "threadmill[redis]==0.8.4" in pins_for("threadmill-pypi", "3.14.8")
    assert pins_for("threadmill-pypi", "3.15.0") == PINS["threadmill-pypi"]


def test_older_pythons_get_the_last_release_that_installs_there() -> None:
    for version in ("3.12.1", "3.13.0"):
        assert "threadmill[redis]==0.3.1" in pins_for("threadmill-pypi", version)


def test_other_peers_do_not_depend_on_the_python() -> None:
    assert pins_for("huey", "3.13.0") == pins_for("huey", "3.14.8") == PINS["huey"]
