"""What stands between a URL and a Threadmill view: the admin's login and staff check, the
page a user without a Threadmill permission gets, the answer to a live refresh whose session
has ended, and the short-timeout reads every view makes.

* A live refresh (htmx) from a session that expired or logged out gets `HX-Refresh: true`
  and no body: the browser reloads the page, and the admin sends it to its login page (with
  `next` back to the page), instead of htmx pasting the login form into the live region.
* A staff user without a permission a view requires gets a 403 page in the admin's style
  (`threadmill/forbidden.html`) naming the missing permission(s) and how to get them.
* Every view runs inside `display_reads()`: its Redis reads wait at most the alias's
  `admin_timeout` and are not retried, so a dead or frozen Redis shows the "unavailable"
  banner within about a second.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.admin import ModelAdmin
from django.contrib.auth.models import Permission
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from threadmill.backends.display import display_reads

from .common import MissingPermission, is_htmx, page_context


def session_ended() -> HttpResponse:
    """The answer to a live refresh without a usable session: reload the whole page."""
    response = HttpResponse(status=200)
    response["HX-Refresh"] = "true"
    add_never_cache_headers(response)
    return response


def permission_names(perms: list[str]) -> list[tuple[str, str]]:
    """(full name, human name) of each permission: `("threadmill.view_task", "Can view
    task")`; the human name is empty when the permission is not in the database."""
    names = []
    for perm in perms:
        app_label, _, codename = perm.partition(".")
        found = Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        ).first()
        names.append((perm, found.name if found else ""))
    return names


def forbidden(request: HttpRequest, model_admin: ModelAdmin, missing: list[str]) -> HttpResponse:
    """The admin-styled 403 page saying which permission(s) the user lacks."""
    context = page_context(
        request,
        model_admin,
        "Permission needed",
        missing=permission_names(missing),
        refresh_seconds=0,
    )
    return TemplateResponse(request, "threadmill/forbidden.html", context, status=403)


def admin_view(model_admin: ModelAdmin, func: Callable[..., Any]) -> Callable[..., Any]:
    """func as a URL's view: the admin's checks (login, staff, CSRF, no caching), the
    forbidden page, the expired-session answer to htmx, display reads."""

    def guarded(request: HttpRequest, **kwargs: Any) -> Any:
        try:
            with display_reads():
                return func(request, model_admin=model_admin, **kwargs)
        except MissingPermission as exc:
            return forbidden(request, model_admin, exc.missing)

    checked = model_admin.admin_site.admin_view(guarded)

    def view(request: HttpRequest, **kwargs: Any) -> Any:
        if is_htmx(request) and not model_admin.admin_site.has_permission(request):
            return session_ended()
        return checked(request, **kwargs)

    return view
