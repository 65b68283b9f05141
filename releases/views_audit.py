"""The label audit page: imported labels against our annotators' consensus, and the two actions it offers."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from annotations.access import get_project_for_curator
from annotations.models import Task
from core.http import AuthedHtmxRequest

from . import selectors_audit
from .forms import GoldSampleForm
from .selectors import TASKS
from .services.audit import DISAGREES, MAX_REASON, SampleSize, adjudication_request_send, gold_sample_draw

_PER_PAGE = 50
_BOOTSTRAP = 1000


def _task(value: str | None) -> str:
    return value if value in Task.values else ""


@login_required
@require_GET
def label_audit(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    task = _task(request.GET.get("task"))
    # The disagreement table (filtering, paging) is swapped in by htmx: its statistics are not needed.
    audit = selectors_audit.label_audit(project, bootstrap=0 if request.htmx else _BOOTSTRAP)
    page = Paginator(audit.disagreement_indexes(task), _PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "project": project,
        "audit": audit,
        "interval": selectors_audit.KAPPA_INTERVAL,
        "task": task,
        "tasks": [t for t in audit.tasks if t.imported],
        "page": page,
        "rows": selectors_audit.disagreements(audit, list(page)),
        "reason": DISAGREES,
        "max_reason": MAX_REASON,
        "gold": selectors_audit.gold_candidates(project),
    }
    if request.htmx:
        return render(request, "releases/label_audit.html#disagreements", context)
    return render(request, "releases/label_audit.html", context)


@login_required
@require_POST
def label_audit_send(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    """Send the ticked disagreements, or every disagreement of a task, to the adjudication queue."""
    project = get_project_for_curator(request.user, slug)
    task = _task(request.POST.get("task"))
    back = reverse("releases:label_audit", args=[project.slug]) + (f"?task={task}" if task else "")
    if request.POST.get("scope") == "all":
        audit = selectors_audit.label_audit(project, bootstrap=0)
        pair_ids = [int(audit.pair_ids[i]) for i in audit.disagreement_indexes(task)]
    else:
        raw = request.POST.getlist("pairs")
        if not all(value.isdigit() for value in raw):
            messages.error(request, "Nothing sent: pairs must be pair ids.")
            return redirect(back)
        pair_ids = [int(value) for value in raw]
    try:
        sent = adjudication_request_send(
            project=project, user=request.user, pair_ids=pair_ids, reason=request.POST.get("reason", DISAGREES)
        )
    except ValidationError as exc:
        messages.error(request, "Nothing sent: " + " ".join(exc.messages))
        return redirect(back)
    already = f" ({sent.already_queued:,} already waiting there)" if sent.already_queued else ""
    messages.success(request, f"{sent.sent:,} pair{'s' if sent.sent != 1 else ''} sent to adjudication{already}.")
    return redirect(back)


@login_required
@require_POST
def label_audit_gold(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    """Make a seeded sample of each chosen task's imported labels gold."""
    project = get_project_for_curator(request.user, slug)
    back = reverse("releases:label_audit", args=[project.slug]) + "#gold"
    form = GoldSampleForm(request.POST, tasks=TASKS)
    if not form.is_valid():
        messages.error(request, f"No gold made: {form.errors.as_text()}")
        return redirect(back)
    sizes = {task: SampleSize(count=count, share=share) for task, (count, share) in form.sizes().items()}
    try:
        results = gold_sample_draw(project=project, sizes=sizes, seed=form.cleaned_data["seed"])
    except ValidationError as exc:
        messages.error(request, "No gold made: " + " ".join(exc.messages))
        return redirect(back)
    for r in results:
        before = f", {r.already_gold:,} of the drawn were gold already" if r.already_gold else ""
        messages.success(
            request,
            f"{r.task}: {r.made_gold:,} made gold ({r.drawn:,} drawn of {r.candidates:,} imported labels{before}).",
        )
    return redirect(back)
