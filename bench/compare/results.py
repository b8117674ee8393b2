"""The data file of a run: a JSON file under `bench/results/` with when and where it ran
(date, commit, Python, CPU model, cores), its settings, every round's figures and the
medians. The Markdown tables are for reading; this file is what a later run is compared
with. The files of runs made before the benchmark wrote them were transcribed from the
documentation and say so in their "source"."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from bench.compare import ROOT
from bench.compare.drivers import System
from bench.compare.measurements import Results
from bench.compare.report import version_of
from bench.compare.stats import figures

RESULTS_DIR = ROOT / "bench" / "results"
SCHEMA = 1


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


def commit() -> dict:
    """The repository's commit, and whether the work tree had changes (None: no git)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    sha = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"sha": sha, "dirty": None if status is None else bool(status)}


def rounds(results: Results) -> dict:
    """results as {system: {figure: [one entry per round]}}, figure e.g. "drain 1x1"."""
    out: dict = {}
    for key, entries in results.items():
        system, *figure = json.loads(key)
        out.setdefault(system, {})[" ".join(figure)] = entries
    return out


def payload(systems: list[System], results: Results, meta: dict) -> dict:
    """The data file's content. meta: as for the Markdown, plus date, commit and python
    ({"version", "implementation"})."""
    return {
        "schema": SCHEMA,
        "source": "python -m bench.compare",
        "date": meta["date"],
        "command": meta["command"],
        "commit": meta["commit"],
        "python": meta["python_details"],
        "machine": meta["machine"],
        "redis": meta["redis"],
        "wall_minutes": round(meta["wall_minutes"], 2),
        "load_average": {"start": meta["load"][:3], "end": meta["load"][3:]},
        "config": meta["config"],
        "systems": {
            s.name: {"version": version_of(s), "error": s.error, "info": s.info} for s in systems
        },
        "medians": {s.name: figures(results, s) for s in systems if not s.error},
        "rounds": rounds(results),
    }


def default_path(meta: dict, quick: bool) -> Path:
    """bench/results/<date>T<time>Z_<commit>_py<version>[_quick].json"""
    stamp = datetime.fromisoformat(meta["date"]).strftime("%Y-%m-%dT%H%MZ")
    sha = (meta["commit"].get("sha") or "nocommit")[:7]
    suffix = "_quick" if quick else ""
    return RESULTS_DIR / f"{stamp}_{sha}_py{meta['python_details']['version']}{suffix}.json"


def write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
