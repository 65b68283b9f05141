from django import forms

from annotations.models import Task

from .models import RUNNABLE, Judge, JudgeKind


class JudgeForm(forms.ModelForm):
    kind = forms.ChoiceField(label="Judge kind", choices=[(k.value, k.label) for k in RUNNABLE])
    base_url = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text="Endpoint judges: the API base, e.g. http://vllm.internal:8000/v1.",
    )

    class Meta:
        model = Judge
        fields = ["name", "kind", "base_url", "model", "api_key_env", "concurrency", "timeout_s", "retries",
                  "requests_per_minute"]  # fmt: skip

    def clean(self) -> dict:
        data = super().clean() or {}
        if data.get("kind") == JudgeKind.ENDPOINT:
            for field in ("base_url", "model"):
                if not data.get(field):
                    self.add_error(field, "An endpoint judge needs this.")
        concurrency = data.get("concurrency")
        if concurrency is not None and not 1 <= concurrency <= 64:
            self.add_error("concurrency", "Between 1 and 64 requests at once.")
        timeout = data.get("timeout_s")
        if timeout is not None and not 0 < timeout <= 3600:
            self.add_error("timeout_s", "Between 0 and 3,600 seconds.")
        retries = data.get("retries")
        if retries is not None and retries > 10:
            self.add_error("retries", "At most 10 retries.")
        return data


class RunForm(forms.Form):
    tasks = forms.MultipleChoiceField(choices=Task.choices, widget=forms.CheckboxSelectMultiple)
    with_tie = forms.BooleanField(required=False, label="With tie ([[C]] allowed)")
    both_orders = forms.BooleanField(required=False, label="Also ask with the responses swapped (position consistency)")


_FROM_NAME = ("", "From the file name")
_BOOL = {"": None, "true": True, "false": False}


class ResultFileForm(forms.Form):
    kind = forms.ChoiceField(
        label="The file holds",
        choices=[("preferences", "Preferences: {model}_preferences(_with_tie).json"), ("scores", "Scalar scores")],
    )
    file = forms.FileField(
        help_text="JSON, JSONL or CSV (scores), or a zip of the paper's evaluation folders "
        "(<task>/<model>_preferences.json, several models at once); records matched to pairs by id. "
        "A file replaces only the answers for the pairs it holds."
    )
    model = forms.CharField(required=False, max_length=120, help_text="Model name, if the file name does not say it.")
    with_tie = forms.TypedChoiceField(
        label="Variant",
        required=False,
        choices=[_FROM_NAME, ("true", "w/ Tie: answers to the with-tie question"), ("false", "w/o Tie")],
        coerce=_BOOL.__getitem__,
        empty_value=None,
        help_text="Preferences only: …_with_tie in the name means the with-tie question.",
    )
    inversed = forms.TypedChoiceField(
        label="Order",
        required=False,
        choices=[_FROM_NAME, ("false", "As stored (response1 shown first)"), ("true", "Swapped (_inversed run)")],
        coerce=_BOOL.__getitem__,
        empty_value=None,
        help_text="Swapped runs count toward position consistency.",
    )
