from django import forms

from .models import SkipReason, Task


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

    pair = forms.IntegerField(min_value=1)
    choice = forms.ChoiceField(choices=[("A", "A"), ("B", "B"), ("tie", "Tie")])
    submission_id = forms.UUIDField()
    elapsed_ms = forms.IntegerField(required=False, min_value=0, max_value=24 * 3600 * 1000)
    rationale = forms.CharField(required=False, max_length=5000, strip=True)
    coverage = forms.JSONField(required=False)

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
    pair = forms.IntegerField(min_value=1)
    reason = forms.ChoiceField(choices=SkipReason.choices)
    note = forms.CharField(required=False, max_length=500, strip=True)


class ProjectSettingsForm(forms.Form):
    """A curator's project settings; the service checks the ranges and says which is wrong."""

    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    votes_per_pair = forms.IntegerField(label="Votes per pair (overlap k)")
    reservation_minutes = forms.IntegerField(label="Reservation (minutes)")
    gold_share = forms.FloatField(label="Gold share", help_text="Share of turns that serve a gold pair (0 to 1).")
    must_view_share = forms.FloatField(
        required=False, label="Must-view share", help_text="Votes unlock after this share played; empty: off."
    )
    criteria_per_comparison = forms.IntegerField(label="Criteria per comparison")
    writing_guidance = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), help_text="Shown to criterion writers."
    )
