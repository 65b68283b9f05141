"""Import pairs and their media into a project: check everything, then store everything.

The order matters for "a failed import stores nothing":
1. stream every row once and check it (fields, task, label, media exist and decode), collecting
   all problems; rows that pass go to a temporary staging table of this connection (COPY on
   PostgreSQL), so nothing is parsed or checked twice and memory stays flat. Stop here if there is
   any problem: the staging table is dropped and nothing else was written;
2. upload media not yet stored (content-addressed, so a repeated upload is harmless), outside
   any transaction because uploads can be slow;
3. in one transaction, create the media rows and move the staged pairs over with one
   INSERT .. SELECT .. ON CONFLICT DO NOTHING. If that fails, the uploads of step 2 that no row
   points at are deleted again.
Re-importing the same data adds nothing: pairs are keyed by (project, external id), media by hash.
"""

from __future__ import annotations

import logging
import tempfile
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
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
from annotations.services.media_ready import pairs_media_refresh
from core.staging import StagingTable
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
        except ImportRejected as exc:
            problems.add(exc.problem)
            return ImportResult.rejected(problems)
        with _Stage() as stage:
            try:
                tally = _check_and_stage(source.data_files, checker, problems, total, progress, stage)
            except ImportRejected as exc:
                problems.add(exc.problem)
            if problems:
                return ImportResult.rejected(problems)
            if tally.rows == 0:
                problems.add(Problem(file=data_label or data_path.name, message="holds no rows to import."))
                return ImportResult.rejected(problems)
            written_keys = _store_media(catalog.by_sha.values(), progress)
            try:
                created = _write_pairs(project, stage, catalog, import_job, tally.rows, progress)
            except BaseException:
                _delete_unreferenced(written_keys)
                raise

    warnings = dict(checker.warnings)
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


def _check_and_stage(
    data_files: list[DataFile],
    checker: RowChecker,
    problems: ProblemLog,
    total: int,
    progress: Progress,
    stage: _Stage,
) -> _Tally:
    """Check every row and stage those that pass; duplicate ids are found among the staged rows, so no
    set of 317,000 ids is held in memory."""
    tally = _Tally()
    for data_file in data_files:
        for row in iter_rows(data_file, problems):
            tally.rows += 1
            draft, row_problems = checker.check(row)
            for problem in row_problems:
                problems.add(problem)
            if draft is not None:
                tally.per_task[draft.task.value] += 1
                stage.add((data_file.label, row.number, *_staged(draft)))
            if tally.rows % 1000 == 0:
                progress("validating", tally.rows, total)
    stage.flush()
    for problem in stage.duplicates():
        problems.add(problem)
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


# What a checked row leaves in the staging table: where it came from, media by hash (their rows are
# made only once every check passed), the rest as it goes into the pair. `seq` keeps the order.
_STAGE_COLUMNS = (
    "seq", "file", "line", "external_id", "task", "prompt", "criterion", "input_sha",
    "response1_text", "response1_sha", "response1_mesh_sha",
    "response2_text", "response2_sha", "response2_mesh_sha",
    "model1", "model2", "source", "reference_label", "kind",
)  # fmt: skip
_STAGE = "pair_import_stage"
_ID_AT = _STAGE_COLUMNS.index("external_id") - 1  # in a row as add() takes it (no seq yet)


def _staged(draft: PairDraft) -> tuple[Any, ...]:
    def sha(info: MediaInfo | None) -> str | None:
        return info.sha256 if info else None

    one, two = draft.response1, draft.response2
    return (
        draft.external_id, draft.task.value, draft.prompt, draft.criterion, sha(draft.input_media),
        one.text, sha(one.media), sha(one.mesh), two.text, sha(two.media), sha(two.mesh),
        draft.model1, draft.model2, draft.source, draft.reference_label, draft.kind,
    )  # fmt: skip


