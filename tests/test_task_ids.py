"""Task ids (threadmill.backends.ids): random, unique, and never shared with a fork."""

import os
import re
import threading

import pytest

from threadmill.backends import ids


def test_ids_are_32_hex_digits_and_unique_across_refills():
    many = [ids.new_task_id() for _ in range(ids.IDS_PER_READ * 3 + 7)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in many)
    assert len(set(many)) == len(many)


def test_threads_never_get_the_same_id():
    got: list[list[str]] = [[] for _ in range(4)]

    def take(out: list[str]) -> None:
        out.extend(ids.new_task_id() for _ in range(2000))

    threads = [threading.Thread(target=take, args=(out,)) for out in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for out in got for i in out]
    assert len(set(every)) == len(every) == 8000


# Earlier tests leave threads behind; the child here only reads os.urandom and exits.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_does_not_reuse_the_parents_buffered_ids():
    ids.new_task_id()  # the parent now holds IDS_PER_READ - 1 unused ids
    buffered = set(ids._ready)
    assert buffered
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids and leave at once
        os.close(read)
        os.write(write, " ".join(ids.new_task_id() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child_ids = set(pipe.read().split())
    os.waitpid(pid, 0)
    assert len(child_ids) == 10
    assert not child_ids & buffered
    assert not child_ids & {ids.new_task_id() for _ in range(50)}
