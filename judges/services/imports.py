"""Results made elsewhere: Omni-RewardBench preference files and scalar-score files, matched to pairs by id.

An import merges by pair: a file replaces only the answers for the pairs it names, so the paper's
per-task files (``<task>/<model>_preferences.json``) imported one after another add up instead of
each wiping the last. Ids that are not pairs of the project are reported, not fatal, unless none of
a file's ids match (then the file is for another benchmark and is refused).

A folder or zip laid out as the paper's evaluation writes it (a folder per task, several models side
by side) imports in one go: every results file is read and checked first, and all of them are
written in one transaction, so a problem anywhere stores nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from annotations.importing.problems import ImportRejected
from annotations.importing.sources import safe_extract
from annotations.models import Pair, Project, ShownOrder
from annotations.services.pair_import import archive_limits

from ..models import Judge, JudgeKind, ModelVote, ScalarScore, VoteStatus
from ..result_files import PREFERENCE_NAME, PreferenceFile, Problem, ScoreFile, read_preferences, read_scores
from ..sheets import answer_sheets_refresh

MAX_SHOWN_PROBLEMS = 50
MAX_SHOWN_UNMATCHED = 50
MAX_TREE_FILES = 500
# Answers as shown: the original order shows response1 as A; an inversed run shows response2 as A.
_VERDICT = {
    ShownOrder.RESPONSE1_LEFT: {"response1": "A", "response2": "B", "tie": "C"},
    ShownOrder.RESPONSE2_LEFT: {"response1": "B", "response2": "A", "tie": "C"},
}
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class ImportedFile:
    """What one results file did."""

    file: str
    judge: Judge
    kind: str  # "preferences" or "scores"
    with_tie: bool | None  # None for scores
    inversed: bool
    added: int
    replaced: int
    unmatched: list[str]  # the first MAX_SHOWN_UNMATCHED ids that are not pairs of the project
    unmatched_count: int

    @property
    def rows(self) -> int:
        return self.added + self.replaced

    @property
    def variant(self) -> str:
        if self.kind == "scores":
            return "scalar scores"
        name = "w/ Tie" if self.with_tie else "w/o Tie"
        return f"{name}, responses swapped" if self.inversed else name

    def line(self) -> str:
        text = f"{self.file}: {self.judge.name} ({self.variant}): {self.added:,} added, {self.replaced:,} replaced"
        if self.unmatched_count:
            shown = ", ".join(self.unmatched[:5]) + (" …" if self.unmatched_count > 5 else "")
            text += f", {self.unmatched_count:,} unmatched ({shown})"
        return text + "."


@dataclass(frozen=True)
class ImportSummary:
    files: list[ImportedFile]
    skipped: list[str] = field(default_factory=list)  # files in a folder that are not results files
    unmatched_files: list[str] = field(default_factory=list)  # results files for tasks the project does not hold

    @property
    def judges(self) -> list[Judge]:
        seen: dict[int, Judge] = {}
        for imported in self.files:
            seen.setdefault(imported.judge.pk, imported.judge)
        return list(seen.values())

    @property
    def first_judge(self) -> Judge:
        return self.files[0].judge

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def lines(self) -> list[str]:
        lines = [f.line() for f in self.files]
        if self.unmatched_files:
            shown = ", ".join(self.unmatched_files[:10]) + (" …" if len(self.unmatched_files) > 10 else "")
            lines.append(f"No pair of this project in {shown}: left alone (another task or benchmark?).")
        if self.skipped:
            shown = ", ".join(self.skipped[:10]) + (" …" if len(self.skipped) > 10 else "")
            lines.append(f"Not results files, left alone: {shown}.")
        return lines


@dataclass(frozen=True)
class _Parsed:
    label: str
    data: PreferenceFile | ScoreFile
    ids: dict[str, int]  # external id -> Pair id, for the rows that match
    unmatched: list[str]


def _refuse(problems: list[Problem]) -> ValidationError:
    lines = [str(p) for p in problems[:MAX_SHOWN_PROBLEMS]]
    if len(problems) > MAX_SHOWN_PROBLEMS:
        lines.append(f"… and {len(problems) - MAX_SHOWN_PROBLEMS} more problems. Nothing was imported.")
    else:
        lines.append("Nothing was imported.")
    return ValidationError(lines)


def _match(project: Project, label: str, data: PreferenceFile | ScoreFile) -> tuple[_Parsed | None, list[Problem]]:
    """The file's rows matched to the project's pairs (comparisons are not pairs here). A file none of whose
    ids match is a problem: it is for another benchmark, or another task than the project holds."""
    if data.problems:
        return None, data.problems
    external = [row.pair_id for row in data.rows]
    known = dict(
        Pair.objects.labelling().filter(project=project, external_id__in=external).values_list("external_id", "id")
    )
    unmatched = [pid for pid in external if pid not in known]
    if external and not known:
        first = ", ".join(repr(pid) for pid in external[:3])
        message = f"none of its {len(external):,} ids ({first} …) is a pair of this project; is it another benchmark?"
        return None, [Problem(file=label, line=None, field="id", message=message)]
    return _Parsed(label=label, data=data, ids=known, unmatched=unmatched), []


def _judge(project: Project, name: str, kind: str, user: User | None) -> Judge:
    if not name or len(name) > 120:
        raise ValidationError(f"The model name {name[:40]!r} must be 1 to 120 characters; give one in the form.")
    judge, created = Judge.objects.get_or_create(
        project=project, name=name, defaults={"kind": kind, "created_by": user}
    )
    # Two imports of one judge at once would both delete nothing and then collide on insert: take turns.
    judge = Judge.objects.select_for_update().get(pk=judge.pk)
    if not created and judge.kind != kind:
        kind_name = judge.get_kind_display().lower()
        raise ValidationError(f"A judge named {name!r} already exists as {kind_name}; rename the file or the judge.")
    return judge


def _write(project: Project, user: User | None, parsed: _Parsed) -> ImportedFile:
    data = parsed.data
    if isinstance(data, PreferenceFile):
        return _write_preferences(project, user, parsed, data)
    return _write_scores(project, user, parsed, data)


def _imported(
    parsed: _Parsed, judge: Judge, kind: str, with_tie: bool | None, inversed: bool, rows: int, replaced: int
) -> ImportedFile:
    return ImportedFile(
        file=parsed.label,
        judge=judge,
        kind=kind,
        with_tie=with_tie,
        inversed=inversed,
        added=rows - replaced,
        replaced=replaced,
        unmatched=parsed.unmatched[:MAX_SHOWN_UNMATCHED],
        unmatched_count=len(parsed.unmatched),
    )


def _write_preferences(project: Project, user: User | None, parsed: _Parsed, data: PreferenceFile) -> ImportedFile:
    rows = [row for row in data.rows if row.pair_id in parsed.ids]
    pair_ids = [parsed.ids[row.pair_id] for row in rows]
    judge = _judge(project, data.model, JudgeKind.IMPORTED, user)
    order = ShownOrder.RESPONSE2_LEFT if data.inversed else ShownOrder.RESPONSE1_LEFT
    # Only this file's pairs are replaced: the other tasks' answers of the same judge stay.
    replaced, _ = ModelVote.objects.filter(
        judge=judge, with_tie=data.with_tie, order=order, pair_id__in=pair_ids
    ).delete()
    ModelVote.objects.bulk_create(
        [
            ModelVote(
                judge=judge,
                pair_id=pair_id,
                with_tie=data.with_tie,
                order=order,
                verdict=_VERDICT[order].get(row.predicted or "", ""),
                label=row.predicted,
                status=VoteStatus.OK if row.predicted else VoteStatus.UNPARSEABLE,
                raw_response=f"imported from {parsed.label}",
            )
            for row, pair_id in zip(rows, pair_ids, strict=True)
        ],
        batch_size=2000,
    )
    return _imported(parsed, judge, "preferences", data.with_tie, data.inversed, len(rows), replaced)


def _write_scores(project: Project, user: User | None, parsed: _Parsed, data: ScoreFile) -> ImportedFile:
    rows = [row for row in data.rows if row.pair_id in parsed.ids]
    pair_ids = [parsed.ids[row.pair_id] for row in rows]
    judge = _judge(project, data.model, JudgeKind.SCALAR, user)
    replaced, _ = ScalarScore.objects.filter(judge=judge, pair_id__in=pair_ids).delete()
    ScalarScore.objects.bulk_create(
        [
            ScalarScore(judge=judge, pair_id=pair_id, score1=row.score1, score2=row.score2)
            for row, pair_id in zip(rows, pair_ids, strict=True)
        ],
        batch_size=2000,
    )
    return _imported(parsed, judge, "scores", None, False, len(rows), replaced)


def _store(project: Project, files: Iterable[tuple[str, PreferenceFile | ScoreFile]]) -> list[_Parsed]:
    """Match every file; any problem in any file refuses them all."""
    parsed, problems = [], []
    for label, data in files:
        matched, found = _match(project, label, data)
        problems.extend(found)
        if matched is not None:
            parsed.append(matched)
    if problems:
        raise _refuse(problems)
    return parsed


def _tree_files(
    project: Project, files: list[tuple[str, PreferenceFile]]
) -> tuple[list[tuple[str, PreferenceFile]], list[str]]:
    """A folder holds the paper's nine task folders whatever the project holds: a file none of whose ids is
    a pair here is left alone (and listed), unless no file matches at all. Two files that answer the same
    question for the same model on the same pairs (a .json beside a .jsonl, a backup copy) are refused: which
    one should win is the curator's call, not the path order's."""
    matching, unmatched = [], []
    for label, data in files:
        if data.problems:
            matching.append((label, data))  # reported by _store
            continue
        external = [row.pair_id for row in data.rows]
        if Pair.objects.labelling().filter(project=project, external_id__in=external).exists():
            matching.append((label, data))
        else:
            unmatched.append(label)
    if not matching:
        raise ValidationError(
            f"None of the {len(files)} results files holds an id of this project's pairs; nothing was imported."
        )
    seen: dict[tuple[str, bool, bool], tuple[str, set[str]]] = {}
    problems = []
    for label, data in matching:
        key, ids = (data.model, data.with_tie, data.inversed), {row.pair_id for row in data.rows}
        if key in seen and seen[key][1] & ids:
            other = seen[key][0]
            message = f"answers the same question as {other} for {len(seen[key][1] & ids):,} of the same pairs."
            problems.append(Problem(file=label, line=None, field=None, message=message))
        else:
            seen[key] = (label, seen.get(key, ("", set()))[1] | ids)
    if problems:
        raise _refuse(problems)
    return matching, unmatched


def _written(summary: ImportSummary) -> ImportSummary:
    """The imported judges' answer sheets, built in the import's transaction: they commit with the votes, and
    once per judge rather than once per file."""
    answer_sheets_refresh(judge_ids=[judge.pk for judge in summary.judges])
    return summary


def judge_import_preferences(
    *,
    project: Project,
    user: User | None,
    path: Path,
    name: str,
    model: str | None = None,
    with_tie: bool | None = None,
    inversed: bool | None = None,
) -> ImportSummary:
    """Import one `{model}_preferences(_with_tie)(_inversed).json(l)` file, merging by pair."""
    data = read_preferences(path, name=name, model=model, with_tie=with_tie, inversed=inversed)
    [parsed] = _store(project, [(Path(name).name, data)])
    with transaction.atomic():
        return _written(ImportSummary(files=[_write(project, user, parsed)]))


def judge_import_scores(
    *, project: Project, user: User | None, path: Path, name: str, model: str | None = None
) -> ImportSummary:
    """Import a scalar reward model's scores (a score per response), merging by pair."""
    data = read_scores(path, name=name, model=model)
    [parsed] = _store(project, [(Path(name).name, data)])
    with transaction.atomic():
        return ImportSummary(files=[_write(project, user, parsed)])


