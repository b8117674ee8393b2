"""Loads the Lua scripts in `lua/` once and calls them by SHA.

Each `lua/<name>.lua` is one state transition; its header names KEYS, ARGV, the return
value and its flags (`-- flags: allow-oom`, `no-writes`). Redis cannot include files, so
`_lib.lua` is prepended to every script. A script missing from the server's cache (after a
restart or `SCRIPT FLUSH`) is loaded again transparently.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Any

from redis.exceptions import NoScriptError

LUA_DIR = Path(__file__).with_name("lua")
_FLAGS = re.compile(r"^-- flags: ([a-z-]+(?:,[a-z-]+)*)", re.MULTILINE)


class Script:
    """One composed script: `#!lua` shebang with its flags, the shared library, its body."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, client: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            client.script_load(self.source)
            return client.evalsha(self.sha, len(keys), *keys, *args)

    def queue_in(self, pipeline: Any, keys: list[str], args: list[Any]) -> None:
        """Add a call to a pipeline; `run_pipeline` loads scripts the server lacks."""
        pipeline.evalsha(self.sha, len(keys), *keys, *args)

    def __repr__(self) -> str:
        return f"<Script {self.name} {self.sha[:8]}>"


def _compose(name: str) -> Script:
    lib = (LUA_DIR / "_lib.lua").read_text()
    body = (LUA_DIR / f"{name}.lua").read_text()
    match = _FLAGS.search(body)
    flags = match.group(1) if match else ""
    shebang = f"#!lua flags={flags}" if flags else "#!lua"
    return Script(name, f"{shebang}\n{lib}\n{body}")


@cache
def load_scripts() -> dict[str, Script]:
    """Every script in lua/, composed once per process."""
    return {
        path.stem: _compose(path.stem)
        for path in sorted(LUA_DIR.glob("*.lua"))
        if not path.stem.startswith("_")
    }


def run_pipeline(
    client: Any, calls: list[tuple[Script, list[str], list[Any]]], acks: Any = None
) -> list[Any]:
    """Run several script calls in one round trip (not a transaction: each is atomic).
    With acks (a hotpath.ReplicaAcks), WAIT for the replicas at the end, on the same
    connection, after a fence write (the pipeline may have been replayed on a new one)."""
    from .hotpath import FENCE_SCRIPT

    for attempt in (1, 2):
        pipe = client.pipeline(transaction=False)
        for script, keys, args in calls:
            script.queue_in(pipe, keys, args)
        if acks is not None:
            pipe.eval(FENCE_SCRIPT, 1, acks.fence_key, "1")
            pipe.wait(acks.replicas, max(1, round(acks.timeout * 1000)))
        results = pipe.execute(raise_on_error=False)
        missing = [r for r in results if isinstance(r, NoScriptError)]
        if missing and attempt == 1:
            for script, _, _ in calls:
                client.script_load(script.source)
            continue
        for result in results:
            if isinstance(result, Exception):
                raise result
        if acks is not None:
            acks.check(results[-1])
            results = results[:-2]
        return results
    raise AssertionError("unreachable")
