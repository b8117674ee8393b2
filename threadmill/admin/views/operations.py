"""Operations on queues and pools from the admin: pause / resume a queue (overview page,
`threadmill.pause_queue`) and the pool requests of the Workers page (quiet, resume, stop,
add or remove a worker process; `threadmill.manage_pools`).

Each is a POST (CSRF-protected by the admin; a GET is refused with 405) that acts at once,
says what it did with a Django message, records it in the admin's history, and goes back
to the page it came from.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_POST

from threadmill.admin.history import admin_actor, log_operation
from threadmill.backends.pool_records import POOL_ACTIONS
from threadmill.exceptions import ThreadmillError, UnknownPool

from .common import PERM_PAUSE_QUEUE, PERM_POOLS, PERM_VIEW, get_backend, require, safe_next, url

#: What a pool request does, as the message after it says.
POOL_WORDS = {
    "quiet": "to go quiet: it takes no new tasks and finishes what it holds",
    "resume": "to take tasks again",
    "stop": "to stop gracefully: its workers finish what they hold, then it exits",
    "add-worker": "to start one worker process more",
    "remove-worker": "to stop one worker process (gracefully)",
}


@require_POST
def queue_switch(
    request: HttpRequest, model_admin: ModelAdmin, alias: str, queue: str, action: str
) -> HttpResponse:
    """Pause or resume one queue of alias."""
    if action not in ("pause", "resume"):
        raise Http404(f"Unknown action {action!r}.")
    require(request, PERM_VIEW, PERM_PAUSE_QUEUE)
    backend = get_backend(alias)
    back = safe_next(request, request.POST.get("next"), url("changelist"))
    try:
        if queue not in backend.queue_names():
            raise Http404(f"No queue {queue!r} in backend {alias!r}.")
        if action == "pause":
            changed = backend.pause_queue(queue)
            text = (
                f"Paused queue “{queue}”: pools take none of its tasks until it is resumed "
                "(running tasks finish; enqueues are kept)."
                if changed
                else f"Queue “{queue}” was already paused."
            )
        else:
            changed, handed = backend.resume_queue(queue)
            text = (
                f"Resumed queue “{queue}”: {handed} task(s) went to waiting threads at once."
                if changed
                else f"Queue “{queue}” was not paused."
            )
    except ThreadmillError as exc:
        messages.error(request, f"The {action} did not complete: {exc}")
        return HttpResponseRedirect(back)
    if changed:
        verb = "Paused" if action == "pause" else "Resumed"
        log_operation(
            admin_actor(request),
            f"queue {queue} (backend {alias})",
            f"{verb} queue {queue!r} (backend {alias!r})",
        )
    messages.success(request, text)
    return HttpResponseRedirect(back)


@require_POST
def pool_action(
    request: HttpRequest, model_admin: ModelAdmin, alias: str, pool_id: str, action: str
) -> HttpResponse:
    """Send one control request to a live pool of alias."""
    if action not in POOL_ACTIONS:
        raise Http404(f"Unknown pool action {action!r}.")
    require(request, PERM_VIEW, PERM_POOLS)
    backend = get_backend(alias)
    back = url("workers", alias)
    try:
        backend.request_pool(pool_id, action)
    except UnknownPool as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(back)
    except ThreadmillError as exc:
        messages.error(request, f"The request did not reach Redis: {exc}")
        return HttpResponseRedirect(back)
    log_operation(
        admin_actor(request),
        f"pool {pool_id} (backend {alias})",
        f"Asked pool {pool_id!r} (backend {alias!r}) to {action}",
    )
    messages.success(
        request,
        f"Asked pool {pool_id} {POOL_WORDS[action]}. It acts within about a second; this page "
        "shows the result at its next refresh.",
    )
    return HttpResponseRedirect(back)
