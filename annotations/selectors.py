"""Reads shared by pages and the API."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, F, Q, QuerySet, Sum

from media_pipeline.models import AssetStatus, MediaAsset

from .models import (
    TASK_SPECS,
    ImportJob,
    Membership,
    Pair,
    PairKind,
    PairSkip,
    PairTally,
    Project,
    Role,
    SkipKind,
    Task,
    comparisons_q,
    labelling_q,
)
from .services.queue import response_viewer


@dataclass(frozen=True)
class Side:
    """One response as a page shows it: under the letter annotators see (A/B), with a title for curators."""

    letter: str
    text: str | None
    media: MediaAsset | None
    mesh: MediaAsset | None
    title: str = ""  # curators' pages: "Response 1"
    model: str = ""  # curators' pages: the model's name, or why it is not shown

    @property
    def label(self) -> str:
        """How the viewers name it to assistive technology."""
        return self.title or f"Response {self.letter}"


def pair_sides(pair: Pair, *, swapped: bool) -> tuple[Side, Side]:
    """Response 1 and 2 as the A and B a person sees (swapped: response 2 is A)."""
    one = (pair.response1_text, pair.response1_media, pair.response1_mesh)
    two = (pair.response2_text, pair.response2_media, pair.response2_mesh)
    left, right = (two, one) if swapped else (one, two)
    return Side("A", *left), Side("B", *right)


def curator_sides(pair: Pair, *, hide_models: bool) -> tuple[Side, Side]:
    """Response 1 on the left, 2 on the right, in the annotators' viewers, with the models named unless hidden."""
    sides = []
    for n, side in enumerate(pair_sides(pair, swapped=False), start=1):
        model = "model hidden" if hide_models else (getattr(pair, f"model{n}") or "no model named")
        sides.append(Side(side.letter, side.text, side.media, side.mesh, title=f"Response {n}", model=model))
    return sides[0], sides[1]


def pair_view_context(pair: Pair, hide_models: bool) -> dict[str, object]:
    """What templates/annotations/_pair_viewers.html needs to show a pair in the annotators' viewers."""
    return {"sides": curator_sides(pair, hide_models=hide_models), "viewer": response_viewer(pair)}


def pair_media(pair: Pair) -> list[tuple[str, MediaAsset | None]]:
    """The pair's media slots as curators name them."""
    return [
        ("Input", pair.input_media),
        ("Response 1", pair.response1_media),
        ("Response 1 mesh", pair.response1_mesh),
        ("Response 2", pair.response2_media),
        ("Response 2 mesh", pair.response2_mesh),
    ]


@dataclass(frozen=True)
class ProjectRow:
    project: Project
    role: str
    pair_count: int
    comparison_count: int  # waiting for criteria: the list links members to the Write page


def projects_for_user(user: User | AnonymousUser) -> list[ProjectRow]:
    if not user.is_authenticated:
        return []
    if user.is_staff:
        projects = Project.objects.annotate(
            n_pairs=Count("pairs", filter=labelling_q("pairs__")),
            n_comparisons=Count("pairs", filter=comparisons_q("pairs__")),
        )
        return [ProjectRow(p, "curator", p.n_pairs, p.n_comparisons) for p in projects]
    memberships = (
        Membership.objects.filter(user=user)
        .select_related("project")
        .annotate(
            n_pairs=Count("project__pairs", filter=labelling_q("project__pairs__")),
            n_comparisons=Count("project__pairs", filter=comparisons_q("project__pairs__")),
        )
        .order_by("project__name")
    )
    return [ProjectRow(m.project, m.role, m.n_pairs, m.n_comparisons) for m in memberships]


@dataclass(frozen=True)
class TaskCount:
    task: Task
    config: str
    pairs: int
    labelled: int
    comparisons: int  # waiting for criteria to be written


def task_counts(project: Project) -> list[TaskCount]:
    # Only indexed columns are named, so PostgreSQL counts from the index (pair_project_kind_task).
    rows: dict[str, dict[str, int]] = {}
    counted = (
        Pair.objects.filter(project=project)
        .order_by()
        .values_list("task", "kind")
        .annotate(n=Count("task"), labelled=Count("reference_label"))
    )
    for task, kind, n, labelled in counted:
        row = rows.setdefault(task, {"pairs": 0, "labelled": 0, "comparisons": 0})
        row["pairs" if kind == PairKind.PAIR else "comparisons"] += n
        row["labelled"] += labelled
    return [
        TaskCount(
            spec.task,
            spec.config,
            *(rows.get(code, {}).get(name, 0) for name in ("pairs", "labelled", "comparisons")),
        )
        for code, spec in TASK_SPECS.items()
    ]


