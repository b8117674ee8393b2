"""The Redis contract: every key name follows one rule in Python and Lua, and every script's
typed wrapper sends what the script's header declares, in the declared order.

The key rule is checked by running the `K` functions of `lua/lib/1_records.lua` in a real
Redis and comparing them with `Keys`; the wrappers by building a call of each with
recognisable values and finding each value at the position the header gives its name."""

from __future__ import annotations

import inspect
import re

import pytest

from threadmill.backends.hotpath import Packed
from threadmill.backends.keys import Keys
from threadmill.backends.lua import LUA_DIR, library_source, load_scripts, parse_header
from threadmill.backends.records import TaskState
from threadmill.backends.script_values import NewTask
from threadmill.backends.scripts import Scripts
from threadmill.backends.search_records import TaskFilter
from threadmill.options import BackendOptions

KEYS = Keys("tm", "alias-1")

#: Recognisable arguments for each wrapper.
SAMPLES = {
    "acknowledge": {
        "worker_id": "W",
        "next_token": "NT",
        "task_id": "ID",
        "token": "TK",
        "status": "FAILED",
        "value": '{"v": 1}',
        "queues": ["q1", "q2"],
        "retry_ms": 2500,
    },
    "acquire": {"worker_id": "W", "token": "TK", "queues": ["q1"]},
    "enqueue": {
        "queue": "Q",
        "tasks": [
            NewTask("i1", "a.b", 3, False, None, "[]", "{}"),
            NewTask("i2", "a.c", 0, True, 1234, "[1]", '{"k": 2}', 9000, 600, "dig"),
        ],
    },
    "cancel": {"ids": ["a", "b"], "who": "WHO", "terminate": True},
    "bulk_chunk": {"job_id": "J", "scan": 77, "keep_ms": 6000},
    "cancel_job": {"job_id": "J", "who": "WHO", "keep_ms": 6000},
    "create_job": {
        "job_id": "J",
        "queue": "Q",
        "state": TaskState.FAILED,
        "keep_ms": 6000,
        "until_ms": 1234,
        "fields": {"action": "requeue", "f_error": "KeyError"},
    },
    "search": {
        "queue": "Q",
        "state": TaskState.FAILED,
        "offset": 5,
        "limit": 10,
        "scan": 99,
        "filter": TaskFilter(path="P", error="E", worker="W", args="A"),
    },
    "error_groups": {"queue": "Q", "state": TaskState.FAILED, "offset": 5, "count": 99},
    "expire_leases": {"until_ms": 123, "queues": ["q1", "q2"]},
    "extend_lease": {"task_id": "ID", "token": "TK", "ms": 5000},
    "heartbeat": {"pool_id": "P", "report": "{}", "epoch": "E", "worker_ids": ["w1", "w2"]},
    "metrics_minutes": {"minutes": 60},
    "metrics_series": {"range_ms": 3600000, "failures": 5, "queue": "Q", "path": "a.b"},
    "page": {"queue": "Q", "state": TaskState.FAILED, "offset": 5, "limit": 10},
    "park": {"worker_id": "W", "token": "TK", "mailbox": "M", "queues": ["q1"]},
    "promote": {"queues": ["q1", "q2"]},
    "purge": {"queue": "Q", "ids": ["a", "b"]},
    "purge_index": {"queue": "Q", "state": TaskState.READY},
    "queue_stats": {"queues": ["q1", "q2"], "window_ms": 60000},
    "reap_workers": {"until_ms": 77},
    "remove_pool": {"pool_id": "P", "worker_ids": ["w1"]},
    "requeue": {"ids": ["a", "b"]},
    "resume_queue": {"queue": "Q"},
    "run_now": {"ids": ["a", "b"]},
    "schedule": {
        "name": "nightly",
        "queue": "Q",
        "slot_ms": 1700000000000,
        "mode": "slot",
        "overlap": False,
        "task": NewTask("i9", "a.n", 2, True, None, "[3]", "{}", 500, None, "dg"),
    },
    "resolve_worker": {"worker_id": "W", "reason": "R", "charge": False},
    "sample_queues": {"queues": ["q1", "q2"]},
    "trim_results": {"queues": ["q1"]},
    "unpark": {"worker_id": "W", "mailbox": "M", "token": "TK"},
}
#: Parameters that only name keys (they are found in KEYS, not ARGV).
KEY_PARAMS = {"queue", "queues", "state", "worker_id"}


def _flat(args: list) -> list[str]:
    out: list[str] = []
    for a in args:
        out.extend(str(v) for v in (a.values if isinstance(a, Packed) else [a]))
    return out


