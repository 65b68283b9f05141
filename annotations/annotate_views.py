"""The annotator's workspace: one pair at a time, A/B/Tie from the keyboard, swapped in by htmx.

Everything here is per annotator: the page never carries other annotators' labels, model names,
model votes, imported labels or media file names. Without JavaScript the forms still work (POST,
then redirect back to the workspace).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.http import AuthedHtmxRequest

from .access import get_project_for_member
from .forms import SkipForm, VoteForm
from .models import Project, SkipReason, TieKind
from .services.queue import (
    QueueError,
    Vote,
    button_name,
    record_skip,
    record_vote,
    undo_last,
)
from .services.turns import queue_turn


def _workspace(
    request: AuthedHtmxRequest, project: Project, *, notice: str = "", error: str = "", status: int = 200
) -> HttpResponse:
    turn = queue_turn(project, request.user)
    context: dict[str, Any] = {
        "project": project,
        "progress": turn.progress,
        "notice": notice,
        "error": error,
        "skip_reasons": SkipReason.choices,
        "tie_kinds": TieKind.choices if project.tie_kinds else (),
        "waiting_for_media": turn.waiting_for_media,
    }
    if turn.shown is not None:
        shown = turn.shown
        context.update(
            pair=shown.pair,
            sides=shown.sides,
            viewer=shown.viewer,
            gated=shown.gated,
            submission_id=turn.submission_id,
        )
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
