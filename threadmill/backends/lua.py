"""The Lua scripts in `lua/`: composed once per process, their headers read, and loaded again
into a Redis that lost them.

Each `lua/<name>.lua` is one state transition. Its header says, one line each, what it
takes and returns (tests/test_script_contract.py holds every wrapper in `scripts.py` to it):

    -- flags: allow-oom (why)            script flags (`allow-oom`, `no-writes`), optional
    -- KEYS[1] leases: what it is        a key the caller passes, by name
    -- ARGV[1] base: what it is          an argument, by name
    -- ARGV[7..] queues: what they are   the rest of the arguments (`KEYS[2..]` likewise)
    -- Returns ...

Redis cannot include files, so the shared library, `lua/lib/*.lua` in name order (the
key-name rule `K` and the records' helpers first, then leasing, transitions, run metrics,
repairs and task filters), is prepended to every script. A Redis that restarted, failed over
or ran `SCRIPT FLUSH` no longer has the scripts; `load_all` is the one thing done about it:
both ways of calling scripts (redis-py clients in `store.py`, a thread's own connection in
`hotpath.py`) call it when Redis answers NOSCRIPT, then send the call again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LUA_DIR = Path(__file__).with_name("lua")
_FLAGS = re.compile(r"^-- flags: ([a-z-]+(?:,[a-z-]+)*)", re.MULTILINE)
_PARAM = re.compile(r"^-- (KEYS|ARGV)\[(\d+)(\.\.)?\] (\w+)", re.MULTILINE)


@dataclass(frozen=True)
class Header:
    """The KEYS and ARGV a script declares, by name, in order; `*_rest` names the variadic
    tail (`ARGV[7..] queues`), or is empty when the list has a fixed length."""

    keys: tuple[str, ...]
    keys_rest: str
    argv: tuple[str, ...]
    argv_rest: str


class Script:
    """One composed script: `#!lua` shebang with its flags, the shared library, its body."""

    def __init__(self, name: str, body: str, lib: str) -> None:
        self.name = name
        self.header = parse_header(name, body)
        match = _FLAGS.search(body)
        shebang = f"#!lua flags={match.group(1)}" if match else "#!lua"
        self.source = f"{shebang}\n{lib}\n{body}"
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()

    def __repr__(self) -> str:
        return f"<Script {self.name} {self.sha[:8]}>"


def parse_header(name: str, body: str) -> Header:
    """The KEYS / ARGV lines of a script's header; ValueError if they are out of order."""
    lists: dict[str, list[str]] = {"KEYS": [], "ARGV": []}
    rest = {"KEYS": "", "ARGV": ""}
    for kind, position, variadic, param in _PARAM.findall(body):
        if rest[kind] or int(position) != len(lists[kind]) + 1:
            raise ValueError(f"{name}.lua: {kind}[{position}] {param} is out of order")
        if variadic:
            rest[kind] = param
        else:
            lists[kind].append(param)
    return Header(tuple(lists["KEYS"]), rest["KEYS"], tuple(lists["ARGV"]), rest["ARGV"])


def library_source() -> str:
    """The shared library every script starts with: `lua/lib/*.lua`, in name order (each
    part uses only what the parts before it define)."""
    return "".join(path.read_text() for path in sorted((LUA_DIR / "lib").glob("*.lua")))


@cache
def load_scripts() -> dict[str, Script]:
    """Every script in lua/, composed once per process."""
    lib = library_source()
    return {
        path.stem: Script(path.stem, path.read_text(), lib)
        for path in sorted(LUA_DIR.glob("*.lua"))
    }


def load_all(script_load: Callable[[str], object]) -> None:
    """Redis answered NOSCRIPT: give it every script again (`script_load(source)` sends one
    SCRIPT LOAD). All of them, so that one restart costs one reload, not one per script."""
    for script in load_scripts().values():
        script_load(script.source)
