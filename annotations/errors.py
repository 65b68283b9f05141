"""Errors: the 500 handler, and expected refusals logged as one line.

The 500 handler: a database outage answers 503 with Retry-After, not a 500 that looks like a bug.

While PostgreSQL restarts, every query raises OperationalError (or InterfaceError on a connection
that broke mid-request), in a view or in a middleware (sessions). Clients are told to try again; a
vote repeated with the same submission id is stored once, so retrying is always safe. Django closes
the broken connection at the end of the request and CONN_HEALTH_CHECKS checks the next one, so the
app recovers on its own, with no restart.
"""

from __future__ import annotations

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import Resolver404
from django.views.decorators.csrf import requires_csrf_token

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
UNAVAILABLE = (
    "The database is not answering (it may be restarting). Nothing is lost: try again in a few seconds; "
    "a vote sent again with the same submission id is stored once."
)
BROKEN = "Something went wrong on our side; it has been logged. Try again, and tell the curators if it persists."


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    """handler500. Renders without the database: no session, no user, no base template."""
    outage = isinstance(sys.exc_info()[1], OperationalError | InterfaceError)
    status, message = (503, UNAVAILABLE) if outage else (500, BROKEN)
    response: HttpResponse
    if _wants_json(request):
        response = JsonResponse({"detail": message}, status=status)
    else:
        title = "Try again in a moment" if outage else "Server error"
        page = render_to_string("error.html", {"title": title, "message": message, "reload": outage})
        response = HttpResponse(page, status=status)
    if outage:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _escaped(text: str) -> str:
    """One line whatever the client sent: a path may carry a newline (%0A) to forge log lines."""
    return text.encode("unicode_escape").decode("ascii")


def _user_id(request: object) -> str:
    try:
        user = getattr(request, "user", None)  # DRF sets the token's user on the Django request too
        return str(user.pk) if user is not None and user.is_authenticated else "-"
    except Exception:  # a log line must never fail the request it describes
        return "?"


class RefusalFilter(logging.Filter):
    """Expected refusals (4xx) as one line: status, method, path, user id and the reason; no traceback.

    Django logs a PermissionDenied, Http404 or SuspiciousOperation with the exception attached, so
    every 403 and 404 wrote a traceback that looked like a bug; a refusal is the app doing its job.
    Records of 5xx responses pass unchanged and keep theirs. Attached in LOGGING to django.request
    and django.security.csrf (logger filters, so every handler sees the short record) and to the
    console handler, for the other django.security.* loggers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        request = getattr(record, "request", None)
        if not isinstance(status, int) or not 400 <= status < 500 or request is None:
            return True
        if getattr(record, "refusal", False):  # already shortened by the logger's filter
            return True
        record.refusal = True
        path = _escaped(getattr(request, "path", ""))
        reason = record.getMessage().removesuffix(f": {path}")  # Django's messages end with the path
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and not isinstance(exc, Resolver404) and str(exc):
            reason = f"{reason}: {_escaped(str(exc))[:200]}"
        record.msg = "%s %s %s user=%s: %s"
        record.args = (status, getattr(request, "method", "?"), path, _user_id(request), reason)
        record.exc_info = record.exc_text = record.stack_info = None
        return True
