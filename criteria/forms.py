from django import forms

from annotations.models import Task


class ComparisonForm(forms.Form):
    task = forms.ChoiceField(choices=Task.choices)
    external_id = forms.CharField(required=False, max_length=200, label="Id", help_text="Blank: one is made up.")
    prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    input_file = forms.FileField(required=False, label="Input media", help_text="TI2T, TV2T, TA2T and TI2I.")
    response1_text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), label="Response 1")
    response1_file = forms.FileField(required=False, label="Response 1 media", help_text="Tasks with media answers.")
    response2_text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), label="Response 2")
    response2_file = forms.FileField(required=False, label="Response 2 media")
    model1 = forms.CharField(required=False, max_length=200, help_text="Never shown to writers or labellers.")
    model2 = forms.CharField(required=False, max_length=200)
