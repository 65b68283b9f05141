"""Publishing version N: freeze what the gate admits, then build the archive in a Celery job.

`release_publish` decides and freezes in one transaction: the Release row and one ReleasePair per
admitted pair, with its label, counted votes and the SHA-256 of every media file. On a project with tie
kinds, a released tie also freezes its kind (`gate.tie_kind_codes`: the kind most of its counted tie
votes name, `mixed` on a draw, empty when none named one), and the summary counts ties per kind: the
archive's `tie_kind` column follows from that. Nothing writes
those rows afterwards, so later judgments, rule edits or adjudications never change a release.

`release_build` is an idempotent state machine like the media pipeline: it takes the release with
a conditional UPDATE and a lease it renews while writing, writes the zip to a temp file (memory
does not grow with the release), saves it through Django storage (multipart on S3) and marks the
release ready only if its run still owns the lease. A worker killed mid-build leaves the lease
to run out: the job's message comes back (acks late) and waits for that, then builds again from the
same frozen rows; meanwhile the release page shows the build as stalled and offers "Build again".

What ships is checked against the frozen hashes; the build may add to it (a render for a T23D mesh
imported alone) or remux a video losslessly when its container declares no duration, and the
manifest says so (see `archive`): the frozen rows themselves never change.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from annotations.models import Pair, Project
from core import jobs
from core.staging import StagingTable
from criteria.selectors import flipped_pair_ids
from media_pipeline.models import MediaAsset

from ..gate import LABELS, TIE, TIE_KINDS, Outcome, PairState, Source, tie_kind_codes
from ..models import LabelSource, Release, ReleasePair, ReleaseStatus
from ..selectors import TASKS, ProjectVotes, consensus_from, gate_outcome, gate_rule, task_agreement, with_fleiss_at_k
from ..stats.agreement import Agreement, Estimate, agreement

log = logging.getLogger(__name__)

_CHUNK = 10_000
_SOURCES = {
    Source.VOTES: LabelSource.VOTES,
    Source.GOLD: LabelSource.GOLD,
    Source.ADJUDICATION: LabelSource.ADJUDICATION,
}


def _estimate(e: Estimate) -> dict[str, Any]:
    return {"value": e.value, "low": e.low, "high": e.high, "note": e.note}


def agreement_json(a: Agreement) -> dict[str, Any]:
    return {
        "pairs": a.pairs,
        "pairs_with_overlap": a.pairs_with_overlap,
        "votes": a.votes,
        "alpha": _estimate(a.alpha),
        "fleiss_kappa": _estimate(a.fleiss),
        "percent_agreement": _estimate(a.percent),
        "vote_labels": dict(zip(LABELS, (int(n) for n in a.label_counts), strict=False)),
    }


def admitted(outcome: Outcome) -> np.ndarray:
    return np.flatnonzero(outcome.state == PairState.ACCEPTED)


def release_summary(
    votes: ProjectVotes, outcome: Outcome, rows: np.ndarray, *, tie_kinds: bool = False
) -> dict[str, Any]:
    """Pairs and labels per task for the admitted rows; with `tie_kinds`, the released ties per kind too
    (`none`: no counted tie vote named a kind)."""
    kinds = tie_kind_codes(outcome.label, votes.tie_kinds) if tie_kinds else None

    def labels(at: np.ndarray) -> dict[str, Any]:
        counts = np.bincount(outcome.label[at], weights=votes.units[at], minlength=3) if len(at) else np.zeros(3)
        return dict(zip(LABELS, (int(n) for n in counts), strict=True))

    def summary(at: np.ndarray) -> dict[str, Any]:
        shown: dict[str, Any] = {"pairs": int(votes.units[at].sum()), "labels": labels(at)}
        if kinds is not None:
            ties = at[outcome.label[at] == TIE]
            per_kind = np.bincount(kinds[ties] + 1, weights=votes.units[ties], minlength=len(TIE_KINDS) + 1)
            shown["tie_kinds"] = dict(zip(("none", *TIE_KINDS), (int(n) for n in per_kind), strict=True))
        return shown

    tasks = {code: summary(mine) for i, code in enumerate(TASKS) if len(mine := rows[votes.task[rows] == i])}
    return {**summary(rows), "tasks": tasks}


def release_statistics(
    votes: ProjectVotes, outcome: Outcome, rows: np.ndarray, *, bootstrap: int, k: int
) -> dict[str, Any]:
    """Agreement among the counted votes of the admitted pairs, overall and per task; and, as
    `before_gate`, among every live vote of the project, since the gate raises agreement by design."""
    counts = outcome.counted[rows]
    gold = votes.gold[rows]
    units = votes.units[rows]

    def stats(mask: np.ndarray, seed: int) -> dict[str, Any]:
        result = agreement(counts[mask], units=units[mask], bootstrap=bootstrap, seed=seed)
        return agreement_json(with_fleiss_at_k(result, counts[mask], k, gold[mask], units[mask]))

    per_task = {code: stats(votes.task[rows] == i, i) for i, code in enumerate(TASKS) if (votes.task[rows] == i).any()}
    before = task_agreement(votes, votes.live, k, bootstrap=bootstrap, seed=7)
    return {
        "overall": stats(np.ones(len(rows), dtype=bool), 99),
        "tasks": per_task,
        "before_gate": agreement_json(before),
    }


def release_publish(
    *,
    project: Project,
    user: User | None,
    notes: str = "",
    bootstrap: int = 1000,
    expected_version: int | None = None,
    flips_only: bool = False,
) -> Release:
    """Freeze what the gate admits as the next version. `expected_version`: the version the curator saw
    offered; a double click or a colleague publishing first makes it stale and the publish is refused."""
    if len(notes) > 5000:
        raise ValidationError({"notes": "Release notes are limited to 5,000 characters."})
    with transaction.atomic():
        # One publisher at a time per project, so version numbers never collide. FOR NO KEY UPDATE does
        # not block the FOR KEY SHARE lock that inserts referencing the project take (the annotators'
        # reservations), so publishing never stalls the queue.
        Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
        latest = Release.objects.filter(project=project).aggregate(v=Max("version"))["v"] or 0
        if expected_version is not None and expected_version != latest + 1:
            raise ValidationError(
                f"Version {latest} was published after this page was opened (a double click, or a colleague); "
                "nothing was published again. Review the releases and publish anew if needed."
            )
        votes, outcome = gate_outcome(project)
        rows = admitted(outcome)
        if flips_only:
            flipped = flipped_pair_ids(project, consensus_from(votes, outcome))
            rows = rows[np.isin(votes.pair_ids[rows], list(flipped))]
            if not len(rows):
                raise ValidationError(
                    {"flips_only": "No accepted pair comes from a comparison whose label flips with the criterion."}
                )
        if not len(rows):
            raise ValidationError("The gate admits no pair yet, so there is nothing to publish.")
        release = Release.objects.create(
            project=project,
            version=latest + 1,
            notes=notes.strip(),
            gate={**gate_rule(project).as_dict(), **({"criterion_flips_only": True} if flips_only else {})},
            statistics=release_statistics(votes, outcome, rows, bootstrap=bootstrap, k=project.votes_per_pair),
            summary=release_summary(votes, outcome, rows, tie_kinds=project.tie_kinds),
            created_by=user,
        )
        _freeze_pairs(release, votes, outcome, rows, tie_kinds=project.tie_kinds)
        release_id = release.pk
        jobs.send_on_commit(Release, [release_id])
    return release


# The release's pairs are staged from the decision arrays and take each pair's id, task and media hashes
# in one INSERT .. SELECT; building 262,000 ReleasePair instances and reading the pairs back in 133
# chunks took about 59 s of a 65 s publish. The JSON is built in SQL exactly as the model would write
# it: in `votes` only the labels with votes, in `media` only the columns with a file, in that order
# (SQLite keeps it as text; PostgreSQL's jsonb has its own order anyway). json_patch onto {} drops the
# nulls on SQLite as jsonb_strip_nulls does on PostgreSQL.
_FREEZE_STAGE = "release_pair_stage"
_FREEZE_COLUMNS = (
    ("pair_id", "bigint"), ("label", "text"), ("source", "text"),
    *((label, "integer") for label in LABELS), ("share", "double precision"), ("tie_kind", "text"),
)  # fmt: skip
_FREEZE = (
    "INSERT INTO {release_pair}"
    " (release_id, pair_id, external_id, task, label, source, votes, majority_share, media, tie_kind)"
    " SELECT %s, s.pair_id, p.external_id, p.task, s.label, s.source, {votes}, s.share, {media}, s.tie_kind"
    " FROM {stage} s JOIN {pair} p ON p.id = s.pair_id {joins}"
    " ORDER BY s.pair_id"
)


def _json_object(pairs: list[tuple[str, str]], *, postgres: bool) -> str:
    """A JSON object of the non-null values of these (key, SQL expression) pairs, in this order."""
    arguments = ", ".join(f"'{key}', {expression}" for key, expression in pairs)
    return (
        f"jsonb_strip_nulls(jsonb_build_object({arguments}))"
        if postgres
        else f"json_patch('{{}}', json_object({arguments}))"
    )


def _freeze_sql(*, postgres: bool) -> str:
    asset = MediaAsset._meta.db_table
    return _FREEZE.format(
        release_pair=ReleasePair._meta.db_table,
        pair=Pair._meta.db_table,
        stage=_FREEZE_STAGE,
        votes=_json_object([(label, f"NULLIF(s.{label}, 0)") for label in LABELS], postgres=postgres),
        media=_json_object([(column, f"m{n}.sha256") for n, column in enumerate(Pair.MEDIA_FIELDS)], postgres=postgres),
        joins=" ".join(
            f"LEFT JOIN {asset} m{n} ON m{n}.id = p.{column}_id" for n, column in enumerate(Pair.MEDIA_FIELDS)
        ),
    )


def _decided(votes: ProjectVotes, outcome: Outcome, rows: np.ndarray, *, tie_kinds: bool) -> Iterator[tuple[Any, ...]]:
    """A staging row per admitted pair, made a chunk at a time so memory does not grow with the release."""
    sources = {int(code): source.value for code, source in _SOURCES.items()}
    kinds = tie_kind_codes(outcome.label, votes.tie_kinds) if tie_kinds else np.full(len(outcome.label), -1)
    names = {-1: "", **dict(enumerate(TIE_KINDS))}
    for start in range(0, len(rows), _CHUNK):
        at = rows[start : start + _CHUNK]
        # Python's round, not numpy's: the shares must round exactly as they always were (0.6667).
        shares = [None if math.isnan(share) else round(share, 4) for share in outcome.share[at].tolist()]
        yield from zip(
            votes.pair_ids[at].tolist(),
            [LABELS[code] for code in outcome.label[at].tolist()],
            [sources[code] for code in outcome.source[at].tolist()],
            *outcome.counted[at].T.tolist(),
            shares,
            [names[code] for code in kinds[at].tolist()],
            strict=True,
        )


def _freeze_pairs(
    release: Release, votes: ProjectVotes, outcome: Outcome, rows: np.ndarray, *, tie_kinds: bool
) -> None:
    """Write one ReleasePair per admitted row: a fixed number of statements whatever the release's size."""
    with StagingTable(_FREEZE_STAGE, _FREEZE_COLUMNS) as stage:
        stage.write(_decided(votes, outcome, rows, tie_kinds=tie_kinds))
        with connection.cursor() as cursor:
            cursor.execute(_freeze_sql(postgres=stage.postgres), [release.pk])
            written = cursor.rowcount
    if written != len(rows):  # a pair deleted since the gate read it: the summary would not match the pairs
        raise ValidationError(
            "Pairs were deleted while this release was published; nothing was published. Publish again."
        )


