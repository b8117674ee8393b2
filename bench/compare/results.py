"""The data file of a run (`--json`): the run's settings and machine, every system's info
and every round's figures."""

from __future__ import annotations

import contextlib
import json
import os
import platform
from pathlib import Path

from bench.compare.drivers import System
from bench.compare.measurements import Results


def machine() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "os": platform.platform(),
    }


def payload(systems: list[System], results: Results, meta: dict) -> dict:
    return {
        "meta": meta,
        "systems": {s.name: {"info": s.info, "error": s.error} for s in systems},
        "results": dict(results),
    }


def write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=1))
