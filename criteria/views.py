"""Pages: a writer writes criteria for a comparison; a curator reviews them.

Writers are the project's members (annotators or curators). A writer sees the comparison as
labellers do (sides shuffled per person, no model names) and picks the side each criterion should
favour as shown; it is stored canonically. Drafts are saved as they type (htmx), so a reload loses
nothing. Curators review in a queue with warnings, and accept (making a labelling pair), edit or reject.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotations.access import get_project_for_curator, get_project_for_member
from annotations.models import Pair, Project, Role, ShownOrder
from annotations.selectors import pair_sides
from annotations.services.queue import response_viewer, shown_order_for
from core.http import AuthedHtmxRequest

from . import selectors
from .forms import ComparisonForm
from .models import CriterionStatus, Expectation
from .services import (
    NewComparison,
    Review,
    comparison_create,
    criteria_submit,
    criterion_draft_delete,
    criterion_draft_save,
    criterion_review,
    shown_expectation,
)


def _errors(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [m for messages_ in exc.message_dict.values() for m in messages_]
    return list(exc.messages)


def _write_context(project: Project, user: Any, comparison: Pair) -> dict[str, Any]:
    order = shown_order_for(user.pk, comparison.pk)
    mine = list(selectors.writer_drafts(comparison, user))
    drafts = [{"criterion": c, "shown": shown_expectation(c.expected, c.shown_order)} for c in mine]
    live = comparison.written_criteria.filter(status__in=selectors.LIVE).count()
    return {
        "project": project,
        "comparison": comparison,
        "sides": pair_sides(comparison, swapped=order == ShownOrder.RESPONSE2_LEFT),
        "viewer": response_viewer(comparison),
        "drafts": drafts,
        "has_drafts": any(c.status == CriterionStatus.DRAFT for c in mine),
        "live": live,
        "needed": project.criteria_per_comparison,
    }


@login_required
@require_GET
def write(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    """The writer's next comparison: one with their drafts, else the one that needs criteria most."""
    project, role = get_project_for_member(request.user, slug)
    comparison = selectors.comparison_next_for_writer(project, request.user)
    if comparison is None:
        context = {"project": project, "comparison": None, "curator": role == Role.CURATOR}
        return render(request, "criteria/write.html", context)
    return redirect("criteria:write_comparison", slug=slug, comparison_id=comparison.pk)


@login_required
@require_GET
def write_comparison(request: AuthedHtmxRequest, slug: str, comparison_id: int) -> HttpResponse:
    project, role = get_project_for_member(request.user, slug)
    comparison = get_object_or_404(
        Pair.objects.comparisons().select_related(*Pair.MEDIA_FIELDS), project=project, pk=comparison_id
    )
    context = {**_write_context(project, request.user, comparison), "curator": role == Role.CURATOR}
    return render(request, "criteria/write.html", context)


@login_required
@require_POST
def draft_save(request: AuthedHtmxRequest, slug: str, comparison_id: int) -> HttpResponse:
    """Autosave of one draft (htmx answers with its saved state), or a new empty draft (a plain POST)."""
    project, _ = get_project_for_member(request.user, slug)
    raw_id = request.POST.get("criterion", "")
    try:
        criterion = criterion_draft_save(
            project=project,
            writer=request.user,
            comparison_id=comparison_id,
            criterion_id=int(raw_id) if raw_id.isdigit() else None,
            text=request.POST.get("text", ""),
            expected=request.POST.get("expected", ""),
        )
    except ValidationError as exc:
        if request.htmx:
            return HttpResponse(" ".join(_errors(exc)), status=400)
        for message in _errors(exc):
            messages.error(request, message)
        return redirect("criteria:write_comparison", slug=slug, comparison_id=comparison_id)
    if request.htmx:
        return render(request, "criteria/write.html#draft-saved", {"criterion": criterion})
    return redirect("criteria:write_comparison", slug=slug, comparison_id=comparison_id)


@login_required
@require_POST
def draft_delete(request: AuthedHtmxRequest, slug: str, comparison_id: int, criterion_id: int) -> HttpResponse:
    project, _ = get_project_for_member(request.user, slug)
    try:
        criterion_draft_delete(project=project, writer=request.user, criterion_id=criterion_id)
    except ValidationError as exc:
        for message in _errors(exc):
            messages.error(request, message)
    return redirect("criteria:write_comparison", slug=slug, comparison_id=comparison_id)


@login_required
@require_POST
def submit(request: AuthedHtmxRequest, slug: str, comparison_id: int) -> HttpResponse:
    project, _ = get_project_for_member(request.user, slug)
    try:
        done = criteria_submit(project=project, writer=request.user, comparison_id=comparison_id)
    except ValidationError as exc:
        for message in _errors(exc):
            messages.error(request, message)
        return redirect("criteria:write_comparison", slug=slug, comparison_id=comparison_id)
    messages.success(request, f"Submitted {len(done)} criteri{'on' if len(done) == 1 else 'a'} for review.")
    return redirect("criteria:write", slug=slug)


@login_required
@require_http_methods(["GET", "POST"])
def comparison_new(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    """A curator adds one comparison by hand (it goes through the importer's checks)."""
    project = get_project_for_curator(request.user, slug)
    form = ComparisonForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            comparison = comparison_create(
                project=project,
                comparison=NewComparison(
                    task=data["task"],
                    prompt=data["prompt"],
                    external_id=data["external_id"],
                    response1_text=data["response1_text"],
                    response2_text=data["response2_text"],
                    model1=data["model1"],
                    model2=data["model2"],
                ),
                input_file=data["input_file"],
                response1_file=data["response1_file"],
                response2_file=data["response2_file"],
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, f"Comparison {comparison.external_id} added; writers can write criteria for it.")
            return redirect("criteria:write_comparison", slug=slug, comparison_id=comparison.pk)
    status = 400 if form.errors else 200
    return render(request, "criteria/comparison_form.html", {"project": project, "form": form}, status=status)


@login_required
@require_GET
def review(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    reviews, total = selectors.review_queue(project)
    context = {"project": project, "reviews": reviews, "total": total, "expectations": Expectation.choices}
    return render(request, "criteria/review.html", context)


@login_required
@require_POST
def review_decide(request: AuthedHtmxRequest, slug: str, criterion_id: int) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    decision = request.POST.get("decision", "")
    text = request.POST.get("text")
    expected = request.POST.get("expected")
    try:
        criterion = criterion_review(
            project=project,
            reviewer=request.user,
            criterion_id=criterion_id,
            review=Review(decision=decision, note=request.POST.get("note", ""), text=text, expected=expected),
        )
    except ValidationError as exc:
        for message in _errors(exc):
            messages.error(request, f"Criterion #{criterion_id}: {message}")
    else:
        if criterion.pair is not None:
            messages.success(
                request, f"Criterion #{criterion_id} accepted: pair {criterion.pair.external_id} is in the queue."
            )
        else:
            messages.info(request, f"Criterion #{criterion_id} rejected.")
    return redirect("criteria:review", slug=slug)
