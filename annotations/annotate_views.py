"""The annotator's workspace: one pair at a time, A/B/Tie from the keyboard, swapped in by htmx.

Everything here is per annotator: the page never carries other annotators' labels, model names,
model votes, imported labels or media file names. Without JavaScript the forms still work (POST,
then redirect back to the workspace).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from . import selectors
from .access import get_project_for_member
from .forms import SkipForm, VoteForm
from .models import Pair, Project, SkipReason, TieKind
from .selectors import Side, pair_sides
from .services.media_ready import pairs_media_refresh_waiting
from .services.queue import (
    GATED_VIEWERS,
    Assignment,
    QueueError,
    Vote,
    button_name,
    progress_for,
    record_skip,
    record_vote,
    response_viewer,
    undo_last,
)
from .services.queue import next_assignment as queue_next
from .views import AuthedHtmxRequest


def _sides(pair: Pair, assignment: Assignment) -> tuple[Side, Side]:
    return pair_sides(pair, swapped=assignment.swapped)


def _workspace(
    request: AuthedHtmxRequest, project: Project, *, notice: str = "", error: str = "", status: int = 200
) -> HttpResponse:
    progress = progress_for(project, request.user)
    assignment = queue_next(project, request.user, done=progress.done)
    context: dict[str, Any] = {
        "project": project,
        "progress": progress,
        "notice": notice,
        "error": error,
        "skip_reasons": SkipReason.choices,
        "tie_kinds": TieKind.choices if project.tie_kinds else (),
    }
    if assignment is not None:
        pair = assignment.pair
        viewer = response_viewer(pair)
        context.update(
            pair=pair,
            sides=_sides(pair, assignment),
            viewer=viewer,
            gated=project.must_view_share is not None and viewer in GATED_VIEWERS,
            submission_id=uuid.uuid4(),
        )
    else:
        waiting = selectors.waiting_for_media(project)
        if waiting.exists() and pairs_media_refresh_waiting(waiting):  # a missed refresh: look again
            return _workspace(request, project, notice=notice, error=error, status=status)
        context["waiting_for_media"] = waiting.count()
    template = "annotations/annotate.html#workspace" if request.htmx else "annotations/annotate.html"
    return render(request, template, context, status=status)


@login_required
@require_GET
def annotate(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project, _ = get_project_for_member(request.user, slug)
    return _workspace(request, project)


def _done(request: AuthedHtmxRequest, project: Project, *, notice: str = "", error: str = "") -> HttpResponse:
    """htmx gets the next pair in place; a plain form post is redirected back (post/redirect/get)."""
    if request.htmx:
        return _workspace(request, project, notice=notice, error=error)
    if error:
        messages.error(request, error)
    elif notice:
        messages.info(request, notice)
    return redirect("annotations:annotate", slug=project.slug)


def _form_error(form: VoteForm | SkipForm) -> str:
    return "; ".join(f"{field}: {' '.join(str(e) for e in errs)}" for field, errs in form.errors.items())


@login_required
@require_POST
def vote(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project, _ = get_project_for_member(request.user, slug)
    form = VoteForm(request.POST)
    if not form.is_valid():
        return HttpResponse(f"Vote refused: {_form_error(form)}", status=400, content_type="text/plain")
    data = form.cleaned_data
    try:
        record_vote(
            project,
            request.user,
            Vote(
                pair_id=data["pair"],
                choice=data["choice"],
                submission_id=data["submission_id"],
                elapsed_ms=data["elapsed_ms"],
                rationale=data["rationale"],
                coverage=data["coverage"],
                tie_kind=data["tie_kind"],
            ),
        )
    except ValidationError as exc:  # a tie kind that does not fit the vote or the project: the pair stays
        refused = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())
        return HttpResponse(f"Vote refused: {refused}", status=400, content_type="text/plain")
    except QueueError as exc:
        return _done(request, project, error=str(exc))
    return _done(request, project)


@login_required
@require_POST
def skip(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project, _ = get_project_for_member(request.user, slug)
    form = SkipForm(request.POST)
    if not form.is_valid():
        return HttpResponse(f"Skip refused: {_form_error(form)}", status=400, content_type="text/plain")
    data = form.cleaned_data
    try:
        made = record_skip(project, request.user, pair_id=data["pair"], reason=data["reason"], note=data["note"])
    except QueueError as exc:
        return _done(request, project, error=str(exc))
    what = "Flagged as broken media" if made.kind == "flag" else "Skipped"
    return _done(request, project, notice=f"{what}. The curators will see it.")


@login_required
@require_POST
def undo(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project, _ = get_project_for_member(request.user, slug)
    try:
        undone = undo_last(project, request.user)
    except QueueError as exc:
        return _done(request, project, error=str(exc))
    earlier = button_name(undone.label, undone.shown_order, undone.tie_kind)
    return _done(request, project, notice=f"Vote withdrawn (you had chosen {earlier}). Vote again on this pair.")
