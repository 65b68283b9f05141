"""Curator pages: agreement dashboard, gate rule, gold answers, adjudication and releases."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotations.access import get_pair_for_curator, get_project_for_curator
from annotations.models import Pair, Task
from annotations.selectors import pair_view_context
from core.http import AuthedHtmxRequest
from criteria.selectors import consensus_by_pair, flipped_pair_ids, written_criteria_exist
from criteria.selectors import signals as criteria_signals

from . import charts, selectors
from .forms import AdjudicationForm, CompareForm, GateRuleForm, GoldForm, PublishForm
from .gate import LABELS, PairState
from .models import Release, ReleaseStatus
from .selectors_annotators import annotator_table, live_vote_count
from .services.annotator_stats import annotator_stats_refresh, annotator_stats_request
from .services.publish import admitted, release_publish, release_rebuild, release_statistics, release_summary
from .services.quality import adjudication_decide, gate_rule_update, pair_gold_set


@login_required
@require_GET
def dashboard(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    if request.htmx:  # the annotator table polling for its new computation: only that section
        table = annotator_table(project, live_votes=live_vote_count(project))
        table = annotator_stats_refresh(project=project, table=table)
        return render(request, "releases/dashboard.html#annotator-stats", {"project": project, "table": table})
    report = selectors.dashboard(project)
    report.annotators = annotator_stats_refresh(project=project, table=report.annotators)
    context = {
        "project": project,
        "report": report,
        "table": report.annotators,
        "charts": charts.dashboard_charts(report),
        "criteria": criteria_signals(project) if written_criteria_exist(project) else None,
    }
    return render(request, "releases/dashboard.html", context)


@login_required
@require_POST
def annotator_stats_recompute(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    if annotator_stats_request(project=project, force=True):
        messages.info(request, "The annotator table is being computed again; this page updates when it is in.")
    else:
        messages.info(request, "The annotator table is already being computed; this page updates when it is in.")
    return redirect("releases:dashboard", slug=project.slug)


@login_required
@require_http_methods(["GET", "POST"])
def gate_edit(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    rule = selectors.gate_rule(project)
    form = GateRuleForm(request.POST or None, initial=rule.as_dict())
    if request.method == "POST" and form.is_valid():
        try:
            gate_rule_update(project=project, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, "Gate rule saved; every pair is decided again under it.")
            return redirect("releases:dashboard", slug=project.slug)
    return render(
        request, "releases/gate_form.html", {"project": project, "form": form}, status=400 if form.errors else 200
    )


@login_required
@require_POST
def pair_gold(request: AuthedHtmxRequest, slug: str, pair_id: int) -> HttpResponse:
    project, pair = get_pair_for_curator(request.user, slug, pair_id)  # a comparison has no answer
    form = GoldForm(request.POST)
    if not form.is_valid():
        return HttpResponse(f"Gold answer refused: {form.errors.as_text()}", status=400, content_type="text/plain")
    label = form.cleaned_data["gold_label"] or None
    pair_gold_set(pair=pair, label=label)
    messages.success(request, f"{pair.external_id} is now a gold pair ({label})." if label else "No longer gold.")
    return redirect("annotations:pair_detail", slug=project.slug, pair_id=pair.id)


@login_required
@require_GET
def pair_verdict(request: AuthedHtmxRequest, slug: str, pair_id: int) -> HttpResponse:
    """The pair page's gate section (loaded into it): state and why, every vote, decisions and open requests."""
    project, pair = get_pair_for_curator(request.user, slug, pair_id)
    context = {
        "project": project,
        "pair": pair,
        "verdict": selectors.pair_verdict(project, pair),
        "requests": selectors.open_adjudication_requests(project).filter(pair=pair).select_related("requested_by"),
    }
    return render(request, "releases/_pair_verdict.html", context)


