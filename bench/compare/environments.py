"""Each peer's private virtual environment: built once with uv (or venv and pip) from the
pins in `bench/peers/versions.py`, reused while the pins and the interpreter are unchanged.
Threadmill itself runs in this repository's environment and needs none."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.compare import Failed, log, one_line
from bench.peers.versions import pins_for


def base_python() -> str:
    """The interpreter behind this process (the repository's env): peers get the same one."""
    return getattr(sys, "_base_executable", None) or sys.executable


def ask_python(python: str, expression: str) -> str:
    """What `print(expression)` prints in the interpreter at `python`."""
    out = subprocess.run(
        [python, "-c", f"import platform, sys; print({expression})"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def python_version(python: str) -> str:
    """Its version, e.g. 3.13.0 (it goes into each environment's name: a new interpreter
    gets new environments)."""
    return ask_python(python, "sys.version.split()[0]")


def python_implementation(python: str) -> str:
    """Its implementation: CPython, PyPy, ..."""
    return ask_python(python, "platform.python_implementation()")


def default_env_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "threadmill-bench" / "envs"


def build_env(system: str, python: str, env_dir: Path, timeout: float) -> str:
    """The path of the python of `system`'s private virtual environment (built if needed)."""
    version = python_version(python)
    pins = pins_for(system, version)
    digest = hashlib.sha256(json.dumps([pins, python, version]).encode()).hexdigest()[:12]
    venv = env_dir / f"{system}-{digest}"
    exe = venv / "bin" / "python"
    marker = venv / ".bench-complete"
    if marker.exists() and exe.exists():
        return str(exe)
    for stale in env_dir.glob(f"{system}-*"):  # built from older pins: ours to remove
        if len(stale.name) == len(venv.name):
            shutil.rmtree(stale, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    uv = shutil.which("uv")
    if uv:
        steps = [
            [uv, "venv", "--quiet", "--python", python, str(venv)],
            [uv, "pip", "install", "--quiet", "--python", str(exe), *pins],
        ]
    else:
        steps = [
            [python, "-m", "venv", str(venv)],
            [str(exe), "-m", "pip", "install", "--quiet", *pins],
        ]
    log(f"[{system}] installing {' '.join(pins)} into {venv}")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PYTHON")}
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired as e:
            raise Failed(f"install timed out after {timeout:.0f} s") from e
        if done.returncode != 0:
            raise Failed(f"install: {one_line(done.stderr or done.stdout)}")
    marker.write_text(" ".join(pins) + "\n")
    return str(exe)