class _Stage(StagingTable):
    """The checked rows of one import, staged in batches (`add`, then `flush` for the rest)."""

    def __init__(self) -> None:
        super().__init__(_STAGE, [(name, "integer" if name in ("seq", "line") else "text") for name in _STAGE_COLUMNS])
        self.batch: list[tuple[Any, ...]] = []
        self.rows = 0
        self.id_hashes = array("q")  # hash of each staged row's id, by seq - 1

    def add(self, values: tuple[Any, ...]) -> None:
        self.rows += 1
        self.batch.append((self.rows, *values))
        self.id_hashes.append(hash(values[_ID_AT]))
        if len(self.batch) >= _PAIR_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            self.write(self.batch)
            self.batch.clear()

    def duplicates(self) -> Iterator[Problem]:
        """A problem for each staged row whose id an earlier row already has, in the order of the rows.

        Rows whose ids share a hash are the only candidates (8 bytes per row in memory, where a set of
        317,000 ids took tens of MB and a GROUP BY over the staging table took seconds); their ids are
        then compared for real."""
        hashes = np.frombuffer(self.id_hashes, dtype=np.int64)
        order = np.argsort(hashes, kind="stable")
        same = hashes[order[1:]] == hashes[order[:-1]]
        if not same.any():
            return
        candidates = np.sort(order[np.concatenate([same, [False]]) | np.concatenate([[False], same])]) + 1
        first_seen: dict[str, tuple[str, int]] = {}
        for chunk in _chunks([str(seq) for seq in candidates.tolist()]):
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT file, line, external_id FROM {_STAGE} WHERE seq IN ({', '.join(chunk)}) ORDER BY seq"  # noqa: S608 -- integers
                )
                rows = cursor.fetchall()
            for file, line, external_id in rows:
                earlier = first_seen.setdefault(external_id, (file, line))
                if earlier != (file, line):
                    yield Problem(
                        file=file,
                        row=line,
                        field="id",
                        message=f"duplicate id {external_id!r} (first at {earlier[0]}:{earlier[1]}).",
                    )


# The staged rows become pairs; media hashes become the rows' ids. A concurrent import of the same
# ids makes ON CONFLICT skip them. (SQLite needs the WHERE to parse ON CONFLICT after a join.)
_MOVE = (
    "INSERT INTO {pair} (project_id, import_job_id, created_at, external_id, task, prompt, criterion,"
    " input_media_id, response1_text, response1_media_id, response1_mesh_id,"
    " response2_text, response2_media_id, response2_mesh_id, model1, model2, source, reference_label, kind)"
    " SELECT %(project)s, %(job)s, %(now)s, s.external_id, s.task, s.prompt, s.criterion,"
    " m0.id, s.response1_text, m1.id, m2.id, s.response2_text, m3.id, m4.id,"
    " s.model1, s.model2, s.source, s.reference_label, s.kind"
    " FROM {stage} s"
    " LEFT JOIN {asset} m0 ON m0.sha256 = s.input_sha"
    " LEFT JOIN {asset} m1 ON m1.sha256 = s.response1_sha LEFT JOIN {asset} m2 ON m2.sha256 = s.response1_mesh_sha"
    " LEFT JOIN {asset} m3 ON m3.sha256 = s.response2_sha LEFT JOIN {asset} m4 ON m4.sha256 = s.response2_mesh_sha"
    " WHERE true ORDER BY s.seq"
    " ON CONFLICT (project_id, external_id) DO NOTHING"
)
# PostgreSQL counts what it inserted; SQLite, whose writers take turns, counts what is new beforehand.
_COUNT_MOVED = "WITH moved AS ({move} RETURNING task) SELECT task, COUNT(*) FROM moved GROUP BY task"
_COUNT_NEW = (
    "SELECT s.task, COUNT(*) FROM {stage} s WHERE NOT EXISTS"
    " (SELECT 1 FROM {pair} p WHERE p.project_id = %(project)s AND p.external_id = s.external_id) GROUP BY s.task"
)


def _write_pairs(
    project: Project, stage: _Stage, catalog: MediaCatalog, job: ImportJob | None, total: int, progress: Progress
) -> Counter[str]:
    progress("writing pairs", 0, total)
    names = {"pair": Pair._meta.db_table, "stage": _STAGE, "asset": MediaAsset._meta.db_table}
    move = _MOVE.format(**names)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    job_id = ImportJob._meta.pk.get_db_prep_value(job.pk, connection) if job else None  # a UUID; hex on SQLite
    params = {"project": project.pk, "job": job_id, "now": now}
    with transaction.atomic():
        asset_ids = _asset_ids(catalog.by_sha.values())
        with connection.cursor() as cursor:
            cursor.execute(_COUNT_MOVED.format(move=move) if stage.postgres else _COUNT_NEW.format(**names), params)
            created = Counter(dict(cursor.fetchall()))
            if not stage.postgres:
                cursor.execute(move, params)
        # New pairs wait for their media; each asset still queued gets a pipeline job after commit.
        ids = list(asset_ids.values())
        pairs_media_refresh(ids)
        # Again once committed: a worker may finish a shared asset before this import is visible.
        transaction.on_commit(lambda: pairs_media_refresh(ids))
        pipeline.enqueue(ids)
    progress("writing pairs", total, total)
    return created