def judge_import_tree(*, project: Project, user: User | None, root: Path, label: str) -> ImportSummary:
    """Every `{model}_preferences…` file under `root` (the paper's `<task>/` folders, several models side
    by side), one judge per model, in one transaction. Other files (logs, notes) are listed as skipped."""
    found, skipped = [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if any(part.startswith(".") or part == "__MACOSX" for part in path.relative_to(root).parts):
            continue
        if PREFERENCE_NAME.match(path.name):
            found.append((relative, path))
        else:
            skipped.append(relative)
    if not found:
        raise ValidationError(
            f"{label}: no results files found; the paper's layout is <task>/<model>_preferences.json and "
            "<task>/<model>_preferences_with_tie.json (and _inversed runs). Nothing was imported."
        )
    if len(found) > MAX_TREE_FILES:
        raise ValidationError(f"{label}: holds {len(found):,} results files; at most {MAX_TREE_FILES} at once.")
    files, unmatched = _tree_files(
        project, [(relative, read_preferences(path, name=relative)) for relative, path in found]
    )
    parsed = _store(project, files)
    with transaction.atomic():
        written = [_write(project, user, p) for p in parsed]
        return _written(ImportSummary(files=written, skipped=skipped, unmatched_files=unmatched))


def judge_import_path(
    *,
    project: Project,
    user: User | None,
    path: Path,
    name: str,
    kind: str = "preferences",
    model: str | None = None,
    with_tie: bool | None = None,
    inversed: bool | None = None,
) -> ImportSummary:
    """A results file, a folder of them, or a zip of such a folder: what the command, the page and the API
    hand over. The explicit model, variant and order apply to a single file only: a folder names its
    models, variants and orders by file name, as the paper's evaluation writes them."""
    is_zip = False
    if path.is_file():
        with path.open("rb") as head:
            is_zip = head.read(4) == _ZIP_MAGIC
    if path.is_dir() or is_zip:
        if kind != "preferences":
            raise ValidationError(f"{name}: a folder or zip holds preference files; import score files one by one.")
        if model or with_tie is not None or inversed is not None:
            raise ValidationError(
                f"{name}: the model, variant and order are read from each file's name in a folder or zip; "
                "leave them empty, or import the files one by one."
            )
        if path.is_dir():
            return judge_import_tree(project=project, user=user, root=path, label=name)
        with tempfile.TemporaryDirectory(prefix="omni-results-") as tmp:
            try:
                root = safe_extract(path, Path(tmp) / "tree", label=name, limits=archive_limits())
            except ImportRejected as exc:
                raise ValidationError(str(exc.problem)) from None
            return judge_import_tree(project=project, user=user, root=root, label=name)
    if kind == "scores":
        return judge_import_scores(project=project, user=user, path=path, name=name, model=model)
    return judge_import_preferences(
        project=project, user=user, path=path, name=name, model=model, with_tie=with_tie, inversed=inversed
    )


def judge_import_upload(
    *,
    project: Project,
    user: User | None,
    kind: str,
    upload: UploadedFile,
    model: str | None = None,
    with_tie: bool | None = None,
    inversed: bool | None = None,
) -> ImportSummary:
    """A results file or zip as uploaded through the page or the API: the readers take a path, so the
    upload is spooled to a temp file first."""
    with tempfile.TemporaryDirectory(prefix="omni-results-") as tmp:
        path = Path(tmp) / "upload"
        with path.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        return judge_import_path(
            project=project,
            user=user,
            path=path,
            name=upload.name or "upload",
            kind=kind,
            model=model,
            with_tie=with_tie,
            inversed=inversed,
        )
