"""Property-based test: random sequences of transitions never break the state model.

After every step each task id is in exactly one state, its record and its index agree, the
counts match a model, and acquire returns the task the model expects (priority, then FIFO).
Threads park too: every push of a ready task (enqueue, requeue, promotion, a lost worker's
tasks) hands the best ready task to the longest-parked thread, and nothing else reaches a
mailbox. Time is simulated by moving a deferred task's due time or a lease's deadline to 0.
The task controls take part: a failed attempt put back for a retry (DEFERRED, and in the
retrying index), cancel (READY / DEFERRED at once; a request for RUNNING, which a retry then
cannot override), and a worker replaced on purpose (its tasks back to READY, uncharged).
Queues are paused and resumed (nothing of a paused queue is leased or handed over; resume
hands its ready tasks to the parked threads), and deferred tasks are run now.
"""

from __future__ import annotations

from datetime import timedelta

import hypothesis.strategies as st
import pytest
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests import tasks
from threadmill.backends.keys import STATUS_INDEXES
from threadmill.backends.records import AckOutcome, TaskState
from threadmill.backends.redis import RedisTaskBackend

QUEUES = ["default", "high"]
MAX_ATTEMPTS = 2
THREADS = ["w1/0", "w1/1", "w2/0"]  # mailboxes: worker id / thread


