"""The 500 handler: a database outage answers 503 with Retry-After, not a 500 that looks like a bug.

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
