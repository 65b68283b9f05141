"""Writing criteria, submitting them, and the curator's review that turns one into a labelling pair."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePath

import orjson
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotations.models import PAIR_CONTENT_FIELDS, TASK_SPECS, Pair, PairKind, Project, TaskSpec, task_spec
from annotations.services.pair_import import pair_import
from annotations.services.queue import canonical_label, shown_order_for

from .models import MAX_CRITERION_CHARS, Criterion, CriterionStatus, Expectation

# What the writer picks, as shown: A (left), B (right) or either.
EXPECT_CHOICES = ("A", "B", "either")
MAX_DRAFTS = 20  # per writer and comparison


def expectation_of(choice: str, shown_order: str) -> str:
    """The canonical expectation for the side the writer picked as shown."""
    if choice == "either":
        return Expectation.EITHER
    if choice not in ("A", "B"):
        raise ValidationError({"expected": f"Unknown choice {choice!r}: expected A, B or either."})
    return canonical_label(choice, shown_order)


def shown_expectation(expected: str, shown_order: str) -> str:
    """The side (A, B or either) that stores `expected` for a writer who saw `shown_order`."""
    if expected in ("", Expectation.EITHER):
        return expected
    return next(c for c in ("A", "B") if canonical_label(c, shown_order) == expected)


def _check_text(text: str, *, where: str, field: str = "text") -> str:
    cleaned = text.replace("\x00", "").strip()
    if len(cleaned) > MAX_CRITERION_CHARS:
        raise ValidationError({field: f"{where}: at most {MAX_CRITERION_CHARS:,} characters ({len(cleaned):,})."})
    return cleaned


def _comparison(project: Project, comparison_id: int) -> Pair:
    comparison = Pair.objects.comparisons().filter(project=project, pk=comparison_id).first()
    if comparison is None:
        raise ValidationError({"comparison": f"No comparison {comparison_id} in this project."})
    return comparison


def criterion_draft_save(
    *, project: Project, writer: User, comparison_id: int, text: str, expected: str, criterion_id: int | None = None
) -> Criterion:
    """Create or update one of the writer's drafts (the page saves as they type, so reloads lose nothing)."""
    comparison = _comparison(project, comparison_id)
    order = shown_order_for(writer.pk, comparison.pk)
    values = {
        "text": _check_text(text, where="The criterion"),
        "expected": expectation_of(expected, order) if expected else "",
    }
    if criterion_id is None:
        drafts = Criterion.objects.filter(comparison=comparison, writer=writer, status=CriterionStatus.DRAFT)
        if drafts.count() >= MAX_DRAFTS:
            raise ValidationError(
                {"criterion": f"You have {MAX_DRAFTS} drafts for this comparison; submit or delete some first."}
            )
        return Criterion.objects.create(comparison=comparison, writer=writer, shown_order=order, **values)
    updated = Criterion.objects.filter(
        pk=criterion_id, comparison=comparison, writer=writer, status=CriterionStatus.DRAFT
    ).update(**values, updated_at=timezone.now())
    if not updated:
        raise ValidationError({"criterion": "This draft is no longer yours to edit (submitted or deleted)."})
    return Criterion.objects.get(pk=criterion_id)


def criterion_draft_delete(*, project: Project, writer: User, criterion_id: int) -> None:
    deleted, _ = Criterion.objects.filter(
        pk=criterion_id, comparison__project=project, writer=writer, status=CriterionStatus.DRAFT
    ).delete()
    if not deleted:
        raise ValidationError({"criterion": "No such draft of yours."})


def criteria_submit(*, project: Project, writer: User, comparison_id: int) -> list[Criterion]:
    """Submit the writer's drafts for this comparison; each must have text and an expected response."""
    comparison = _comparison(project, comparison_id)
    with transaction.atomic():
        drafts = list(
            Criterion.objects.select_for_update()
            .filter(comparison=comparison, writer=writer, status=CriterionStatus.DRAFT)
            .order_by("id")
        )
        if not drafts:
            raise ValidationError({"criteria": "Write at least one criterion before submitting."})
        errors = []
        for n, draft in enumerate(drafts, start=1):
            if len(draft.text) < 10:
                errors.append(f"Criterion {n}: write at least a short sentence (10 characters or more).")
            if not draft.expected:
                errors.append(f"Criterion {n}: say which response it should favour (A, B or either).")
        if errors:
            raise ValidationError({"criteria": errors})
        now = timezone.now()
        Criterion.objects.filter(pk__in=[d.pk for d in drafts]).update(
            status=CriterionStatus.SUBMITTED, submitted_at=now
        )
    return list(Criterion.objects.filter(pk__in=[d.pk for d in drafts]).order_by("id"))


@dataclass(frozen=True)
class Review:
    decision: str  # "accept" or "reject"
    note: str = ""
    text: str | None = None  # an edit before accepting
    expected: str | None = None  # canonical: response1, response2 or either


