from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.http import AuthedHtmxRequest
from media_pipeline import pipeline

from . import selectors
from .access import can_create_projects, get_project_for_curator, require_project_creator
from .forms import ImportForm, MemberAddForm, MemberRoleForm, ProjectCreateForm, ProjectSettingsForm
from .models import TASK_SPECS, ImportJob, Label, Membership, Pair, Project
from .services.import_jobs import import_job_create, import_job_resume, import_progress
from .services.media_ready import pairs_media_refresh_waiting
from .services.members import MembershipError, membership_add, membership_remove, membership_role_change
from .services.projects import EDITABLE, project_create, project_settings_update

_PAIRS_PER_PAGE = 50


@login_required
@require_GET
def project_list(request: AuthedHtmxRequest) -> HttpResponse:
    context = {"rows": selectors.projects_for_user(request.user), "can_create": can_create_projects(request.user)}
    return render(request, "annotations/project_list.html", context)


def _form_errors(form: forms.Form, exc: ValidationError) -> None:
    """A service's refusal, shown on the form: under the field it names, or above the form."""
    for field, errors in exc.message_dict.items():
        for error in errors:
            form.add_error(field if field in form.fields else None, error)


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request: AuthedHtmxRequest) -> HttpResponse:
    require_project_creator(request.user)
    form = ProjectCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = project_create(
                user=request.user,
                name=form.cleaned_data["name"],
                slug=form.cleaned_data["slug"],
                settings=form.settings(),
                gate=form.gate(),
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, f"Project {project.name} created; you are its curator. Add members below.")
            return redirect("annotations:project_members", slug=project.slug)
    return render(request, "annotations/project_new.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_GET
def project_detail(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    # Curators only: this page shows model names and imported labels, which annotators must never see.
    project = get_project_for_curator(request.user, slug)
    task = request.GET.get("task", "")
    task = task if task in TASK_SPECS else ""
    query = request.GET.get("q", "").strip()[:200]
    page = Paginator(selectors.pair_list(project, task=task, query=query), _PAIRS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "project": project,
        "task_counts": selectors.task_counts(project),
        "media_counts": selectors.project_media_counts(project),
        "imports": selectors.recent_imports(project, limit=5),
        "labelling": selectors.annotation_overview(project),
        "page": page,
        "task": task,
        "query": query,
    }
    if request.htmx:
        return render(request, "annotations/project_detail.html#pair-table", context)
    return render(request, "annotations/project_detail.html", context)


@login_required
@require_GET
def pair_detail(request: AuthedHtmxRequest, slug: str, pair_id: int) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    pair = get_object_or_404(
        Pair.objects.select_related(*Pair.MEDIA_FIELDS, "import_job"),
        project=project,
        id=pair_id,
    )
    context = {
        "project": project,
        "pair": pair,
        "gold_choices": Label.choices,
        "skips": pair.skips.select_related("annotator"),
        "held": pair.reservations.filter(expires_at__gt=timezone.now()).count(),
        "media_files": [(name, asset) for name, asset in selectors.pair_media(pair) if asset is not None],
        **selectors.pair_view_context(pair, False),
    }
    return render(request, "annotations/pair_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    initial = {field: getattr(project, field) for field in EDITABLE}
    form = ProjectSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changed = {field: form.cleaned_data[field] for field in form.changed_data}
        try:
            project_settings_update(project=project, changes=changed)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, "Settings saved." if changed else "Nothing changed.")
            return redirect("annotations:project_settings", slug=project.slug)
    status = 400 if form.errors else 200
    return render(request, "annotations/project_settings.html", {"project": project, "form": form}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def import_start(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = import_job_create(
                project=project,
                user=request.user,
                data_upload=form.cleaned_data["data_file"],
                media_upload=form.cleaned_data["media_file"],
                default_task=form.cleaned_data["default_task"],
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            return redirect("annotations:import_detail", slug=project.slug, job_id=job.id)
    context = {"project": project, "form": form, "imports": selectors.recent_imports(project, limit=20)}
    return render(request, "annotations/import_form.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def import_detail(request: AuthedHtmxRequest, slug: str, job_id: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    job = get_object_or_404(ImportJob.objects.select_related("created_by"), project=project, id=job_id)
    context = {"project": project, "job": job, "progress": import_progress(job)}
    if request.htmx:
        return render(request, "annotations/import_detail.html#job-status", context)
    return render(request, "annotations/import_detail.html", context)


@login_required
@require_POST
def import_resume(request: AuthedHtmxRequest, slug: str, job_id: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    job = get_object_or_404(ImportJob, project=project, id=job_id)
    if import_job_resume(job=job):
        messages.info(request, "The import was sent back to the workers; it runs again from the uploaded files.")
    else:
        messages.info(request, "This import is not stalled; nothing to resume.")
    return redirect("annotations:import_detail", slug=slug, job_id=job.id)


@login_required
@require_GET
def media_status(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    """The media pipeline for this project; htmx polls the status block while jobs are queued or running."""
    project = get_project_for_curator(request.user, slug)
    pairs_media_refresh_waiting(Pair.objects.filter(project=project))
    context = {"project": project, "pipeline": selectors.pipeline_overview(project)}
    if request.htmx:
        return render(request, "annotations/media_status.html#pipeline", context)
    return render(request, "annotations/media_status.html", context)


@login_required
@require_POST
def media_retry(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    """Send failed assets (one, or all of the project's) and those whose worker died back to the queue."""
    project = get_project_for_curator(request.user, slug)
    assets = selectors.project_assets(project)
    asset_id = request.POST.get("asset", "")
    if asset_id:
        if not (asset_id.isascii() and asset_id.isdigit()):
            return HttpResponse(
                f"Retry refused: asset: {asset_id[:50]!r} is not an asset number.",
                status=400,
                content_type="text/plain",
            )
        assets = assets.filter(pk=int(asset_id))
    retried = pipeline.retry(assets.values_list("pk", flat=True))
    plural = "s" if retried != 1 else ""
    messages.info(request, f"{retried} file{plural} queued again." if retried else "Nothing to retry.")
    return redirect("annotations:media_status", slug=project.slug)


def _members_page(request: AuthedHtmxRequest, project: Project, add_form: MemberAddForm, status: int) -> HttpResponse:
    context = {
        "project": project,
        "members": selectors.project_members(project),
        "add_form": add_form,
        "role_form": MemberRoleForm(),
    }
    return render(request, "annotations/project_members.html", context, status=status)


def _member(project: Project, username: str) -> Membership:
    if "\x00" in username:  # no username holds a NUL, and PostgreSQL refuses one in a query
        raise Http404("No such member.")
    members = Membership.objects.select_related("user", "project")
    return get_object_or_404(members, project=project, user__username=username)


@login_required
@require_GET
def project_members(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    return _members_page(request, project, MemberAddForm(), 200)


@login_required
@require_POST
def member_add(request: AuthedHtmxRequest, slug: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        user, role = form.cleaned_data["username"], form.cleaned_data["role"]
        try:
            membership_add(project=project, user=user, role=role)
        except MembershipError as exc:
            form.add_error("username", str(exc))
        else:
            messages.success(request, f"{user.username} added as {role}.")
            return redirect("annotations:project_members", slug=project.slug)
    return _members_page(request, project, form, 400)


@login_required
@require_POST
def member_role(request: AuthedHtmxRequest, slug: str, username: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    membership = _member(project, username)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Role not changed: {form.errors['role'][0]}")
    else:
        try:
            membership = membership_role_change(membership=membership, role=form.cleaned_data["role"])
        except MembershipError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{username} is now {membership.role}.")
    return _after_member_change(request, project)


@login_required
@require_POST
def member_remove(request: AuthedHtmxRequest, slug: str, username: str) -> HttpResponse:
    project = get_project_for_curator(request.user, slug)
    try:
        membership_remove(membership=_member(project, username))
    except MembershipError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{username} removed from {project.name}.")
    return _after_member_change(request, project)


def _after_member_change(request: AuthedHtmxRequest, project: Project) -> HttpResponse:
    """Back to the member list, unless the curator just gave up curating this project."""
    try:
        get_project_for_curator(request.user, project.slug)
    except (Http404, PermissionDenied):
        return redirect(reverse("annotations:project_list"))
    return redirect("annotations:project_members", slug=project.slug)
