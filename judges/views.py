"""Curator and researcher pages: judges, runs, imported results, the leaderboard and hard pairs."""

from __future__ import annotations

import csv
import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotations.access import get_project_for_curator
from annotations.models import Project
from annotations.views import AuthedHtmxRequest
from releases.models import Release
from releases.services.quality import pair_gold_set

from . import selectors
from .forms import JudgeForm, ResultFileForm, RunForm
from .models import Judge, JudgeRun
from .result_files import MAX_FILE_BYTES
from .services.imports import judge_import_upload
from .services.runs import judge_run_cancel, judge_run_resume, judge_run_start


@login_required
@require_http_methods(["GET", "POST"])
def judge_list(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    form = JudgeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        judge = form.save(commit=False)
        judge.project, judge.created_by = project, request.user
        if Judge.objects.filter(project=project, name=judge.name).exists():
            form.add_error("name", f"A judge named {judge.name!r} already exists in this project.")
        else:
            judge.save()
            messages.success(request, f"Judge {judge.name} added; start a run from its page.")
            return redirect("judges:judge_detail", slug=project.slug, judge_id=judge.pk)
    context = {
        "project": project,
        "judges": selectors.judges(project),
        "form": form,
        "upload": ResultFileForm(),
    }
    return render(request, "judges/judge_list.html", context, status=400 if form.errors else 200)


def _judge(request: AuthedHtmxRequest, slug: str, judge_id: int) -> tuple[Project, Judge]:
    project = get_project_for_curator(request.user, slug)
    return project, get_object_or_404(Judge, project=project, pk=judge_id)


@login_required
@require_GET
def judge_detail(request: AuthedHtmxRequest, slug: str, judge_id: int) -> HttpResponse:
    project, judge = _judge(request, slug, judge_id)
    runs = list(judge.runs.all()[:20])
    now = timezone.now()
    for run in runs:  # a running run whose lease ran out lost its worker: offer Resume
        run.stalled = run.status == "running" and run.lease_until is not None and run.lease_until < now  # type: ignore[attr-defined]
    context = {
        "project": project,
        "judge": judge,
        "runs": runs,
        "active": any(not run.finished and not run.stalled for run in runs),  # type: ignore[attr-defined]
        "form": RunForm(initial={"tasks": []}),
    }
    if request.htmx:
        return render(request, "judges/judge_detail.html#runs", context)
    context["report"] = selectors.model_report(project, judge)
    return render(request, "judges/judge_detail.html", context)


@login_required
@require_POST
def run_start(request: AuthedHtmxRequest, slug: str, judge_id: int) -> HttpResponse:
    _, judge = _judge(request, slug, judge_id)
    form = RunForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Run not started: {form.errors.as_text()}")
        return redirect("judges:judge_detail", slug=slug, judge_id=judge.pk)
    try:
        judge_run_start(judge=judge, user=request.user, **form.cleaned_data)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Run started.")
    return redirect("judges:judge_detail", slug=slug, judge_id=judge.pk)


@login_required
@require_POST
def run_control(request: AuthedHtmxRequest, slug: str, judge_id: int, run_id: int, action: str) -> HttpResponse:
    _, judge = _judge(request, slug, judge_id)
    run = get_object_or_404(JudgeRun, judge=judge, pk=run_id)
    if action not in ("cancel", "resume"):
        raise Http404("No such action.")
    if action == "cancel":
        done = judge_run_cancel(run=run)
        messages.info(request, "Cancelling after the current batch." if done else "The run had already finished.")
    else:
        done = judge_run_resume(run=run)
        messages.info(request, "Resumed: answered questions are skipped." if done else "The run is still going.")
    return redirect("judges:judge_detail", slug=slug, judge_id=judge.pk)


@login_required
@require_POST
def import_results(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    form = ResultFileForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, f"Nothing imported: {form.errors.as_text()}")
        return redirect("judges:judge_list", slug=slug)
    upload = form.cleaned_data["file"]
    if upload.size > MAX_FILE_BYTES:
        messages.error(request, f"Nothing imported: {upload.name} is over the {MAX_FILE_BYTES // 2**20} MB limit.")
        return redirect("judges:judge_list", slug=slug)
    try:
        judge, rows = judge_import_upload(
            project=project,
            user=request.user,
            kind=form.cleaned_data["kind"],
            upload=upload,
            model=form.cleaned_data["model"] or None,
        )
    except ValidationError as exc:
        for line in exc.messages:
            messages.error(request, line)
        return redirect("judges:judge_list", slug=slug)
    messages.success(request, f"Imported {rows:,} results as {judge.name}.")
    return redirect("judges:leaderboard", slug=slug)


def _release(project: Project, request: AuthedHtmxRequest) -> Release | None:
    version = request.GET.get("release", "")
    if not version:
        return None
    if not (version.isascii() and version.isdigit()) or len(version) > 9:
        raise ValidationError(f"release: {version[:20]!r} is not a version number.")
    return get_object_or_404(Release, project=project, version=int(version))


@login_required
@require_GET
def leaderboard(request: AuthedHtmxRequest, slug: str, fmt: str = "html") -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    if fmt not in ("html", "json", "csv"):
        raise Http404("The leaderboard exports as .csv or .json.")
    try:
        release = _release(project, request)
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=400, content_type="text/plain")
    board = selectors.leaderboard(project, release)
    if fmt == "json":
        return JsonResponse(_board_json(board))
    if fmt == "csv":
        return _board_csv(board, project, release)
    releases = Release.objects.filter(project=project).order_by("-version").values_list("version", flat=True)
    context = {"project": project, "board": board, "release": release, "releases": list(releases)}
    return render(request, "judges/leaderboard.html", context)


