from django import forms

from .models import Task


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
