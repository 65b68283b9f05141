"""How every background job kind reports its run in the API: the same fields, and the action that
sends a stalled job again (resume / retry / build again)."""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import LeasedJob


class JobActionSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="resume, retry or build again.")
    method = serializers.CharField(help_text="Always POST.")
    url = serializers.CharField(help_text="Where to send it.")
    body = serializers.DictField(required=False, help_text="JSON body to send, when the action needs one.")


class LeasedJobFields(serializers.Serializer):
    """Mixed into each kind's serializer; the kind names its action and where it is."""

    state = serializers.CharField(
        source="job_state",
        read_only=True,
        help_text="The status, or `stalled`: it was running and its worker went away (the lease ran out). "
        "The sweep sends it to another worker; `action` does so now.",
    )
    stalled = serializers.BooleanField(read_only=True, help_text="Running, but its worker went away.")
    attempts = serializers.IntegerField(read_only=True, help_text="Runs that took the job (a dead worker's too).")
    heartbeat_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When the running job last renewed its lease."
    )
    heartbeat_age_s = serializers.FloatField(
        source="heartbeat_age", read_only=True, allow_null=True, help_text="Seconds since then; null unless running."
    )
    action = serializers.SerializerMethodField(help_text="What sends a stalled job again; null otherwise.")

    job_fields: ClassVar[tuple[str, ...]] = (
        "state",
        "stalled",
        "attempts",
        "heartbeat_at",
        "heartbeat_age_s",
        "action",
    )
    job_action_name: ClassVar[str] = ""

    def job_action(self, job: Any) -> tuple[str, dict[str, Any] | None]:
        """The action's path, and the JSON body it needs (None: no body)."""
        raise NotImplementedError

    @extend_schema_field(JobActionSerializer(allow_null=True))
    def get_action(self, job: LeasedJob) -> dict[str, Any] | None:
        if not job.stalled:
            return None
        path, body = self.job_action(job)
        request = self.context.get("request")
        url = request.build_absolute_uri(path) if request is not None else path
        return {"name": self.job_action_name, "method": "POST", "url": url, **({"body": body} if body else {})}
