"""Imports from the curator's page: uploads are stored, then a Celery job runs `pair_import`."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path, PurePath
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone

from annotations.models import ImportJob, ImportStatus, Project, task_spec
from core import jobs

from .pair_import import pair_import

logger = logging.getLogger(__name__)

DATA_SUFFIXES = (".zip", ".jsonl", ".parquet")
_PHASE_WEIGHTS = {"validating": (0.0, 0.5), "storing media": (0.5, 0.3), "writing pairs": (0.8, 0.2)}


def _check_upload(upload: UploadedFile, *, field: str, suffixes: tuple[str, ...]) -> str:
    name = PurePath(upload.name or "").name
    suffix = PurePath(name).suffix.lower()
    if suffix not in suffixes:
        raise ValidationError({field: f"{name or 'The file'}: expected a {', '.join(suffixes)} file."})
    limit = settings.OMNI_IMPORT_MAX_UPLOAD_MB * 1024 * 1024
    if upload.size is not None and upload.size > limit:
        raise ValidationError(
            {
                field: f"{name} is {upload.size / 1e6:,.0f} MB; uploads may be at most "
                f"{settings.OMNI_IMPORT_MAX_UPLOAD_MB:,} MB. Import larger releases with "
                "`manage.py import_pairs` on the server."
            }
        )
    return suffix


def import_job_create(
    *,
    project: Project,
    user: User,
    data_upload: UploadedFile,
    media_upload: UploadedFile | None = None,
    default_task: str = "",
) -> ImportJob:
    data_suffix = _check_upload(data_upload, field="data_file", suffixes=DATA_SUFFIXES)
    if media_upload is not None:
        _check_upload(media_upload, field="media_file", suffixes=(".zip",))
    if default_task and task_spec(default_task) is None:
        raise ValidationError({"default_task": f"Unknown task {default_task!r}."})

    job = ImportJob(
        project=project,
        created_by=user,
        data_name=PurePath(data_upload.name or "upload").name[:255],
        default_task=task_spec(default_task).task.value if default_task else "",  # type: ignore[union-attr]
    )
    # Opaque keys: the curator's file names may carry model names.
    job.data_file.save(f"imports/{job.id}/data{data_suffix}", data_upload, save=False)
    if media_upload is not None:
        job.media_name = PurePath(media_upload.name or "media.zip").name[:255]
        job.media_file.save(f"imports/{job.id}/media.zip", media_upload, save=False)
    job.save()

    jobs.send_on_commit(ImportJob, [job.id])
    return job


def _progress_key(job_id: object) -> str:
    return f"import-progress:{job_id}"


def import_progress(job: ImportJob) -> dict[str, Any]:
    """Live progress from the cache while running; 100% once finished."""
    if job.finished:
        return {"phase": job.status, "percent": 100}
    return cache.get(_progress_key(job.id)) or {"phase": job.status, "percent": 0}


def _download(field_file: Any, dest: Path) -> None:
    with field_file.open("rb") as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1024 * 1024)


def import_job_resume(*, job: ImportJob) -> bool:
    """Send a stalled import (its worker died and its lease ran out) back to the workers; False if it is not stalled."""
    return bool(jobs.requeue(ImportJob, [job.id], message=""))


def import_job_run(*, job_id: str) -> None:
    held = jobs.claim(ImportJob, job_id)
    if held is None:
        logger.info("import job %s is finished or given up; nothing to do", job_id)
        return
    job = ImportJob.objects.select_related("project").get(id=job_id)

    def progress(phase: str, done: int, total: int) -> None:
        start, weight = _PHASE_WEIGHTS.get(phase, (0.0, 1.0))
        fraction = done / total if total else 1.0
        cache.set(
            _progress_key(job.id),
            {"phase": phase, "done": done, "total": total, "percent": round(100 * (start + weight * fraction))},
            timeout=24 * 3600,
        )

    try:
        with jobs.job_tempdir(held) as tmp, jobs.Heartbeat(held):
            data_path = tmp / PurePath(job.data_file.name).name
            _download(job.data_file, data_path)
            media_path = None
            if job.media_file:
                media_path = tmp / "media.zip"
                _download(job.media_file, media_path)
            result = pair_import(
                project=job.project,
                data_path=data_path,
                media_path=media_path,
                default_task=task_spec(job.default_task) if job.default_task else None,
                data_label=job.data_name,
                media_label=job.media_name or None,
                import_job=job,
                progress=progress,
                workdir=tmp,
            )
    except Exception as exc:
        logger.exception("import job %s crashed", job_id)
        job.status = ImportStatus.FAILED
        job.message = f"The import stopped on an internal error and stored nothing: {exc.__class__.__name__}: {exc}"
    else:
        job.summary = result.summary
        job.problems = [p.as_dict() for p in result.problems]
        job.problem_count = result.problem_count
        if result.ok:
            job.status = ImportStatus.SUCCEEDED
            job.message = f"Imported {result.summary['new_pairs']:,} new pairs."
        else:
            job.status = ImportStatus.FAILED
            noun = "problem" if result.problem_count == 1 else "problems"
            job.message = f"{result.problem_count:,} {noun} found; nothing was imported."
    finished = jobs.finish(
        held,
        job.status,
        summary=job.summary,
        problems=job.problems,
        problem_count=job.problem_count,
        message=job.message,
        finished_at=timezone.now(),
    )
    cache.delete(_progress_key(job.id))
    if not finished:  # this run stalled past its lease and another took over: that run reports
        logger.warning("import job %s: run %s lost its lease before finishing", job_id, held.run)
        return
    if job.status == ImportStatus.SUCCEEDED:
        # The uploads served their purpose; the media now live under content-addressed keys.
        job.data_file.delete(save=False)
        if job.media_file:
            job.media_file.delete(save=False)
        ImportJob.objects.filter(id=job.id).update(data_file="", media_file="")
