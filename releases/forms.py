from collections.abc import Sequence
from typing import Any

from django import forms

from annotations.models import Label
from core.fields import IdFormField

from .models import Decision, TiePolicy


class GateRuleForm(forms.Form):
    min_votes = forms.IntegerField(
        label="Minimum votes", min_value=1, max_value=100, help_text="Counted votes before a pair is decided."
    )
    min_majority_share = forms.FloatField(
        label="Minimum majority share",
        min_value=0.501,
        max_value=1,
        help_text="0.66 accepts 2 of 3 (as does 0.6667); 1 needs every counted vote to agree.",
    )
    tie_policy = forms.ChoiceField(label="Ties", choices=TiePolicy.choices, widget=forms.RadioSelect)
    min_gold_accuracy = forms.FloatField(
        label="Annotator quality bar",
        required=False,
        min_value=0,
        max_value=1,
        help_text="Accuracy on gold pairs (0 to 1) below which an annotator's votes are not counted. Empty: none.",
    )
    min_gold_judged = forms.IntegerField(
        label="Gold pairs before the bar applies", min_value=1, max_value=10000, initial=5
    )


class AdjudicationForm(forms.Form):
    decision = forms.ChoiceField(choices=Decision.choices, widget=forms.RadioSelect)
    note = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))


class GoldForm(forms.Form):
    gold_label = forms.ChoiceField(required=False, choices=[("", "Not a gold pair"), *Label.choices])


class PublishForm(forms.Form):
    version = IdFormField(widget=forms.HiddenInput, help_text="The version the page offered.")
    notes = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What changed since the last release"}),
    )
    flips_only = forms.BooleanField(
        required=False,
        label="Only criterion flips",
        help_text="Only pairs from comparisons whose settled label flips with the criterion (written criteria).",
    )


class CompareForm(forms.Form):
    old = IdFormField()
    new = IdFormField()


class GoldSampleForm(forms.Form):
    """Per task a count or a share (fields count_<TASK>, share_<TASK>) and a seed; the service checks the rest."""

    seed = forms.IntegerField(
        min_value=0, max_value=2**32 - 1, initial=0, help_text="The same seed draws the same pairs."
    )

    def __init__(self, *args: Any, tasks: Sequence[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tasks = list(tasks)
        for task in self.tasks:
            self.fields[f"count_{task}"] = forms.IntegerField(required=False, label=f"{task} count")
            self.fields[f"share_{task}"] = forms.FloatField(required=False, label=f"{task} share (0 to 1)")

    def sizes(self) -> dict[str, tuple[int | None, float | None]]:
        """(count, share) for every task where either was filled in."""
        data = self.cleaned_data
        return {
            task: (data[f"count_{task}"], data[f"share_{task}"])
            for task in self.tasks
            if data[f"count_{task}"] is not None or data[f"share_{task}"] is not None
        }