# --- building the archive ------------------------------------------------------------------------


def release_build(release_id: int) -> str | None:
    """Build the archive of a release: its final status, None if nothing was left to do; Busy if another run has it."""
    from .archive import ArchiveError, write_release_archive

    held = jobs.claim(Release, release_id)
    if held is None:
        return None
    release = Release.objects.select_related("project", "created_by").get(pk=release_id)
    try:
        with jobs.job_tempdir(held) as tmp, jobs.Heartbeat(held):
            dest = tmp / "release.zip"
            info = write_release_archive(release, dest)
            # The run number keeps each build's key its own: a run that lost its lease deletes only its file.
            slug = release.project.slug
            name = f"releases/{slug}/{slug}-v{release.version}-{info.sha256[:12]}-b{held.run}.zip"
            with dest.open("rb") as handle:
                key = default_storage.save(name, File(handle, name=Path(name).name))
    except ArchiveError as exc:
        jobs.finish(held, ReleaseStatus.FAILED, error=str(exc)[:2000])
        return ReleaseStatus.FAILED
    except Exception as exc:  # storage or database trouble: visible, and "Build again" retries from the frozen rows
        log.exception("release %s: build failed", release_id)
        message = f"Building the archive failed ({type(exc).__name__}: {exc}); build again once the cause is fixed."
        jobs.finish(held, ReleaseStatus.FAILED, error=message[:2000])
        return ReleaseStatus.FAILED
    finished = jobs.finish(
        held,
        ReleaseStatus.READY,
        archive=key,
        archive_bytes=info.size_bytes,
        archive_sha256=info.sha256,
        built_at=timezone.now(),
        error="",
    )
    if not finished:  # another run took over after our lease ran out; its archive stands, ours goes
        if Release.objects.filter(pk=release_id, archive=key).exists():
            return None
        default_storage.delete(key)
        return None
    _drop_dead_runs(release, keep=key)
    return ReleaseStatus.READY


def _drop_dead_runs(release: Release, *, keep: str) -> None:
    """Delete what earlier runs of this build saved before their worker died (a whole or partial zip)."""
    folder = f"releases/{release.project.slug}"
    prefix = f"{release.project.slug}-v{release.version}-"
    try:
        names = default_storage.listdir(folder)[1]
    except (FileNotFoundError, NotImplementedError):
        return
    for name in names:
        path = f"{folder}/{name}"
        if name.startswith(prefix) and name.endswith(".zip") and path != keep:
            default_storage.delete(path)


def release_rebuild(*, release: Release) -> bool:
    """Send a failed release, or one whose build died, back to its builder. Its frozen pairs are unchanged."""
    # A build still waiting (its message was lost with a broker outage) may be sent again too.
    waiting = Q(status=ReleaseStatus.BUILDING, lease_until__isnull=True)
    return bool(jobs.requeue(Release, [release.pk], also=Q(status=ReleaseStatus.FAILED) | waiting, error=""))
