"""Model judges, their runs and their votes. Curators and researchers only: never shown to annotators."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from annotations.models import Label, Pair, Project, ShownOrder
from core.models import LeasedJob


class JudgeKind(models.TextChoices):
    ENDPOINT = "endpoint", "OpenAI-compatible chat endpoint"
    RANDOM = "random", "Baseline: random"
    FIRST = "first", "Baseline: always the first response"
    LONGER = "longer", "Baseline: the longer response"
    EMBEDDING = "embedding", "Baseline: WordLlama similarity to the criterion (offline model)"
    IMPORTED = "imported", "Imported preferences"
    SCALAR = "scalar", "Imported scalar scores"


RUNNABLE = (JudgeKind.ENDPOINT, JudgeKind.RANDOM, JudgeKind.FIRST, JudgeKind.LONGER, JudgeKind.EMBEDDING)
KEY_ENV_PREFIX = "OMNI_JUDGE_"


def api_key_env_allowed(name: str) -> bool:
    """A judge may read only variables meant for judges: the worker's other secrets (the database URL,
    the secret key, storage credentials) must never travel to an endpoint a curator typed in."""
    return name.startswith(KEY_ENV_PREFIX) or name in settings.JUDGE_API_KEY_ENVS


def allowed_key_envs_text() -> str:
    names = ", ".join(settings.JUDGE_API_KEY_ENVS)
    return f"names starting with {KEY_ENV_PREFIX}" + (f", or {names}" if names else "")


def validate_key_env(name: str) -> None:
    if name and not api_key_env_allowed(name):
        raise ValidationError(f"{name} is not an allowed key variable: use {allowed_key_envs_text()}.")


class Judge(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judges")
    name = models.CharField(max_length=120, help_text="How the leaderboard names it, e.g. gpt-4o-2024-08-06.")
    kind = models.CharField(max_length=16, choices=JudgeKind.choices)
    base_url = models.URLField(
        blank=True, help_text="Endpoint judges: the API base, e.g. http://vllm.internal:8000/v1."
    )
    model = models.CharField(max_length=200, blank=True, help_text="Endpoint judges: the model name to request.")
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        validators=[
            RegexValidator(r"^[A-Z_][A-Z0-9_]*$", "An environment variable name, e.g. OMNI_JUDGE_OPENAI_KEY."),
            validate_key_env,
        ],
        help_text="Environment variable of the worker that holds the API key (OMNI_JUDGE_…); never the key itself.",
    )
    concurrency = models.PositiveSmallIntegerField(default=4, help_text="Requests in flight at once.")
    timeout_s = models.FloatField(default=120, help_text="Seconds before a request is abandoned.")
    retries = models.PositiveSmallIntegerField(default=2, help_text="Retries of a failed request (timeouts, 5xx).")
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True, help_text="Rate limit; empty: none.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="judge_unique_name"),
            models.CheckConstraint(condition=Q(kind__in=JudgeKind.values), name="judge_kind_valid"),
            models.CheckConstraint(condition=Q(concurrency__gte=1, concurrency__lte=64), name="judge_concurrency"),
            models.CheckConstraint(condition=Q(timeout_s__gt=0, timeout_s__lte=3600), name="judge_timeout_range"),
            models.CheckConstraint(
                condition=~Q(kind=JudgeKind.ENDPOINT) | (~Q(base_url="") & ~Q(model="")),
                name="judge_endpoint_configured",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def runnable(self) -> bool:
        return self.kind in RUNNABLE


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class JudgeRun(LeasedJob):
    """A judge over a selection of pairs: a leased job (core.jobs) that skips what is already judged, so it resumes."""

    job_kind = "judge"
    job_task = "judges.celery_tasks.judge_run_task"
    job_queued = RunStatus.QUEUED
    job_running = RunStatus.RUNNING
    job_failed = RunStatus.FAILED

    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="runs")
    tasks = models.JSONField(help_text="Task codes of the selection.")
    with_tie = models.BooleanField(help_text="Ask the with-tie question ([[C]] allowed).")
    both_orders = models.BooleanField(default=False, help_text="Also ask with the responses swapped.")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    total = models.PositiveIntegerField(default=0, help_text="Questions in the selection (pairs x orders).")
    done = models.PositiveIntegerField(default=0, help_text="Questions answered, by this run or before it.")
    failed = models.PositiveIntegerField(default=0, help_text="Questions whose answer failed or did not parse.")
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=RunStatus.values), name="judgerun_status_valid"),
            # One active run per judge: two would ask the same questions twice.
            models.UniqueConstraint(
                fields=["judge"],
                condition=Q(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]),
                name="judgerun_one_active",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.judge} run {self.pk} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (RunStatus.DONE, RunStatus.CANCELLED, RunStatus.FAILED)


class VoteStatus(models.TextChoices):
    OK = "ok", "Answered"
    UNPARSEABLE = "unparseable", "No verdict found in the answer"  # counts as wrong, as in the paper
    FAILED = "failed", "The call failed"  # counts as wrong; asked again when the run resumes
    SKIPPED = "skipped", "Media could not be sent"  # not the judge's fault: left out of its scores


class ModelVote(models.Model):
    """A judge's answer on one pair, for one question (with or without tie) and one presentation order."""

    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="votes")
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="model_votes")
    run = models.ForeignKey(JudgeRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="votes")
    with_tie = models.BooleanField()
    order = models.CharField(max_length=2, choices=ShownOrder.choices, help_text="Which response was shown as A.")
    verdict = models.CharField(max_length=1, blank=True, help_text="A, B or C as the judge said it; empty: none.")
    label = models.CharField(  # noqa: DJ001 -- NULL: no usable answer
        max_length=16, choices=Label.choices, null=True, blank=True, help_text="The verdict in canonical terms."
    )
    status = models.CharField(max_length=12, choices=VoteStatus.choices)
    raw_response = models.TextField(blank=True)
    error = models.TextField(blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["judge", "pair", "with_tie", "order"], name="modelvote_one_per_question"),
            models.CheckConstraint(condition=Q(status__in=VoteStatus.values), name="modelvote_status_valid"),
            models.CheckConstraint(
                condition=Q(label__isnull=True) | Q(label__in=Label.values), name="modelvote_label_valid"
            ),
            models.CheckConstraint(condition=Q(order__in=ShownOrder.values), name="modelvote_order_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.judge} on {self.pair}: {self.label or self.status}"


class ScalarScore(models.Model):
    """A scalar reward model's score for each response of a pair (imported)."""

    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="scores")
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="+")
    score1 = models.FloatField()
    score2 = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["judge", "pair"], name="scalarscore_one_per_pair")]

    def __str__(self) -> str:
        return f"{self.judge} on {self.pair}: {self.score1:.3f} / {self.score2:.3f}"


class AnswerSheet(models.Model):
    """A judge's answers to one question (with or without tie) in one presentation order, as one compact value
    the leaderboard and hard pairs read instead of the model votes (judges/sheets.py).

    `version` is the database's count of writes to these votes: triggers on judges_modelvote bump it in the
    transaction of every insert, update or delete, whoever writes (migration 0003). `codes` is usable only
    when `built_version` equals it."""

    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="+")
    with_tie = models.BooleanField()
    order = models.CharField(max_length=2, choices=ShownOrder.choices)
    version = models.PositiveBigIntegerField(
        db_default=1, help_text="Bumped by the database with every write of these model votes."
    )
    built_version = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="The version `codes` was built at; NULL: never built."
    )
    first_pair_id = models.BigIntegerField(db_default=0, help_text="The pair id `codes` starts at.")
    codes = models.BinaryField(
        db_default=b"", help_text="zlib of one signed byte per pair id from first_pair_id on (judges/sheets.py)."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["judge", "with_tie", "order"], name="answersheet_one_per_question"),
            models.CheckConstraint(condition=Q(order__in=ShownOrder.values), name="answersheet_order_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.judge_id} {'w/' if self.with_tie else 'w/o'} tie, order {self.order}: v{self.version}"
