"""Curator and researcher pages: judges, runs, imported results, the leaderboard and hard pairs."""

from __future__ import annotations

import csv
import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotations.access import get_pair_for_curator, get_project_for_curator
from annotations.models import Project, Task
from core.http import AuthedHtmxRequest
from releases.services.quality import pair_gold_set

from . import board_export, selectors
from .forms import JudgeForm, ResultFileForm, RunForm
from .models import Judge, JudgeRun, ModelVote, ScalarScore
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
        "upload": ResultFileForm(auto_id="upload_%s"),  # its own ids: both forms have a `kind`
    }
    return render(request, "judges/judge_list.html", context, status=400 if form.errors else 200)


def _judge(request: AuthedHtmxRequest, slug: str, judge_id: int) -> tuple[Project, Judge]:
    project = get_project_for_curator(request.user, slug)
    return project, get_object_or_404(Judge, project=project, pk=judge_id)


@login_required
@require_GET
def judge_detail(request: AuthedHtmxRequest, slug: str, judge_id: int) -> HttpResponse:
    project, judge = _judge(request, slug, judge_id)
    # A new run starts with every task of the project ticked: untick what is not wanted.
    return _detail(request, project, judge, RunForm(initial={"tasks": project.tasks or list(Task.values)}))


def _detail(
    request: AuthedHtmxRequest, project: Project, judge: Judge, form: RunForm, *, status: int = 200
) -> HttpResponse:
    runs = list(judge.runs.all()[:20])
    context = {
        "project": project,
        "judge": judge,
        "runs": runs,
        "active": any(not run.finished and not run.stalled for run in runs),
        "form": form,
    }
    if request.htmx:
        return render(request, "judges/judge_detail.html#runs", context)
    try:
        choice = _truth(project, request)
        compare = request.GET.get("compare", "")
        if compare and not (compare.isascii() and compare.isdigit() and len(compare) <= 9):
            raise ValidationError(f"compare: {compare[:20]!r} is not a judge id.")
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=400, content_type="text/plain")
    truth = selectors.resolve_truth(project, choice)
    context["report"] = selectors.model_report(judge, truth)
    context["truths"] = selectors.truth_options(project)
    context["others"] = selectors.judges(project).exclude(pk=judge.pk)
    if compare:
        other = get_object_or_404(Judge, project=project, pk=int(compare))
        context["comparison"] = selectors.compare_judges(judge, other, truth)
    return render(request, "judges/judge_detail.html", context, status=status)


@login_required
@require_POST
def run_start(request: AuthedHtmxRequest, slug: str, judge_id: int) -> HttpResponse:
    project, judge = _judge(request, slug, judge_id)
    form = RunForm(request.POST)
    if form.is_valid():
        try:
            judge_run_start(judge=judge, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Run started.")
            return redirect("judges:judge_detail", slug=slug, judge_id=judge.pk)
    # Refused: the same page, the form as it was sent, and why next to it.
    return _detail(request, project, judge, form, status=400)


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
    data = form.cleaned_data
    try:
        summary = judge_import_upload(
            project=project,
            user=request.user,
            kind=data["kind"],
            upload=upload,
            model=data["model"] or None,
            with_tie=data["with_tie"],
            inversed=data["inversed"],
        )
    except ValidationError as exc:
        for line in exc.messages:
            messages.error(request, line)
        return redirect("judges:judge_list", slug=slug)
    names = ", ".join(judge.name for judge in summary.judges)
    messages.success(request, f"Imported {summary.rows:,} results for {names}.")
    for line in summary.lines():
        messages.info(request, line)
    return redirect("judges:leaderboard", slug=slug)


def _truth(project: Project, request: AuthedHtmxRequest) -> selectors.TruthChoice | None:
    """`?truth=imported|gate|release:<v>`; the older `?release=<v>` still means that release."""
    return selectors.parse_truth(project, request.GET.get("truth"), request.GET.get("release"))


@login_required
@require_GET
def leaderboard(request: AuthedHtmxRequest, slug: str, fmt: str = "html") -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    if fmt not in ("html", "json", "csv"):
        raise Http404("The leaderboard exports as .csv or .json.")
    try:
        choice = _truth(project, request)
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=400, content_type="text/plain")
    board = selectors.leaderboard(project, choice)
    if fmt == "json":
        return JsonResponse(board_export.board_json(board))
    if fmt == "csv":
        return _board_csv(board, project)
    context = {"project": project, "board": board, "truths": selectors.truth_options(project)}
    return render(request, "judges/leaderboard.html", context)


def _board_csv(board: selectors.Board, project: Project) -> HttpResponse:
    out = io.StringIO()
    csv.writer(out).writerows(board_export.board_csv_rows(board))
    response = HttpResponse(out.getvalue(), content_type="text/csv")
    suffix = board.truth.param.replace(":", "-v")
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-{suffix}-leaderboard.csv"'
    return response


@login_required
@require_GET
def hard_pairs(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    try:
        choice = _truth(project, request)
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=400, content_type="text/plain")
    truth = selectors.resolve_truth(project, choice)
    found, total = selectors.hard_pairs(project, truth)
    if request.GET.get("format") == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["id", "task", "human", "judges_wrong", "judges_answered"])
        for hard in found:
            writer.writerow([hard.pair.external_id, hard.pair.task, hard.human, hard.wrong, hard.answered])
        response = HttpResponse(out.getvalue(), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{project.slug}-hard-pairs.csv"'
        return response
    context = {"project": project, "found": found, "total": total, "truth": truth}
    return render(request, "judges/hard_pairs.html", context)


@login_required
@require_POST
def hard_pairs_to_gold(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    """Make the listed hard pairs gold with the truth's label (the humans' answer, or the imported label when
    scored against those): every annotator then judges them, unannounced, which both gathers more votes on
    them and measures annotators where judges fail. All of them or none."""
    project = get_project_for_curator(request.user, slug)
    try:
        truth = selectors.resolve_truth(project, selectors.parse_truth(project, request.POST.get("truth")))
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=400, content_type="text/plain")
    found, _ = selectors.hard_pairs(project, truth)
    made = 0
    with transaction.atomic():
        for hard in found:
            if hard.pair.gold_label is None:
                pair_gold_set(pair=hard.pair, label=hard.human)
                made += 1
    plural = "s" if made != 1 else ""
    messages.success(request, f"{made} hard pair{plural} made gold with {truth.source}: every annotator now gets them.")
    return redirect("judges:hard_pairs", slug=slug)


@login_required
@require_GET
def pair_model_votes(request: AuthedHtmxRequest, slug: str, pair_id: int) -> HttpResponse:
    """The pair page's model-votes section (loaded into it): every judge's answers and scores on the pair."""
    project, pair = get_pair_for_curator(request.user, slug, pair_id)
    votes = ModelVote.objects.filter(pair=pair).select_related("judge")
    context = {
        "project": project,
        "pair": pair,
        "votes": votes.order_by("judge__name", "-with_tie", "order"),
        "scores": ScalarScore.objects.filter(pair=pair).select_related("judge").order_by("judge__name"),
    }
    return render(request, "judges/_pair_model_votes.html", context)
