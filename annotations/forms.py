from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User

from core.fields import IdFormField
from releases.forms import GateRuleForm
from releases.models import GateRule, TiePolicy

from .models import Project, Role, SkipReason, Task, TieKind


class ImportForm(forms.Form):
    data_file = forms.FileField(
        label="Data",
        help_text="A release zip (<config>/test-*.parquet + media_data/), a .jsonl file, or a .parquet file.",
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,.jsonl,.parquet"}),
    )
    media_file = forms.FileField(
        label="Media archive",
        required=False,
        help_text="Optional zip of the media that the rows' relative paths point at.",
        widget=forms.ClearableFileInput(attrs={"accept": ".zip"}),
    )
    default_task = forms.ChoiceField(
        label="Task for rows without one",
        required=False,
        choices=[("", "— rows name their task —"), *Task.choices],
    )


class VoteForm(forms.Form):
    """What the workspace posts for a vote; the sides are mapped on the server, never by the client."""

    pair = IdFormField()
    choice = forms.ChoiceField(required=False, choices=[("A", "A"), ("B", "B"), ("tie", "Tie")])
    # Whether the project asks for it, and that it goes with a tie only, is the queue service's call.
    tie_kind = forms.ChoiceField(required=False, choices=[("", "none"), *TieKind.choices])
    submission_id = forms.UUIDField()
    elapsed_ms = forms.IntegerField(required=False, min_value=0, max_value=24 * 3600 * 1000)
    rationale = forms.CharField(required=False, max_length=5000, strip=True)
    coverage = forms.JSONField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("choice") and "choice" not in self.errors:
            if data.get("tie_kind"):
                data["choice"] = "tie"  # the workspace's tie-kind buttons send the kind alone: a tie of that kind
            else:
                self.add_error("choice", "This field is required: A, B or tie.")
        return data

    def clean_coverage(self) -> dict[str, float]:
        raw = self.cleaned_data.get("coverage") or {}
        if not isinstance(raw, dict):
            raise forms.ValidationError('Coverage must be an object like {"A": 0.9, "B": 1.0}.')
        cleaned: dict[str, float] = {}
        for side, value in raw.items():
            if side not in ("A", "B") or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise forms.ValidationError(f"Coverage for {side!r} must be a number from 0 to 1.")
            cleaned[side] = round(float(value), 4)
        return cleaned


class SkipForm(forms.Form):
    pair = IdFormField()
    reason = forms.ChoiceField(choices=SkipReason.choices)
    note = forms.CharField(required=False, max_length=500, strip=True)


class ProjectSettingsForm(forms.Form):
    """A curator's project settings; the service checks the ranges and says which is wrong."""

    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    votes_per_pair = forms.IntegerField(label="Votes per pair (overlap k)")
    reservation_minutes = forms.IntegerField(label="Reservation (minutes)")
    gold_share = forms.FloatField(label="Gold share", help_text="Share of turns that serve a gold pair (0 to 1).")
    must_view_share = forms.FloatField(
        required=False, label="Must-view share", help_text="Votes unlock after this share played; empty: off."
    )
    criteria_per_comparison = forms.IntegerField(label="Criteria per comparison")
    writing_guidance = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 10}), help_text="Shown to criterion writers."
    )
    tasks = forms.MultipleChoiceField(
        required=False,
        choices=[(task, f"{task} · {label}") for task, label in Task.choices],
        widget=forms.CheckboxSelectMultiple,
        help_text="Imports refuse rows of other tasks; none ticked: any of the nine.",
    )
    tie_kinds = forms.BooleanField(
        required=False,
        label="Tie kinds",
        help_text="A tie also says whether both responses are good or both bad (3, then 1 or 2). Releases add a "
        "tie_kind column; the Agreement page shows the both-bad share of ties per task.",
    )


GATE_FIELDS = tuple(GateRuleForm.base_fields)


class ProjectCreateForm(ProjectSettingsForm, GateRuleForm):
    """A new project: its settings and its agreement gate; project_create checks the values by name."""

    slug = forms.CharField(
        required=False,
        max_length=80,
        help_text="Its address: /projects/<slug>/. Letters, digits and hyphens; empty: made from the name.",
    )
    field_order = ["name", "slug", "description", "votes_per_pair", "writing_guidance"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # What an unsaved project and rule hold: the model defaults, shown as the starting values.
        unsaved = Project()
        defaults = {name: getattr(unsaved, name) for name in ProjectSettingsForm.base_fields}
        gate = {**GateRule().as_dict(), "min_votes": None}
        kwargs["initial"] = {**defaults, **gate, **kwargs.get("initial", {})}
        super().__init__(*args, **kwargs)
        self.fields["min_votes"].required = False
        self.fields["tie_policy"].widget = forms.Select(choices=TiePolicy.choices)  # radios nest badly in a label
        self.fields["min_votes"].help_text = "Counted votes before a pair is decided; empty: the votes per pair."

    @property
    def project_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name not in GATE_FIELDS]

    @property
    def gate_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in GATE_FIELDS]

    def settings(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in ProjectSettingsForm.base_fields if name != "name"}

    def gate(self) -> dict[str, Any] | None:
        """The gate rule to save, or None when the creator left it as shown (the default rule, following k)."""
        if not set(self.changed_data) & set(GATE_FIELDS):
            return None
        return {name: self.cleaned_data[name] for name in GATE_FIELDS}


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)

    def clean_username(self) -> User:
        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise forms.ValidationError(f"No user named {username!r}: they need an account first.")
        return user


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
