"""The command line: `uv run python -m bench.compare [--quick] ...` (see the package's
docstring). Builds the peers' environments, runs every round against a private
redis-server, prints the Markdown tables and writes the JSON data file."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench.compare
from bench.compare import Failed, log
from bench.compare import results as data_file
from bench.compare.config import make_config
from bench.compare.drivers import SYSTEMS, Runner, System
from bench.compare.environments import (
    base_python,
    build_env,
    default_env_dir,
    python_implementation,
    python_version,
)
from bench.compare.report import markdown
from bench.compare.rounds import run_all
from tests.redis_server import RedisServer

COMMAND = "uv run python -m bench.compare"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=COMMAND, description=bench.compare.__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: small and short")
    parser.add_argument("--runs", type=int, help="rounds (default 3; --quick: 1)")
    parser.add_argument("--tasks", type=int, help="tasks per drain (default 10,000)")
    parser.add_argument("--systems", help=f"comma-separated subset of: {','.join(SYSTEMS)}")
    parser.add_argument(
        "--sweep",
        action=argparse.BooleanOptionalAction,
        help="drain in every setting of each system, not only 1x1 (default: on; --quick: off)",
    )
    parser.add_argument(
        "--sweep-rounds",
        type=int,
        default=1,
        help="rounds that drain in every setting; later rounds drain 1x1 and the best setting "
        "so far (default 1)",
    )
    parser.add_argument("--output", type=Path, help="also write the Markdown tables here")
    parser.add_argument(
        "--json",
        type=Path,
        help="write the data file here (default: bench/results/<date>_<commit>_py<version>"
        "[_quick].json)",
    )
    parser.add_argument(
        "--env-dir",
        type=Path,
        default=default_env_dir(),
        help="where the peers' virtual environments are kept",
    )
    parser.add_argument("--python", default=base_python(), help="interpreter for the peers")
    args = parser.parse_args(argv)
    names = args.systems.split(",") if args.systems else SYSTEMS
    unknown = set(names) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")
    args.names = names
    return args


def install(systems: list[System], python: str, env_dir: Path) -> None:
    """Point every system at its interpreter; a failed install marks the system failed."""
    for s in systems:
        if s.name == "threadmill":
            s.python = sys.executable
            continue
        try:
            s.python = build_env(s.name, python, env_dir, timeout=900)
        except Failed as e:
            s.error = str(e)
            log(f"[{s.name}] FAILED: {e}")
        except (OSError, subprocess.SubprocessError) as e:
            s.error = f"install: {e}"
            log(f"[{s.name}] FAILED: install: {e}")


def set_up(runner: Runner, systems: list[System]) -> None:
    """Each system's `info` and `setup`; a failure marks the system failed."""
    for s in systems:
        if s.error:
            continue
        try:
            s.info = runner.call(s, "info", timeout=120)
            runner.call(s, "setup", timeout=300)
        except Failed as e:
            s.error = str(e)
            log(f"[{s.name}] FAILED: {e}")
        else:
            log(f"[{s.name}] {s.info['versions']} on Python {s.info['python']}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = make_config(args.quick, args.runs, args.tasks, args.sweep, args.sweep_rounds)
    started = time.monotonic()
    date = data_file.now()
    load_before = os.getloadavg()

    systems = [System(name) for name in args.names]
    install(systems, args.python, args.env_dir)

    workdir = Path(tempfile.mkdtemp(prefix="threadmill-compare-"))
    try:
        with RedisServer(appendonly=False) as server:
            runner = Runner(server, workdir)
            try:
                redis_version = server.version()  # names Valkey when it is one
                set_up(runner, systems)
                results = run_all(runner, systems, cfg)
            finally:
                runner.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    meta = {
        "date": date,
        "commit": data_file.commit(),
        "machine": data_file.machine(),
        "python": python_version(args.python),
        "python_details": {
            "version": python_version(args.python),
            "implementation": python_implementation(args.python),
        },
        "redis": redis_version,
        "runs": cfg.runs,
        "command": " ".join([COMMAND, *(argv if argv is not None else sys.argv[1:])]),
        "wall_minutes": (time.monotonic() - started) / 60,
        "load": [round(x, 2) for x in load_before + os.getloadavg()],
        "config": cfg.as_dict(),
    }
    table = markdown(systems, results, meta)
    print(table)
    if args.output:
        args.output.write_text(table)
    path = args.json or data_file.default_path(meta, args.quick)
    data_file.write(path, data_file.payload(systems, results, meta))
    log(f"data file: {path}")


if __name__ == "__main__":
    main()