@login_required
@require_GET
def adjudication_queue(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    task = request.GET.get("task", "")
    if task and task not in Task.values:
        task = ""
    page = Paginator(selectors.disputed_pairs(project, task=task), 50).get_page(request.GET.get("page"))
    requests = selectors.queue_requests(project, [pair.id for pair in page])
    counted = selectors.counted_votes(project, list(page))
    rows = [(pair, dict(zip(LABELS, counted[pair.id], strict=True)), requests.get(pair.id)) for pair in page]
    context = {"project": project, "page": page, "rows": rows, "task": task, "tasks": Task.choices}
    return render(request, "releases/adjudication_queue.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def adjudicate(request: AuthedHtmxRequest, slug: str, pair_id: int) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    pair = get_object_or_404(Pair.objects.labelling().select_related(*Pair.MEDIA_FIELDS), project=project, id=pair_id)
    form = AdjudicationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        adjudication_decide(pair=pair, user=request.user, **form.cleaned_data)
        messages.success(request, f"{pair.external_id}: decided {form.cleaned_data['decision']}.")
        upcoming = selectors.disputed_pairs(project).following(pair)
        if upcoming is not None:
            return redirect("releases:adjudicate", slug=project.slug, pair_id=upcoming.id)
        return redirect("releases:adjudication_queue", slug=project.slug)
    verdict = selectors.pair_verdict(project, pair)
    context = {"project": project, "pair": pair, "verdict": verdict, "form": form, **pair_view_context(pair, True)}
    return render(request, "releases/adjudicate.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def release_list(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    """Published releases, and a preview of what the gate would admit into the next one."""
    project = get_project_for_curator(request.user, slug)
    votes, outcome = selectors.gate_outcome(project, selectors.vote_patterns(project))
    rows = admitted(outcome)
    summary = release_summary(votes, outcome, rows)
    states = selectors.states_of(votes, outcome)
    preview = {
        "summary": summary,
        "statistics": (
            release_statistics(votes, outcome, rows, bootstrap=500, k=project.votes_per_pair) if len(rows) else None
        ),
        "disputed": states[PairState.DISPUTED.key],
        "needs_votes": states[PairState.NEEDS_VOTES.key],
        "excluded": states[PairState.EXCLUDED.key],
        # What "Only criterion flips" would publish: the admitted pairs of flipped comparisons.
        "flip_pairs": (
            len(flipped_pair_ids(project, consensus_by_pair(project))) if written_criteria_exist(project) else None
        ),
    }
    releases = list(selectors.releases(project))
    context = {
        "project": project,
        "releases": releases,
        "preview": preview,
        "rule": selectors.gate_rule(project),
        "form": PublishForm(),
        "preview_chart": charts.label_bars(summary["tasks"]),
    }
    return render(request, "releases/release_list.html", context)


@login_required
@require_POST
def release_publish_view(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    form = PublishForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Release not published: {form.errors.as_text()}")
        return redirect("releases:release_list", slug=project.slug)
    try:
        release = release_publish(
            project=project,
            user=request.user,
            notes=form.cleaned_data["notes"],
            expected_version=form.cleaned_data["version"],
            flips_only=form.cleaned_data["flips_only"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("releases:release_list", slug=project.slug)
    messages.success(request, f"Version {release.version} published with {release.summary['pairs']:,} pairs.")
    return redirect("releases:release_detail", slug=project.slug, version=release.version)


def _release(request: AuthedHtmxRequest, slug: str, version: int) -> Release:
    project = get_project_for_curator(request.user, slug)
    return get_object_or_404(Release.objects.select_related("project", "created_by"), project=project, version=version)


@login_required
@require_GET
def release_detail(request: AuthedHtmxRequest, slug: str, version: int) -> HttpResponse:
    release = _release(request, slug, version)
    previous = Release.objects.filter(project=release.project, version__lt=version).order_by("-version").first()
    context = {
        "project": release.project,
        "release": release,
        "previous": previous,
        "chart": charts.label_bars(release.summary.get("tasks", {})),
        "alpha_chart": charts.alpha_forest(release.statistics.get("tasks", {})),
    }
    if request.htmx:
        return render(request, "releases/release_detail.html#build-status", context)
    return render(request, "releases/release_detail.html", context)


@login_required
@require_POST
def release_rebuild_view(request: AuthedHtmxRequest, slug: str, version: int) -> HttpResponse:
    release = _release(request, slug, version)
    if release_rebuild(release=release):
        messages.info(request, f"Version {version} is being built again from its frozen pairs.")
    else:
        messages.info(request, f"Version {version} is built or its build is still running; nothing to do.")
    return redirect("releases:release_detail", slug=slug, version=version)


@login_required
@require_GET
def release_download(request: AuthedHtmxRequest, slug: str, version: int) -> HttpResponseBase:
    return archive_response(_release(request, slug, version))


def archive_response(release: Release) -> HttpResponseBase:
    """The release's zip (pages and API): streamed from local disk, or a presigned URL on S3."""
    if release.status != ReleaseStatus.READY or not release.archive:
        raise Http404("This release has no archive yet.")
    filename = f"{release.project.slug}-v{release.version}.zip"
    if not isinstance(default_storage, FileSystemStorage):
        # A short-lived presigned URL (AWS_QUERYSTRING_EXPIRE) that names the download.
        disposition = {"ResponseContentDisposition": f'attachment; filename="{filename}"'}
        url = default_storage.url(release.archive.name, parameters=disposition)  # type: ignore[call-arg]
        return HttpResponseRedirect(url)
    handle = default_storage.open(release.archive.name, "rb")
    response = FileResponse(handle, as_attachment=True, filename=filename, content_type="application/zip")
    response["Content-Length"] = str(release.archive_bytes or handle.size)
    return response


@login_required
@require_GET
def release_compare(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    form = CompareForm(request.GET)
    if not form.is_valid():
        return HttpResponse("Compare needs two release versions: ?old=1&new=2.", status=400, content_type="text/plain")
    old = get_object_or_404(Release, project=project, version=form.cleaned_data["old"])
    new = get_object_or_404(Release, project=project, version=form.cleaned_data["new"])
    diff = selectors.release_diff(old, new)
    return render(request, "releases/release_compare.html", {"project": project, "diff": diff})