def test_every_script_has_a_header_and_a_wrapper():
    scripts = load_scripts()
    wrappers = {
        name
        for name, member in inspect.getmembers(Scripts, inspect.isfunction)
        if not name.startswith("_")
    }
    assert set(scripts) == wrappers == set(SAMPLES)
    for script in scripts.values():
        header = script.header
        assert header.keys or header.keys_rest, f"{script.name} declares no KEYS"
        assert "-- Returns" in script.source, f"{script.name} does not say what it returns"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_wrapper_sends_what_its_script_declares(name):
    scripts = Scripts(KEYS, BackendOptions())
    header = scripts.lua[name].header
    call = getattr(scripts, name)(**SAMPLES[name])
    assert call.script is scripts.lua[name]
    if header.keys_rest:
        assert len(call.keys) > len(header.keys)
    else:
        assert len(call.keys) == len(header.keys)
    assert all(key.startswith(KEYS.base) for key in call.keys)  # one hash tag: one slot
    args = _flat(call.args)
    fixed, rest = args[: len(header.argv)], args[len(header.argv) :]
    assert len(fixed) == len(header.argv)
    if not header.argv_rest:
        assert rest == []
    if "base" in header.argv:
        assert fixed[header.argv.index("base")] == KEYS.base
    for param, value in SAMPLES[name].items():
        if param == "tasks":  # enqueue: 10 values per task, a record key per task
            assert header.argv_rest == "tasks"
            assert rest[::10] == [t.id for t in value]
            second = ["i2", "a.c", "0", "1", "1234", "[1]", '{"k": 2}', "9000", "600", "dig"]
            assert rest[10:] == second
            assert [k.rsplit(":", 1)[1] for k in call.keys] == [t.id for t in value]
        elif param == "task":  # schedule: one task's values by name
            for name, field in (("id", "id"), ("path", "path"), ("args", "args_json")):
                assert fixed[header.argv.index(name)] == str(getattr(value, field))
            assert fixed[header.argv.index("timeout_ms")] == "500"
            assert fixed[header.argv.index("expires_ms")] == ""
            assert fixed[header.argv.index("unique")] == "dg"
            assert call.keys[-1] == KEYS.task("i9")
        elif param == "filter":  # search: a TaskFilter's parts by name
            for part in ("path", "error", "worker", "args"):
                assert fixed[header.argv.index(part)] == getattr(value, part)
            assert fixed[header.argv.index("time_field")] == "finished_at"
        elif param == "fields":  # create_job: name, value pairs
            assert rest == [v for item in value.items() for v in item]
        elif param in header.argv:
            shown = str(int(value)) if isinstance(value, bool) else str(value)
            assert fixed[header.argv.index(param)] == shown, param
        elif param == header.argv_rest:
            assert rest == [str(v) for v in value]
        else:
            assert param in KEY_PARAMS, f"{name}: {param} is neither in ARGV nor a key part"
            parts = value if isinstance(value, list) else [value]
            for part in parts:
                part = part.slug if isinstance(part, TaskState) else part
                assert any(str(part) in key for key in call.keys), param


def test_headers_list_their_arguments_in_order():
    header = parse_header("x", "-- KEYS[1] a: .\n-- KEYS[2..] b: .\n-- ARGV[1] c\n-- ARGV[2..] d")
    assert (header.keys, header.keys_rest, header.argv, header.argv_rest) == (
        ("a",),
        "b",
        ("c",),
        "d",
    )
    with pytest.raises(ValueError, match=r"ARGV\[3\] e is out of order"):
        parse_header("x", "-- ARGV[1] c\n-- ARGV[3] e")


def test_scripts_use_every_key_they_declare():
    for script in load_scripts().values():
        body = (LUA_DIR / f"{script.name}.lua").read_text()
        for position in range(1, len(script.header.keys) + 1):
            assert f"KEYS[{position}]" in body, f"{script.name} ignores KEYS[{position}]"
        if script.header.keys_rest:
            assert re.search(r"KEYS\[[^\]\d]", body) or "#KEYS" in body, script.name


def test_key_names_are_built_only_by_the_rule():
    """No script joins a key name itself: the pieces of the rule appear only in K."""
    piece = re.compile(r"base \.\. '|'(task|q|mbox|park|parks|leases|pool|unique|control):'")
    for path in sorted(LUA_DIR.rglob("*.lua")):  # the scripts and the library
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.startswith("function K."):
                assert not piece.search(line), f"{path.name}:{number} builds a key: {line}"


def test_lua_and_python_build_the_same_key_names(rclient):
    """Each method of Keys has a function of the same name in the Lua library's K table, with the
    same result (run in a real Redis)."""
    members = [
        name
        for name in dir(Keys)
        if not name.startswith("_") and name not in ("base", "prefix", "alias")
    ]
    calls, expected = [], []
    for name in members:
        member = getattr(Keys, name)
        if isinstance(member, property):
            calls.append(f"K.{name}(ARGV[1])")
            expected.append(getattr(KEYS, name))
        else:
            params = list(inspect.signature(member).parameters)[1:]
            values = [f"v{n}-{name}" for n in range(len(params))]
            calls.append(f"K.{name}(ARGV[1], {', '.join(repr(v) for v in values)})")
            expected.append(member(KEYS, *values))
    lib = library_source()
    source = f"{lib}\nreturn {{{', '.join(calls)}}}"
    assert rclient.eval(source, 0, KEYS.base) == expected
    defined = set(re.findall(r"^function K\.(\w+)\(", lib, re.MULTILINE))
    assert defined == set(members)
