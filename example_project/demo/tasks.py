"""Sample tasks of the demo: fast, slow, failing, async, high priority, deferred, vanishing."""

import asyncio
import os
import random
import time

from django.tasks import task


@task
def fast(n: int) -> int:
    """A quick computation."""
    return n * n


@task
def slow(seconds: float = 2.0) -> str:
    """Sleeps, so the dashboard shows it running."""
    time.sleep(seconds)
    return f"slept {seconds}s"


@task
def flaky(chance: float = 0.3) -> str:
    """Fails now and then, so the admin has failed tasks to requeue."""
    if random.random() < chance:
        raise RuntimeError("flaky task failed (on purpose): requeue it from the admin")
    return "ok"


@task(queue_name="emails")
async def send_email(to: str) -> dict:
    """An async task on its own queue."""
    await asyncio.sleep(0.05)
    return {"to": to, "sent": True}


@task(priority=50, queue_name="reports")
def urgent_report(name: str) -> str:
    """High priority: jumps ahead of everything else in its queue."""
    return f"report {name} ready"


@task(takes_context=True)
def reminder(context, text: str) -> str:
    """Enqueued with run_after (deferred); knows its attempt through the context."""
    return f"{text} (attempt {context.attempt})"


if os.environ.get("DEMO_VANISHED_TASKS"):
    # Simulates a deploy that removed this task: enqueued ones fail with TaskNotFound and
    # keep their arguments; unset the variable and requeue them from the admin.
    pass
else:

    @task
    def vanishing(x: int) -> int:
        return x