def _table_json(rows: list[selectors.BoardRow]) -> list[dict]:
    return [
        {
            "model": row.name,
            "kind": row.kind,
            "overall": row.table.overall,
            "tasks": {t: {"accuracy": c.accuracy, "correct": c.correct, "n": c.n} for t, c in row.table.cells.items()},
        }
        for row in rows
    ]


def _board_json(board: selectors.Board) -> dict:
    return {
        "human_labels": board.source,
        "pairs": board.pairs,
        "tasks": board.tasks,
        "with_tie": _table_json(board.with_tie),
        "without_tie": _table_json(board.without_tie),
    }


def _board_csv(board: selectors.Board, project: Project, release: Release | None) -> HttpResponse:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["table", "model", "kind", "task", "accuracy", "correct", "n"])
    for name, rows in (("with_tie", board.with_tie), ("without_tie", board.without_tie)):
        for row in rows:
            for task, cell in row.table.cells.items():
                writer.writerow([name, row.name, row.kind, task, _pct(cell.accuracy), cell.correct, cell.n])
            writer.writerow([name, row.name, row.kind, "Overall", _pct(row.table.overall), "", ""])
    response = HttpResponse(out.getvalue(), content_type="text/csv")
    suffix = f"-v{release.version}" if release else ""
    response["Content-Disposition"] = f'attachment; filename="{project.slug}{suffix}-leaderboard.csv"'
    return response


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.2f}"


@login_required
@require_GET
def hard_pairs(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    found, total = selectors.hard_pairs(project)
    if request.GET.get("format") == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["id", "task", "human", "judges_wrong", "judges_answered"])
        for hard in found:
            writer.writerow([hard.pair.external_id, hard.pair.task, hard.human, hard.wrong, hard.answered])
        response = HttpResponse(out.getvalue(), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{project.slug}-hard-pairs.csv"'
        return response
    return render(request, "judges/hard_pairs.html", {"project": project, "found": found, "total": total})


@login_required
@require_POST
def hard_pairs_to_gold(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    """Make the listed hard pairs gold with the humans' answer: every annotator then judges them,
    unannounced, which both gathers more votes on them and measures annotators where judges fail."""
    project = get_project_for_curator(request.user, slug)
    found, _ = selectors.hard_pairs(project)
    made = 0
    for hard in found:
        if hard.pair.gold_label is None:
            pair_gold_set(pair=hard.pair, label=hard.human)
            made += 1
    messages.success(request, f"{made} hard pair{'s' if made != 1 else ''} made gold: every annotator now gets them.")
    return redirect("judges:hard_pairs", slug=slug)
