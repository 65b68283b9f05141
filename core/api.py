"""What every app's REST API shares: the signed-in user of a request and the 409 refusal."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.models import User
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.request import Request


class Conflict(APIException):
    """Refused in the current state (a queue turn moved on, a last curator, a build in progress)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state; reload and try again."
    default_code = "conflict"


def request_user(request: Request) -> User:
    """The request's user; the views' IsAuthenticated permission ran before any view code."""
    return cast(User, request.user)