def criterion_review(*, project: Project, reviewer: User, criterion_id: int, review: Review) -> Criterion:
    """Accept (making the labelling pair) or reject a submitted criterion; a curator may edit it first."""
    if review.decision not in ("accept", "reject"):
        raise ValidationError({"decision": f"Unknown decision {review.decision!r}: accept or reject."})
    note = _check_text(review.note, where="The note", field="note")
    with transaction.atomic():
        criterion = (
            Criterion.objects.select_for_update(of=("self",))
            .select_related("comparison")
            .filter(pk=criterion_id, comparison__project=project)
            .first()
        )
        if criterion is None:
            raise ValidationError({"criterion": f"No criterion {criterion_id} in this project."})
        if criterion.status != CriterionStatus.SUBMITTED:
            raise ValidationError(
                {"criterion": f"This criterion is {criterion.status}; only submitted ones are reviewed."}
            )
        accepted_text, accepted_expected = criterion.text, criterion.expected
        if review.text is not None:
            accepted_text = _check_text(review.text, where="The criterion")
            if len(accepted_text) < 10:
                raise ValidationError(
                    {"text": "The criterion needs at least a short sentence (10 characters or more)."}
                )
        if review.expected is not None:
            if review.expected not in Expectation.values:
                raise ValidationError({"expected": "Expected response must be response1, response2 or either."})
            accepted_expected = review.expected
        # The writer's own text and expectation stay as written: the signals measure the writer.
        criterion.review_note = note
        criterion.reviewed_by = reviewer
        criterion.reviewed_at = timezone.now()
        if review.decision == "reject":
            criterion.status = CriterionStatus.REJECTED
        else:
            criterion.status = CriterionStatus.ACCEPTED
            criterion.accepted_text, criterion.accepted_expected = accepted_text, accepted_expected
            criterion.pair = _pair_from(criterion, reviewer)
        criterion.save()
    return criterion


def _pair_from(criterion: Criterion, reviewer: User) -> Pair:
    """The labelling pair: the comparison's prompt and responses under the accepted criterion."""
    comparison = criterion.comparison
    suffix = f"~c{criterion.pk}"
    external_id = comparison.external_id[: 200 - len(suffix)] + suffix  # ids are at most 200 characters
    try:
        with transaction.atomic():
            return Pair.objects.create(
                project_id=comparison.project_id,
                external_id=external_id,
                criterion=criterion.accepted_text,
                kind=PairKind.PAIR,
                comparison=comparison,
                written_by_id=criterion.writer_id,
                accepted_by=reviewer,
                **{name: getattr(comparison, name) for name in PAIR_CONTENT_FIELDS},
            )
    except IntegrityError:
        raise ValidationError({"criterion": f"A pair {external_id} exists already in this project."}) from None


@dataclass(frozen=True)
class NewComparison:
    task: str
    prompt: str
    external_id: str = ""
    response1_text: str = ""
    response2_text: str = ""
    model1: str = ""
    model2: str = ""
    source: str = ""


def comparison_create(
    *,
    project: Project,
    comparison: NewComparison,
    input_file: UploadedFile | None = None,
    response1_file: UploadedFile | None = None,
    response2_file: UploadedFile | None = None,
) -> Pair:
    """One comparison from a form: written as a one-row JSONL with its media beside it and put through
    the importer, so it is checked exactly like an imported row (media probed, problems by field)."""
    spec = task_spec(comparison.task)
    if spec is None:
        raise ValidationError({"task": f"Unknown task {comparison.task!r}: one of {', '.join(TASK_SPECS)}."})
    external_id = comparison.external_id.strip() or f"new-{uuid.uuid4().hex[:10]}"
    if Pair.objects.filter(project=project, external_id=external_id).exists():
        raise ValidationError({"external_id": f"The project has a pair or comparison {external_id!r} already."})
    row: dict[str, object] = {
        "id": external_id, "task": spec.task.value, "prompt": comparison.prompt, "model1": comparison.model1,
        "model2": comparison.model2, "source": comparison.source,
    }  # fmt: skip
    uploads = {"response1": response1_file, "response2": response2_file}
    if spec.input_field:
        uploads[spec.input_field] = input_file
    elif input_file is not None:
        raise ValidationError({"input_file": f"{spec.task} takes no input media."})
    with tempfile.TemporaryDirectory(prefix="omni-comparison-") as tmp:
        media = Path(tmp) / "media"
        media.mkdir()
        for field, upload in uploads.items():
            if upload is None:
                continue
            if field.startswith("response") and not spec.media_responses:
                raise ValidationError({f"{field}_file": f"{spec.task} responses are text; write them instead."})
            suffix = PurePath(upload.name or "").suffix.lower()[:10]
            with open(media / f"{field}{suffix}", "wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
            row[field] = f"{field}{suffix}"
        if not spec.media_responses:
            row["response1"], row["response2"] = comparison.response1_text, comparison.response2_text
        data = Path(tmp) / "comparison.jsonl"
        data.write_bytes(orjson.dumps(row) + b"\n")
        result = pair_import(project=project, data_path=data, media_path=media, data_label="the form")
    if not result.ok:
        errors: dict[str, list[str]] = {}
        for problem in result.problems:
            errors.setdefault(_form_field(problem.field, spec), []).append(problem.message)
        raise ValidationError(errors)
    return Pair.objects.get(project=project, external_id=external_id)


def _form_field(name: str | None, spec: TaskSpec) -> str:
    """The form field an importer problem is about."""
    if name in ("image", "video", "audio"):
        return "input_file"
    if name in ("response1", "response2"):
        return f"{name}_file" if spec.media_responses else f"{name}_text"
    if name == "id":
        return "external_id"
    return name or "__all__"
