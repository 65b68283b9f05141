"""Import pairs and their media into a project: validate everything, then store everything.

The order matters for "a failed import stores nothing":
1. stream every row and check it (fields, task, label, media exist and decode), collecting all
   problems; stop here if there is any;
2. upload media not yet stored (content-addressed, so a repeated upload is harmless), outside
   any transaction because uploads can be slow;
3. in one transaction, create the media rows and the pairs. If that fails, the uploads of step
   2 that no row points at are deleted again.
Re-importing the same data adds nothing: pairs are keyed by (project, external id), media by hash.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from annotations.importing.media import MediaCatalog, MediaInfo
from annotations.importing.problems import ImportRejected, Problem, ProblemLog
from annotations.importing.readers import count_rows, iter_rows
from annotations.importing.rows import PairDraft, RowChecker
from annotations.importing.sources import ArchiveLimits, DataFile, locate
from annotations.models import ImportJob, Pair, Project, TaskSpec
from media_pipeline import pipeline
from media_pipeline.models import MediaAsset

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
_PAIR_BATCH = 2000
_LOOKUP_CHUNK = 500  # stays under SQLite's bound-parameter limit


@dataclass
class ImportResult:
    ok: bool
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def rejected(cls, problems: ProblemLog) -> ImportResult:
        return cls(ok=False, problems=problems.kept, problem_count=problems.count)


def archive_limits() -> ArchiveLimits:
    return ArchiveLimits(
        max_unpacked_bytes=settings.OMNI_IMPORT_MAX_UNPACKED_MB * 1024 * 1024,
        max_members=settings.OMNI_IMPORT_MAX_ARCHIVE_MEMBERS,
    )


def _no_progress(phase: str, done: int, total: int) -> None:
    return None


def pair_import(
    *,
    project: Project,
    data_path: Path,
    media_path: Path | None = None,
    default_task: TaskSpec | None = None,
    data_label: str | None = None,
    media_label: str | None = None,
    import_job: ImportJob | None = None,
    progress: Progress = _no_progress,
    workdir: Path | None = None,
) -> ImportResult:
    """Validate and import a release. `workdir`: where to unpack (a job's own scratch folder, which
    the job sweep removes if the worker dies); a fresh temp folder by default."""
    with tempfile.TemporaryDirectory(prefix="omni-import-", dir=workdir) as tmp:
        workdir = Path(tmp)
        problems = ProblemLog()
        try:
            source = locate(
                data_path,
                workdir=workdir,
                limits=archive_limits(),
                media_path=media_path,
                data_label=data_label,
                media_label=media_label,
            )
            spool = workdir / "spool"
            spool.mkdir()
            catalog = MediaCatalog(source.media_root, spool, settings.OMNI_MEDIA_MAX_FILE_MB * 1024 * 1024)
            checker = RowChecker(catalog, default_task, project.tasks)
            total = sum(count_rows(f) for f in source.data_files)
            tally = _validate(source.data_files, checker, problems, total, progress)
        except ImportRejected as exc:
            problems.add(exc.problem)
        if problems:
            return ImportResult.rejected(problems)
        if tally.rows == 0:
            problems.add(Problem(file=data_label or data_path.name, message="holds no rows to import."))
            return ImportResult.rejected(problems)

        warnings = dict(checker.warnings)  # the write pass re-checks rows and would count them twice
        existing_ids = set(Pair.objects.filter(project=project).values_list("external_id", flat=True))
        written_keys = _store_media(catalog.by_sha.values(), progress)
        try:
            created = _write_pairs(project, source.data_files, checker, existing_ids, import_job, total, progress)
        except BaseException:
            _delete_unreferenced(written_keys)
            raise

    warning_lines = [f"{message} ({count}x)" for message, count in sorted(warnings.items())]
    existing = tally.rows - sum(created.values())
    if existing:
        warning_lines.append(
            f"{existing} rows have ids already in the project and were skipped; existing pairs are never overwritten."
        )
    media_kinds = Counter(str(info.kind.value) for info in catalog.by_sha.values())
    summary = {
        "rows": tally.rows,
        "new_pairs": sum(created.values()),
        "existing_pairs": existing,
        "tasks": {
            task: {"rows": rows, "new": created.get(task, 0), "existing": rows - created.get(task, 0)}
            for task, rows in sorted(tally.per_task.items())
        },
        "media": {
            "files": len(catalog.by_sha),
            "new": len(written_keys),
            "already_stored": len(catalog.by_sha) - len(written_keys),
            "by_kind": dict(sorted(media_kinds.items())),
        },
        "warnings": warning_lines,
    }
    return ImportResult(ok=True, summary=summary)


@dataclass
class _Tally:
    rows: int = 0
    per_task: Counter[str] = field(default_factory=Counter)


def _validate(
    data_files: list[DataFile], checker: RowChecker, problems: ProblemLog, total: int, progress: Progress
) -> _Tally:
    tally = _Tally()
    first_seen: dict[str, str] = {}
    for data_file in data_files:
        for row in iter_rows(data_file, problems):
            tally.rows += 1
            draft, row_problems = checker.check(row)
            for problem in row_problems:
                problems.add(problem)
            if draft is not None:
                where = f"{data_file.label}:{row.number}"
                if (earlier := first_seen.setdefault(draft.external_id, where)) != where:
                    problems.add(
                        Problem(
                            file=data_file.label,
                            row=row.number,
                            field="id",
                            message=f"duplicate id {draft.external_id!r} (first at {earlier}).",
                        )
                    )
                tally.per_task[draft.task.value] += 1
            if tally.rows % 1000 == 0:
                progress("validating", tally.rows, total)
    progress("validating", tally.rows, total)
    return tally


def _chunks(items: list[str], size: int = _LOOKUP_CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _store_media(infos: Iterable[MediaInfo], progress: Progress) -> list[str]:
    """Upload files whose hash is not stored yet; returns the keys this call wrote."""
    pending = {info.sha256: info for info in infos}
    shas = list(pending)
    for chunk in _chunks(shas):
        for sha in MediaAsset.objects.filter(sha256__in=chunk).values_list("sha256", flat=True):
            pending.pop(sha, None)
    written: list[str] = []
    for done, info in enumerate(pending.values(), start=1):
        key = MediaAsset.storage_key(info.sha256, info.extension)
        if not default_storage.exists(key):
            with open(info.path, "rb") as fh:
                saved = default_storage.save(key, File(fh, name=key))
            written.append(saved)
        progress("storing media", done, len(pending))
    return written


def _delete_unreferenced(keys: list[str]) -> None:
    referenced = set(MediaAsset.objects.filter(file__in=keys).values_list("file", flat=True))
    for key in keys:
        if key not in referenced:
            default_storage.delete(key)


def _asset_ids(infos: Iterable[MediaInfo]) -> dict[str, int]:
    by_sha = {info.sha256: info for info in infos}
    MediaAsset.objects.bulk_create(
        [
            MediaAsset(
                sha256=info.sha256,
                kind=info.kind,
                extension=info.extension,
                file=MediaAsset.storage_key(info.sha256, info.extension),
                size_bytes=info.size,
                original_name=info.name[:255],
            )
            for info in by_sha.values()
        ],
        ignore_conflicts=True,
        batch_size=500,
    )
    ids: dict[str, int] = {}
    for chunk in _chunks(list(by_sha)):
        ids.update(MediaAsset.objects.filter(sha256__in=chunk).values_list("sha256", "id"))
    return ids


_PAIR_COLUMNS = (
    "project_id", "external_id", "task", "prompt", "criterion", "input_media_id",
    "response1_text", "response1_media_id", "response1_mesh_id",
    "response2_text", "response2_media_id", "response2_mesh_id",
    "model1", "model2", "source", "reference_label", "import_job_id", "created_at", "kind",
)  # fmt: skip


def _pair_values(
    project: Project, draft: PairDraft, asset_ids: dict[str, int], job: ImportJob | None, now: datetime
) -> tuple[Any, ...]:
    def asset(info: MediaInfo | None) -> int | None:
        return asset_ids[info.sha256] if info else None

    return (
        project.id, draft.external_id, draft.task.value, draft.prompt, draft.criterion, asset(draft.input_media),
        draft.response1.text, asset(draft.response1.media), asset(draft.response1.mesh),
        draft.response2.text, asset(draft.response2.media), asset(draft.response2.mesh),
        draft.model1, draft.model2, draft.source, draft.reference_label, job.pk if job else None, now, draft.kind,
    )  # fmt: skip


class _PairSink:
    """Batches new pair rows into the table.

    On PostgreSQL rows are streamed with COPY into a temporary staging table and moved over with
    one INSERT .. ON CONFLICT DO NOTHING (a concurrent import of the same ids then skips them);
    building model instances for bulk_create costs more than the insert itself at 300K rows.
    Elsewhere bulk_create with ignore_conflicts does the same, more slowly.
    """

    def __init__(self) -> None:
        self.postgres = connection.vendor == "postgresql"
        self.batch: list[tuple[Any, ...]] = []
        self.table = Pair._meta.db_table
        if self.postgres:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"CREATE TEMP TABLE pair_import_stage ON COMMIT DROP AS "  # noqa: S608 -- fixed identifiers
                    f"SELECT {', '.join(_PAIR_COLUMNS)} FROM {self.table} WITH NO DATA"
                )

    def add(self, values: tuple[Any, ...]) -> None:
        self.batch.append(values)
        if len(self.batch) >= _PAIR_BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        if self.postgres:
            with (
                connection.cursor() as cursor,
                cursor.copy(f"COPY pair_import_stage ({', '.join(_PAIR_COLUMNS)}) FROM STDIN") as copy,
            ):
                for values in self.batch:
                    copy.write_row(values)
        else:
            Pair.objects.bulk_create(
                [Pair(**dict(zip(_PAIR_COLUMNS, values, strict=True))) for values in self.batch],
                ignore_conflicts=True,
            )
        self.batch.clear()

    def finish(self) -> None:
        self.flush()
        if self.postgres:
            columns = ", ".join(_PAIR_COLUMNS)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {self.table} ({columns}) SELECT {columns} FROM pair_import_stage "  # noqa: S608
                    "ON CONFLICT (project_id, external_id) DO NOTHING"
                )
                cursor.execute("DROP TABLE pair_import_stage")


def _write_pairs(
    project: Project,
    data_files: list[DataFile],
    checker: RowChecker,
    existing_ids: set[str],
    job: ImportJob | None,
    total: int,
    progress: Progress,
) -> Counter[str]:
    created: Counter[str] = Counter()
    problems = ProblemLog()
    done = 0
    now = timezone.now()
    with transaction.atomic():
        asset_ids = _asset_ids(checker.catalog.by_sha.values())
        sink = _PairSink()
        for data_file in data_files:
            for row in iter_rows(data_file, problems):
                done += 1
                draft, row_problems = checker.check(row)
                if draft is None:
                    # The same rows passed validation a moment ago; the input changed under us.
                    raise RuntimeError(f"row changed between validation and writing: {row_problems[0]}")
                if draft.external_id in existing_ids:
                    continue
                sink.add(_pair_values(project, draft, asset_ids, job, now))
                created[draft.task.value] += 1
                if done % _PAIR_BATCH == 0:
                    progress("writing pairs", done, total)
        sink.finish()
        # New pairs wait for their media; each asset still queued gets a pipeline job after commit.
        ids = list(asset_ids.values())
        pipeline.refresh_pairs(ids)
        # Again once committed: a worker may finish a shared asset before this import is visible.
        transaction.on_commit(lambda: pipeline.refresh_pairs(ids))
        pipeline.enqueue(ids)
        progress("writing pairs", done, total)
    return created
