"""Results made elsewhere: Omni-RewardBench preference files and scalar-score files, matched to pairs by id."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from annotations.models import Pair, PairKind, Project, ShownOrder

from ..models import Judge, JudgeKind, ModelVote, ScalarScore, VoteStatus
from ..result_files import PreferenceFile, Problem, ScoreFile, read_preferences, read_scores

MAX_SHOWN_PROBLEMS = 50
_VERDICT = {"response1": "A", "response2": "B", "tie": "C"}  # imported answers count as shown in stored order


def _refuse(problems: list[Problem]) -> ValidationError:
    lines = [str(p) for p in problems[:MAX_SHOWN_PROBLEMS]]
    if len(problems) > MAX_SHOWN_PROBLEMS:
        lines.append(f"… and {len(problems) - MAX_SHOWN_PROBLEMS} more problems. Nothing was imported.")
    else:
        lines.append("Nothing was imported.")
    return ValidationError(lines)


def _pair_ids(project: Project, external_ids: list[str], label: str) -> tuple[dict[str, int], list[Problem]]:
    pairs = Pair.objects.filter(project=project, external_id__in=external_ids, kind=PairKind.PAIR)  # not comparisons
    known = dict(pairs.values_list("external_id", "id"))
    problems = [
        Problem(file=label, line=None, field="id", message=f"{pid!r} is not a pair of this project.")
        for pid in external_ids
        if pid not in known
    ]
    return known, problems


def _judge(project: Project, name: str, kind: str, user: User | None) -> Judge:
    if not name or len(name) > 120:
        raise ValidationError(f"The model name {name[:40]!r} must be 1 to 120 characters; give one in the form.")
    judge, created = Judge.objects.get_or_create(
        project=project, name=name, defaults={"kind": kind, "created_by": user}
    )
    if not created and judge.kind != kind:
        kind_name = judge.get_kind_display().lower()
        raise ValidationError(f"A judge named {name!r} already exists as {kind_name}; rename the file or the judge.")
    return judge


def _matched(project: Project, parsed: PreferenceFile | ScoreFile, name: str) -> dict[str, int]:
    """Pair ids of the file's rows; refuses the file if it has problems or names pairs not in the project."""
    if parsed.problems:
        raise _refuse(parsed.problems)
    ids, problems = _pair_ids(project, [row.pair_id for row in parsed.rows], name)
    if problems:
        raise _refuse(problems)
    return ids


def judge_import_upload(
    *, project: Project, user: User | None, kind: str, upload: UploadedFile, model: str | None = None
) -> tuple[Judge, int]:
    """A results file as uploaded through the page or the API ("preferences" or "scores"): the readers
    take a path, so the upload is spooled to a temp file first."""
    service = judge_import_preferences if kind == "preferences" else judge_import_scores
    with tempfile.TemporaryDirectory(prefix="omni-results-") as tmp:
        path = Path(tmp) / "upload"
        with path.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        return service(project=project, user=user, path=path, name=upload.name or "upload", model=model)


def judge_import_preferences(
    *, project: Project, user: User | None, path: Path, name: str, model: str | None = None
) -> tuple[Judge, int]:
    """Import `{model}_preferences(_with_tie).json` answers. Re-importing a file replaces its answers."""
    parsed = read_preferences(path, name=name, model=model)
    ids = _matched(project, parsed, name)
    with transaction.atomic():
        judge = _judge(project, parsed.model, JudgeKind.IMPORTED, user)
        ModelVote.objects.filter(judge=judge, with_tie=parsed.with_tie).delete()
        ModelVote.objects.bulk_create(
            [
                ModelVote(
                    judge=judge,
                    pair_id=ids[row.pair_id],
                    with_tie=parsed.with_tie,
                    order=ShownOrder.RESPONSE1_LEFT,
                    verdict=_VERDICT.get(row.predicted or "", ""),
                    label=row.predicted,
                    status=VoteStatus.OK if row.predicted else VoteStatus.UNPARSEABLE,
                    raw_response=f"imported from {name}",
                )
                for row in parsed.rows
            ],
            batch_size=2000,
        )
    return judge, len(parsed.rows)


def judge_import_scores(
    *, project: Project, user: User | None, path: Path, name: str, model: str | None = None
) -> tuple[Judge, int]:
    """Import a scalar reward model's scores (a score per response). Re-importing replaces them."""
    parsed = read_scores(path, name=name, model=model)
    ids = _matched(project, parsed, name)
    with transaction.atomic():
        judge = _judge(project, parsed.model, JudgeKind.SCALAR, user)
        ScalarScore.objects.filter(judge=judge).delete()
        ScalarScore.objects.bulk_create(
            [ScalarScore(judge=judge, pair_id=ids[r.pair_id], score1=r.score1, score2=r.score2) for r in parsed.rows],
            batch_size=2000,
        )
    return judge, len(parsed.rows)
