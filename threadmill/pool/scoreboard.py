"""The scoreboard: memory shared by the master and one worker process, saying what each task
thread runs.

The master maps an anonymous shared region before it forks a worker. The worker's threads
write into it (a few bytes per task, no system call, no Redis round trip); the master reads
it to publish the pool's heartbeat and to spot a task that has overrun its lease. Because
the master reads memory instead of asking the worker, a task that holds the GIL for
seconds cannot make its worker look idle or dead.

Layout: a header (booted flag, processed and failed counters), then one record per thread
guarded by a sequence number (odd while being written), so the reader never uses a
half-written record, then one byte the master writes and the worker reads: whether the
pool is quiet (take no new tasks).
"""

from __future__ import annotations

import mmap
import struct
import threading
import time
from datetime import UTC, datetime

from threadmill.backends.pool_records import ThreadReport

_HEADER = struct.Struct("<BQQdB")  # booted, processed, failed, started, exit reason
_THREAD = struct.Struct("<Id64s192s")  # seq, since (epoch seconds, 0 = idle), id, path
_QUIET = struct.Struct("<B")  # written by the master only


class Scoreboard:
    """The shared region of one worker process with `threads` task threads."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._quiet_at = _HEADER.size + _THREAD.size * threads
        self._mem = mmap.mmap(-1, self._quiet_at + _QUIET.size)
        self._counter_lock = threading.Lock()  # used by the worker's threads only
        _HEADER.pack_into(self._mem, 0, 0, 0, 0, 0.0, 0)

    # ---- written by the worker ----------------------------------------------------------

    def mark_booted(self) -> None:
        _booted, processed, failed, _, reason = _HEADER.unpack_from(self._mem, 0)
        _HEADER.pack_into(self._mem, 0, 1, processed, failed, time.time(), reason)

    def set_exit_reason(self, code: int) -> None:
        """Say why the worker exits, so the master can tell it from a task's os._exit(code)."""
        with self._counter_lock:
            booted, processed, failed, started, _ = _HEADER.unpack_from(self._mem, 0)
            _HEADER.pack_into(self._mem, 0, booted, processed, failed, started, code + 1)

    def task_started(self, thread: int, task_id: str, task_path: str) -> None:
        offset = _HEADER.size + _THREAD.size * thread
        seq = _THREAD.unpack_from(self._mem, offset)[0]
        struct.pack_into("<I", self._mem, offset, seq + 1)
        _THREAD.pack_into(
            self._mem, offset, seq + 2, time.time(), task_id.encode()[:64], task_path.encode()[:192]
        )

    def task_finished(self, thread: int, failed: bool) -> None:
        offset = _HEADER.size + _THREAD.size * thread
        seq = _THREAD.unpack_from(self._mem, offset)[0]
        struct.pack_into("<I", self._mem, offset, seq + 1)
        _THREAD.pack_into(self._mem, offset, seq + 2, 0.0, b"", b"")
        with self._counter_lock:
            booted, processed, failures, started, reason = _HEADER.unpack_from(self._mem, 0)
            _HEADER.pack_into(
                self._mem, 0, booted, processed + 1, failures + int(failed), started, reason
            )

    # ---- written by the master, read by the worker ---------------------------------------

    @property
    def quiet(self) -> bool:
        """Whether the pool is quiet: the worker takes no new tasks (it finishes its own)."""
        return bool(_QUIET.unpack_from(self._mem, self._quiet_at)[0])

    @quiet.setter
    def quiet(self, value: bool) -> None:
        _QUIET.pack_into(self._mem, self._quiet_at, int(value))

    # ---- read by the master -------------------------------------------------------------

    @property
    def booted(self) -> bool:
        return bool(_HEADER.unpack_from(self._mem, 0)[0])

    def counters(self) -> tuple[int, int]:
        _, processed, failed, _, _ = _HEADER.unpack_from(self._mem, 0)
        return processed, failed

    @property
    def exit_reason(self) -> int | None:
        """The exit code the worker announced before exiting, or None (it did not)."""
        reason = _HEADER.unpack_from(self._mem, 0)[4]
        return reason - 1 if reason else None

    def threads_now(self) -> list[ThreadReport]:
        """What each thread runs now (since: when its task started, None when idle)."""
        views = []
        for index in range(self.threads):
            offset = _HEADER.size + _THREAD.size * index
            for _ in range(100):
                seq, since, task_id, path = _THREAD.unpack_from(self._mem, offset)
                if seq % 2 == 0 and _THREAD.unpack_from(self._mem, offset)[0] == seq:
                    break
            views.append(
                ThreadReport(
                    index=index,
                    task_id=task_id.rstrip(b"\0").decode(errors="replace"),
                    task_path=path.rstrip(b"\0").decode(errors="replace"),
                    since=datetime.fromtimestamp(since, tz=UTC) if since else None,
                )
            )
        return views

    def close(self) -> None:
        self._mem.close()