def project_media_counts(project: Project) -> dict[str, int]:
    return dict(project_assets(project).values_list("kind").annotate(n=Count("id")).values_list("kind", "n"))


def project_assets(project: Project) -> QuerySet[MediaAsset]:
    """Every asset a pair of the project shows."""
    pairs = Pair.objects.filter(project=project)
    used = Q()
    for column in Pair.MEDIA_FIELDS:
        used |= Q(id__in=pairs.values(column))
    return MediaAsset.objects.filter(used)


@dataclass(frozen=True)
class PipelineOverview:
    counts: dict[str, int]
    waiting_pairs: int
    failures: list[MediaAsset]
    running: list[MediaAsset]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def busy(self) -> bool:
        return bool(self.counts.get(AssetStatus.QUEUED) or self.counts.get(AssetStatus.RUNNING))


def pipeline_overview(project: Project, limit: int = 50) -> PipelineOverview:
    """The media pipeline for one project: assets per state, pairs held back, failures and running jobs."""
    assets = project_assets(project)
    counts = {status: 0 for status in AssetStatus.values}
    counts.update(dict(assets.values_list("status").annotate(n=Count("id")).values_list("status", "n")))
    only = (
        *("id", "kind", "extension", "original_name", "size_bytes", "status", "error"),
        *("attempts", "lease_until", "heartbeat_at"),
    )
    return PipelineOverview(
        counts=counts,
        waiting_pairs=Pair.objects.filter(project=project, media_ready=False).count(),
        failures=list(assets.filter(status=AssetStatus.FAILED).only(*only).order_by("id")[:limit]),
        running=list(assets.filter(status=AssetStatus.RUNNING).only(*only).order_by("id")[:limit]),
    )


def waiting_for_media(project: Project) -> QuerySet[Pair]:
    """Labelling pairs held out of the queue until their media are processed (comparisons are never queued)."""
    return Pair.objects.labelling().filter(project=project, media_ready=False)


def pair_list(project: Project, *, task: str = "", query: str = "") -> QuerySet[Pair]:
    pairs = Pair.objects.filter(project=project).only(
        "id", "external_id", "task", "prompt", "criterion", "kind", "reference_label", "model1", "model2"
    )
    if task:
        pairs = pairs.filter(task=task)
    if query:
        pairs = pairs.filter(
            Q(external_id__icontains=query) | Q(prompt__icontains=query) | Q(criterion__icontains=query)
        )
    return pairs.order_by("task", "external_id")


def recent_imports(project: Project, limit: int = 10) -> QuerySet[ImportJob]:
    return ImportJob.objects.filter(project=project).select_related("created_by")[:limit]


def asset_role(user: User | AnonymousUser, asset_id: int) -> str | None:
    """The best role the user has in a project with a pair that shows this asset; None: no access.

    Staff count as curators everywhere.
    """
    if not user.is_authenticated:
        return None
    if user.is_staff:
        return Role.CURATOR
    uses = Q()
    for name in Pair.MEDIA_FIELDS:
        uses |= Q(**{f"{name}_id": asset_id})
    projects = Pair.objects.filter(uses).values("project_id")
    roles = set(Membership.objects.filter(user=user, project_id__in=projects).values_list("role", flat=True))
    if Role.CURATOR in roles:
        return Role.CURATOR
    return next(iter(roles), None)


@dataclass(frozen=True)
class AnnotationOverview:
    judgments: int
    complete_pairs: int
    skips: int
    flags: list[PairSkip]
    flag_count: int


def annotation_overview(project: Project, flag_limit: int = 20) -> AnnotationOverview:
    """Curator's view of the labelling so far: live votes, pairs at k, skips and broken-media flags."""
    votes = (
        PairTally.objects.filter(project=project)
        .annotate(n=F("response1") + F("response2") + F("tie"))
        .aggregate(judgments=Sum("n", default=0), complete=Count("pair", filter=Q(n__gte=project.votes_per_pair)))
    )
    skips = PairSkip.objects.filter(pair__project=project)
    counts = skips.aggregate(
        skips=Count("id", filter=Q(kind=SkipKind.SKIP)), flags=Count("id", filter=Q(kind=SkipKind.FLAG))
    )
    flags = skips.filter(kind=SkipKind.FLAG).select_related("pair", "annotator")
    return AnnotationOverview(
        judgments=votes["judgments"],
        complete_pairs=votes["complete"],
        skips=counts["skips"],
        flags=list(flags[:flag_limit]),
        flag_count=counts["flags"],
    )


def project_members(project: Project) -> QuerySet[Membership]:
    """A project's members with their users, by username (the member page and the API list)."""
    return Membership.objects.filter(project=project).select_related("user").order_by("user__username")
