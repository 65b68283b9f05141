"""Health endpoints for orchestrators (docker-compose, Kubernetes, load balancers), checked by django-health-check.

- ``/health/live``: the process answers. No dependency is touched, so a database outage never gets a
  healthy web process restarted in a loop.
- ``/health/ready``: the database, the Celery broker (Redis, or the embedded default's job folder) and
  the default storage (S3 or local disk) answer; otherwise 503 with the failing check named, so a load balancer
  stops sending traffic without anyone reading logs.

Neither needs a sign-in, and the body names checks and outcomes only: no host, credential or exception
text (the package logs unexpected errors and answers "unknown error").
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from health_check.base import HealthCheck
from health_check.checks import Database, Storage
from health_check.contrib.redis import Redis
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView
from redis.asyncio import Redis as RedisClient


def _broker_client() -> RedisClient:
    # Read at every probe, not at import: the URL is whatever settings say now, and short timeouts keep a
    # probe against a dead broker within the check's own 5 s budget.
    return RedisClient.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2)


@dataclasses.dataclass
class Broker(Redis):
    """Pings the Celery broker. Named "Broker" in reports: the package's Redis check shows host and port."""

    def __repr__(self) -> str:
        return "Broker"

    @property
    def labels(self) -> dict[str, str]:
        return {"check": "Broker"}


@dataclasses.dataclass
class EmbeddedBroker(HealthCheck):
    """The embedded default's broker (omni_annotate/broker.py): its job folder takes new messages."""

    def __repr__(self) -> str:
        return "Broker"

    def run(self) -> None:
        queue = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_out"])
        try:
            queue.mkdir(parents=True, exist_ok=True)  # what sending the first job would do
        except OSError as exc:
            raise ServiceUnavailable("the job folder cannot be created") from exc
        if not os.access(queue, os.W_OK | os.X_OK):
            raise ServiceUnavailable("the job folder cannot be written")


class ReadinessView(HealthCheckView):
    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = await super().get(request, *args, **kwargs)
        # The package answers 500 on a failed check; "not ready, try later" is a 503 for load balancers.
        if response.status_code == 500:
            response.status_code = 503
        return response

    def get_checks(self) -> Generator[HealthCheck, None, None]:
        yield Database()
        yield EmbeddedBroker() if settings.EMBEDDED_BROKER else Broker(client_factory=_broker_client)
        yield Storage()

    def render_to_response(self, context: dict[str, Any], **response_kwargs: Any) -> HttpResponse:
        # JSON rather than the package's HTML page (inline styles a Content-Security-Policy refuses);
        # ?format=text or Accept: text/plain still give the plain-text report.
        return self.render_to_response_json(response_kwargs.get("status", 200))


@never_cache
def live(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "alive"})


ready = ReadinessView.as_view()