class TaskQueueMachine(RuleBasedStateMachine):
    url = ""

    @initialize()
    def setup(self):
        self.backend = RedisTaskBackend(
            "default",
            {"REDIS_URL": self.url, "QUEUES": QUEUES, "OPTIONS": {"max_attempts": MAX_ATTEMPTS}},
        )
        self.client = self.backend.store.client
        self.client.flushall()
        self.state: dict[str, TaskState] = {}
        self.queue: dict[str, str] = {}
        self.order: dict[str, tuple[int, int]] = {}  # READY: (-priority, group seq)
        self.losses: dict[str, int] = {}
        self.priority: dict[str, int] = {}
        self.leases: dict[str, object] = {}  # id -> current lease
        self.stale: list = []  # leases that lost their task
        self.parked: list[tuple[str, str]] = []  # (mailbox, token), longest-parked first
        self.seq = 0
        self.tokens = 0
        self.retrying: set[str] = set()  # DEFERRED after a failed attempt
        self.cancel_requested: set[str] = set()
        self.paused: set[str] = set()

    # ---- model helpers ----------------------------------------------------------------

    def _push_ready(self, ids, *, in_order=True):
        """Model the pushes a backend call just made, in the order Redis made them (when
        in_order; otherwise as one group of unknown order), each followed by a hand-over to
        the longest-parked thread, whose lease is collected from its mailbox and checked."""
        before = [self.order[i] for i in self._ready()]
        if not in_order:
            self.seq += 1
        for task_id in ids:
            if in_order:
                self.seq += 1
            self.state[task_id] = TaskState.READY
            self.retrying.discard(task_id)
            self.order[task_id] = (-self.priority[task_id], self.seq)
            if self.parked and self.queue[task_id] not in self.paused:
                mailbox, token = self.parked.pop(0)
                lease = self.backend.wait_for_lease(mailbox, 0.5)
                assert lease is not None, f"nothing handed to {mailbox}"
                assert lease.token == token
                assert self.state[lease.task_id] == TaskState.READY
                if in_order:
                    best = min(self.order[i] for i in self._ready())
                    assert self.order[lease.task_id] == best, "hand-over broke priority / FIFO"
                else:
                    assert all(self.order[lease.task_id] <= o for o in before)
                self.state[lease.task_id] = TaskState.RUNNING
                self.leases[lease.task_id] = (lease, mailbox.split("/")[0])

    def _ready(self):
        """The READY tasks that may be leased: those of queues not paused."""
        return [i for i in self._ids(TaskState.READY) if self.queue[i] not in self.paused]

    def _due(self, unpaused=False):
        """Deferred tasks made due by the test, in promotion order (queues in order, each by
        due time then id). Read before the backend call that promotes them. `unpaused`: of
        the queues not paused only (what acquire and park promote)."""
        return sorted(
            (
                i
                for i, s in self.state.items()
                if s == TaskState.DEFERRED
                and not (unpaused and self.queue[i] in self.paused)
                and self.client.zscore(self.backend.keys.index(self.queue[i], "deferred"), i) == 0
            ),
            key=lambda i: (QUEUES.index(self.queue[i]), i),
        )

    def _take_best(self, lease, worker):
        """The model's side of an acquire (or park) that just returned lease."""
        ready = self._ready()
        if not ready:
            assert lease is None
            return
        best = min(self.order[i] for i in ready)
        assert lease is not None
        assert self.order[lease.task_id] == best, "acquire broke priority / FIFO order"
        self.state[lease.task_id] = TaskState.RUNNING
        self.leases[lease.task_id] = (lease, worker)

    def _is_parked(self, mailbox):
        return any(m == mailbox for m, _ in self.parked)

    def _token(self):
        self.tokens += 1
        return f"tok-{self.tokens}"

    def _ids(self, *states):
        # Creation order, not sorted ids: ids are random, draws must replay identically.
        return [i for i, s in self.state.items() if s in states]

    # ---- rules ---------------------------------------------------------------------------

    @rule(priority=st.integers(-2, 2), queue=st.sampled_from(QUEUES), deferred=st.booleans())
    def enqueue(self, priority, queue, deferred):
        run_after = timezone.now() + timedelta(hours=1) if deferred else None
        task = tasks.noop.using(priority=priority, queue_name=queue, run_after=run_after)
        result = self.backend.enqueue(task, (), {})
        self.queue[result.id] = queue
        self.priority[result.id] = priority
        self.losses[result.id] = 0
        if deferred:
            self.state[result.id] = TaskState.DEFERRED
        else:
            self._push_ready([result.id])

    @precondition(lambda self: self._ids(TaskState.DEFERRED))
    @rule(data=st.data())
    def time_passes_for_a_deferred_task(self, data):
        task_id = data.draw(st.sampled_from(self._ids(TaskState.DEFERRED)))
        self.client.zadd(self.backend.keys.index(self.queue[task_id], "deferred"), {task_id: 0})
        # The due index says when to look at a queue: time passes for it too.
        self.client.zadd(self.backend.keys.due, {self.queue[task_id]: 0}, lt=True)

    @rule(worker=st.sampled_from(["w1", "w2"]))
    def acquire(self, worker):
        due = self._due(unpaused=True)
        lease = self.backend.acquire(worker, QUEUES, self._token())
        if not self._ready():  # acquire promotes due tasks only when idle
            self._push_ready(due)
        self._take_best(lease, worker)

    @rule(mailbox=st.sampled_from(THREADS))
    def park(self, mailbox):
        if self._is_parked(mailbox):  # a parked thread is blocked: it cannot park again
            return
        worker, token = mailbox.split("/")[0], self._token()
        due = self._due(unpaused=True)
        lease = self.backend.park(worker, QUEUES, token, mailbox)
        if not self._ready():
            self._push_ready(due)
        if self._ready():
            self._take_best(lease, worker)
        else:
            assert lease is None
            self.parked.append((mailbox, token))

    @rule(queue=st.sampled_from(QUEUES))
    def pause_queue(self, queue):
        assert self.backend.pause_queue(queue) == (queue not in self.paused)
        self.paused.add(queue)

    @rule(queue=st.sampled_from(QUEUES))
    def resume_queue(self, queue):
        was_paused, handed = self.backend.resume_queue(queue)
        assert was_paused == (queue in self.paused)
        self.paused.discard(queue)
        # Threads park only when nothing unpaused is ready: what is ready now is this
        # queue's, handed to the longest parked first, best first.
        expected = min(len(self.parked), len(self._ready()))
        assert handed == expected
        for _ in range(handed):
            mailbox, token = self.parked.pop(0)
            lease = self.backend.wait_for_lease(mailbox, 0.5)
            assert lease is not None, f"nothing handed to {mailbox}"
            assert lease.token == token
            assert self.queue[lease.task_id] == queue
            assert self.order[lease.task_id] == min(self.order[i] for i in self._ready())
            self.state[lease.task_id] = TaskState.RUNNING
            self.leases[lease.task_id] = (lease, mailbox.split("/")[0])

    @precondition(lambda self: self.state)
    @rule(data=st.data())
    def run_now(self, data):
        ids = data.draw(
            st.lists(st.sampled_from(list(self.state)), min_size=1, max_size=3, unique=True)
        )
        outcomes = self.backend.run_now(ids)
        moved = []
        for task_id in ids:
            if self.state[task_id] == TaskState.DEFERRED:
                assert outcomes[task_id] == "moved"
                moved.append(task_id)
            else:
                assert outcomes[task_id] == self.state[task_id].value
        self._push_ready(moved)

    @precondition(lambda self: self.parked)
    @rule(data=st.data(), stop=st.booleans())
    def parked_thread_gives_up(self, data, stop):
        """Its wait timed out (stop=False) or it was asked to stop: it unparks, empty-handed
        (every hand-over was collected at once by the model)."""
        mailbox, token = data.draw(st.sampled_from(self.parked))
        if stop:
            self.backend.request_stop([mailbox])
            assert self.backend.wait_for_lease(mailbox, 0.5) is None
        assert self.backend.unpark(mailbox.split("/")[0], mailbox, token) is None
        self.parked.remove((mailbox, token))

    @precondition(lambda self: self.leases)
    @rule(data=st.data(), succeeded=st.booleans())
    def acknowledge(self, data, succeeded):
        task_id = data.draw(st.sampled_from(list(self.leases)))
        lease, worker = self.leases.pop(task_id)
        value = "null" if succeeded else '{"exception_class_path":"x.Y","traceback":"t"}'
        ack = self.backend.acknowledge(lease, worker, succeeded=succeeded, value_json=value)
        assert ack.outcome == AckOutcome.OK
        self.state[task_id] = TaskState.SUCCESSFUL if succeeded else TaskState.FAILED
        self.stale.append((lease, worker))

    @precondition(lambda self: self.leases)
    @rule(data=st.data())
    def failed_attempt_is_retried(self, data):
        task_id = data.draw(st.sampled_from(list(self.leases)))
        lease, worker = self.leases.pop(task_id)
        value = '{"exception_class_path":"x.Y","traceback":"t"}'
        ack = self.backend.acknowledge(
            lease, worker, succeeded=False, value_json=value, retry_after=3600
        )
        assert ack.outcome == AckOutcome.OK
        if task_id in self.cancel_requested:  # a requested cancel wins over the retry
            self.state[task_id] = TaskState.FAILED
        else:
            self.state[task_id] = TaskState.DEFERRED
            self.retrying.add(task_id)
        self.stale.append((lease, worker))

    @precondition(lambda self: self.state)
    @rule(data=st.data(), terminate=st.booleans())
    def cancel(self, data, terminate):
        ids = data.draw(
            st.lists(st.sampled_from(list(self.state)), min_size=1, max_size=3, unique=True)
        )
        outcomes = self.backend.cancel(ids, who="model", terminate=terminate)
        for task_id in ids:
            state = self.state[task_id]
            if state in (TaskState.READY, TaskState.DEFERRED):
                assert outcomes[task_id] == "cancelled"
                self.state[task_id] = TaskState.FAILED
                self.retrying.discard(task_id)
            elif state == TaskState.RUNNING:
                assert outcomes[task_id] == "requested"
                self.cancel_requested.add(task_id)
            else:
                assert outcomes[task_id] == state.value

    @rule(worker=st.sampled_from(["w1", "w2"]))
    def worker_replaced_on_purpose(self, worker):
        held = [i for i, (_, w) in self.leases.items() if w == worker]
        outcomes = self.backend.resolve_worker(worker, "replaced", charge=False)
        self.parked = [(m, t) for m, t in self.parked if not m.startswith(worker + "/")]
        released = [i for i in held if i not in self.cancel_requested]
        assert outcomes == {i: "released" if i in released else "cancelled" for i in held}
        for task_id in held:
            self.stale.append(self.leases.pop(task_id))
            if task_id not in released:
                self.state[task_id] = TaskState.FAILED
        self._push_ready(released, in_order=False)

    @precondition(lambda self: self.stale)
    @rule(data=st.data())
    def late_acknowledge(self, data):
        lease, worker = data.draw(st.sampled_from(self.stale))
        ack = self.backend.acknowledge(lease, worker, succeeded=True, value_json='"late"')
        assert ack.outcome in (AckOutcome.LEASE_LOST, AckOutcome.ALREADY_DONE, AckOutcome.GONE)

    @precondition(lambda self: self.leases)
    @rule(data=st.data())
    def lease_expires(self, data):
        task_id = data.draw(st.sampled_from(list(self.leases)))
        self.client.zadd(self.backend.keys.index(self.queue[task_id], "running"), {task_id: 0})
        due = self._due()
        report = self.backend.maintain(QUEUES)
        self._push_ready(due)
        assert report.expired == [task_id]
        self.stale.append(self.leases.pop(task_id))
        self.state[task_id] = TaskState.FAILED

    @rule(worker=st.sampled_from(["w1", "w2"]))
    def worker_lost(self, worker):
        held = [i for i, (_, w) in self.leases.items() if w == worker]
        outcomes = self.backend.resolve_worker(worker, "test")
        # Its parked threads are forgotten first: nothing is handed to a lost worker.
        self.parked = [(m, t) for m, t in self.parked if not m.startswith(worker + "/")]
        assert sorted(outcomes) == sorted(held)
        requeued = []
        for task_id in held:
            self.stale.append(self.leases.pop(task_id))
            if task_id in self.cancel_requested:
                assert outcomes[task_id] == "cancelled"
                self.state[task_id] = TaskState.FAILED
                continue
            self.losses[task_id] += 1
            if self.losses[task_id] >= MAX_ATTEMPTS:
                assert outcomes[task_id] == "failed"
                self.state[task_id] = TaskState.FAILED
            else:
                assert outcomes[task_id] == "requeued"
                requeued.append(task_id)
        self._push_ready(requeued, in_order=False)  # in the order of a Redis hash

    @precondition(lambda self: self._ids(TaskState.SUCCESSFUL, TaskState.FAILED))
    @rule(data=st.data())
    def requeue_finished(self, data):
        finished = self._ids(TaskState.SUCCESSFUL, TaskState.FAILED)
        self.requeue(data, st.lists(st.sampled_from(finished), min_size=1, max_size=3, unique=True))

    @precondition(lambda self: self.state)
    @rule(data=st.data())
    def requeue_any(self, data):
        self.requeue(
            data, st.lists(st.sampled_from(list(self.state)), min_size=1, max_size=3, unique=True)
        )

    def requeue(self, data, strategy):
        ids = data.draw(strategy)
        outcomes = self.backend.requeue(ids)
        pushed = []
        for task_id in ids:
            if self.state[task_id] in (TaskState.SUCCESSFUL, TaskState.FAILED):
                assert outcomes[task_id] == "requeued"
                self.losses[task_id] = 0
                self.cancel_requested.discard(task_id)
                pushed.append(task_id)
            else:
                assert outcomes[task_id] == self.state[task_id].value
        self._push_ready(pushed)

    @precondition(lambda self: self.state)
    @rule(data=st.data())
    def purge(self, data):
        ids = data.draw(
            st.lists(st.sampled_from(list(self.state)), min_size=1, max_size=3, unique=True)
        )
        outcomes = self.backend.purge(ids)
        for task_id in ids:
            if self.state[task_id] == TaskState.RUNNING:
                assert outcomes[task_id] == "RUNNING"
            else:
                assert outcomes[task_id] == "purged"
                del self.state[task_id]
                self.order.pop(task_id, None)
                self.retrying.discard(task_id)

    # ---- invariants ----------------------------------------------------------------------

    @invariant()
    def every_task_is_in_exactly_one_state(self):
        if not hasattr(self, "backend"):
            return
        keys = self.backend.keys
        for task_id, state in self.state.items():
            record = self.backend.get_task(task_id)
            assert record is not None, f"{task_id} lost"
            assert record.state == state
            memberships = [
                status
                for status in STATUS_INDEXES
                if self.client.zscore(keys.index(self.queue[task_id], status), task_id) is not None
            ]
            assert memberships == [state.slug], (task_id, memberships, state)
            retrying = self.client.zscore(keys.index(self.queue[task_id], "retrying"), task_id)
            assert (retrying is not None) == (task_id in self.retrying), task_id
            assert record.retrying == (task_id in self.retrying), task_id
        stats = {s.queue: s for s in self.backend.queue_stats(QUEUES)}
        for queue in QUEUES:
            for state in TaskState:
                expected = sum(
                    1 for i, s in self.state.items() if s == state and self.queue[i] == queue
                )
                assert stats[queue].count(state) == expected, (queue, state)
            assert stats[queue].retrying == sum(1 for i in self.retrying if self.queue[i] == queue)
            assert stats[queue].paused == (queue in self.paused)
        for mailbox in THREADS:  # nothing handed over that the model did not expect
            assert self.client.llen(keys.mailbox(mailbox)) == 0, mailbox
        for mailbox, token in self.parked:
            assert self.client.hget(keys.park(mailbox), "token") == token


@pytest.mark.timeout(600)
def test_state_machine(redis_server):
    TaskQueueMachine.url = redis_server.url
    run = TaskQueueMachine.TestCase
    run.settings = settings(
        max_examples=200,
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    run().runTest()
