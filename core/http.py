"""The request every app's page views receive."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class AuthedHtmxRequest(HttpRequest):
    """What our views receive: login_required ran, and django-htmx added `htmx`."""

    htmx: HtmxDetails
    user: User  # type: ignore[assignment]
