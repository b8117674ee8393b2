"""Where a run keeps what it measured: `results`, a dict from a figure's key to one entry
per round, each that round's figures or `{"error": reason}`.

A key is a tuple: (system, "enqueue"), (system, "enqueue_many"), (system, "drain",
setting), (system, "latency") or (system, "idle"); in the dict it is stored as its JSON
text, e.g. '["threadmill", "drain", "1x1"]'. Every measurement is logged to stderr as it
is stored."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from bench.compare import Failed, log

Results = dict[str, list[dict]]


def runs_of(results: Results, key: tuple | list) -> list[dict]:
    """Every round's entry for `key` (figures or an error), in the order measured."""
    return results.get(json.dumps(list(key)), [])


def record(results: Results, key: tuple, fn: Callable[..., dict], *args) -> None:
    """Run one measurement; store its value or its failure under results[key]."""
    began = time.monotonic()
    try:
        value = fn(*args)
    except Exception as e:  # a Failed, or a bug or an unexpected reply: report it, keep going
        value = e
    store(results, key, value, time.monotonic() - began)


_STORE_LOCK = threading.Lock()  # the idle phase stores from several threads


def store(results: Results, key: tuple, value: dict | Exception, took: float) -> None:
    """Log a measurement (or its failure) and keep it under results[key]."""
    system = key[0]
    label = " ".join(str(k) for k in key[1:])
    if isinstance(value, Exception):
        reason = str(value) if isinstance(value, Failed) else f"{type(value).__name__}: {value}"
        # A Redis error may quote a binary argument (a DUMP payload): keep the text readable.
        reason = "".join(c if c.isprintable() else "?" for c in reason)
        reason = reason if len(reason) <= 300 else reason[:299] + "…"
        value = {"error": reason}
        log(f"[{system}] {label}: FAILED: {reason}")
    else:
        shown = {k: v for k, v in value.items() if k != "samples"}
        log(f"[{system}] {label} ({took:.1f} s): {json.dumps(shown, default=str)}")
    with _STORE_LOCK:
        results.setdefault(json.dumps(key), []).append(value)
