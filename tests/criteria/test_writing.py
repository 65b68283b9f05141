"""Criterion writing, from an imported comparison to labelled pairs and the criterion-flip signal."""

from __future__ import annotations

import uuid

import orjson
import pytest
from django.urls import reverse

from annotations.models import Label, Pair, PairKind, Role
from annotations.services.pair_import import pair_import
from annotations.services.queue import next_assignment, shown_order_for
from criteria.models import Criterion, CriterionStatus, Expectation
from criteria.selectors import near_duplicates, side_words, signals
from criteria.services import expectation_of
from tests.conftest import client_for
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _comparisons(tmp_path, project, rows: int = 1) -> list[Pair]:
    path = tmp_path / "comparisons.jsonl"
    lines = [
        {"id": f"cmp-{n}", "task": "T2T", "prompt": "Write a haiku about autumn.", "criteria": "",
         "response1": "Leaves fall, red and gold / the wind carries them away / silence in the park",
         "response2": "Autumn is a season that comes after summer and before winter.",
         "model1": "gpt-x", "model2": "llama-y"}
        for n in range(rows)
    ]  # fmt: skip
    path.write_bytes(b"\n".join(orjson.dumps(row) for row in lines) + b"\n")
    result = pair_import(project=project, data_path=path)
    assert result.ok, result.problems
    assert f"imported as a comparison for criterion writing ({rows}x)" in " ".join(result.summary["warnings"])
    return list(Pair.objects.filter(project=project, kind=PairKind.COMPARISON).order_by("id"))


def _member(project, name: str, role: str = Role.ANNOTATOR):
    return MembershipFactory(project=project, role=role, user=UserFactory(username=name)).user


def test_rows_without_a_criterion_import_as_comparisons_that_nobody_labels(project, tmp_path, annotator):
    (comparison,) = _comparisons(tmp_path, project)
    assert comparison.criterion == "" and comparison.kind == PairKind.COMPARISON
    assert next_assignment(project, annotator) is None  # comparisons are written for, not labelled


def test_a_label_without_a_criterion_is_a_problem_on_its_row(project, tmp_path):
    path = tmp_path / "bad.jsonl"
    row = {"id": "x", "task": "T2T", "prompt": "p", "response1": "a", "response2": "b", "criteria_preference": "tie"}
    path.write_bytes(orjson.dumps(row) + b"\n")
    result = pair_import(project=project, data_path=path, data_label="bad.jsonl")
    assert not result.ok
    (problem,) = result.problems
    assert (problem.file, problem.row, problem.field) == ("bad.jsonl", 1, "criteria_preference")
    assert "without a criterion" in problem.message


def test_side_and_model_names_and_near_duplicates_are_caught():
    assert side_words("Prefer the left one, it rhymes") == ["the left one"]
    assert side_words("Response A is more vivid") == ["Response A"]
    assert side_words("Prefer the second.") == ["the second"]
    assert side_words("Choose response #1 when unsure") == ["response #1"]
    assert side_words("The image on the right is sharper") == ["on the right"]
    # Ordinary words are not sides: "right", "left out", "an image a child", "the first step".
    for fine in ("Prefer the answer with vivid imagery of falling leaves", "It gets the dates right",
                 "Nothing is left out", "An image a child would enjoy", "The first step matters most"):  # fmt: skip
        assert side_words(fine) == [], fine
    pairs = near_duplicates(
        [
            "Prefer the response with vivid imagery.",
            "prefer the response with VIVID imagery",
            "Prefer factual accuracy.",
        ]
    )
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)]


def test_write_review_label_and_count_the_flip(project, curator, tmp_path, django_capture_on_commit_callbacks):
    project.criteria_per_comparison = 2
    project.votes_per_pair = 2
    project.writing_guidance = "Write criteria a careful reader would care about."
    project.save()
    (comparison,) = _comparisons(tmp_path, project)
    writer = _member(project, "wren")
    labellers = [_member(project, f"lab{i}") for i in range(2)]

    # The writer sees the comparison with the guidance, writes two drafts that survive a reload.
    client = client_for(writer)
    page = client.get(reverse("criteria:write", args=[project.slug]), follow=True).content.decode()
    assert "Write criteria a careful reader would care about." in page
    assert "gpt-x" not in page and "llama-y" not in page  # writers never see model names
    write_url = reverse("criteria:write_comparison", args=[project.slug, comparison.pk])
    draft_url = reverse("criteria:draft_save", args=[project.slug, comparison.pk])
    order = shown_order_for(writer.pk, comparison.pk)
    poem_side = next(c for c in ("A", "B") if expectation_of(c, order) == Label.RESPONSE1)
    plain_side = "B" if poem_side == "A" else "A"
    for text, side in (
        ("Prefer the response that is a real haiku with seasonal imagery.", poem_side),
        ("Prefer the response that plainly explains what autumn is.", plain_side),
    ):
        client.post(draft_url, {"text": ""})  # "Add a criterion"
        draft = Criterion.objects.filter(writer=writer, text="").get()
        saved = client.post(draft_url, {"criterion": draft.pk, "text": text, "expected": side}, HTTP_HX_REQUEST="true")
        assert saved.status_code == 200 and "Saved" in saved.content.decode()
    page = client.get(write_url).content.decode()
    assert "a real haiku with seasonal imagery" in page and "plainly explains" in page
    response = client.post(reverse("criteria:submit", args=[project.slug, comparison.pk]), follow=True)
    assert "Submitted 2 criteria for review." in response.content.decode()
    expected = dict(Criterion.objects.values_list("text", "expected"))
    assert sorted(expected.values()) == [Expectation.RESPONSE1, Expectation.RESPONSE2]

    # The curator reviews and accepts both: each becomes a labelling pair.
    review = client_for(curator)
    page = review.get(reverse("criteria:review", args=[project.slug])).content.decode()
    assert "a real haiku" in page and "wren" in page
    for criterion in Criterion.objects.order_by("id"):
        review.post(reverse("criteria:review_decide", args=[project.slug, criterion.pk]), {"decision": "accept"})
    pairs = list(Pair.objects.filter(comparison=comparison).order_by("id"))
    assert len(pairs) == 2 and all(p.written_by == writer and p.kind == PairKind.PAIR for p in pairs)
    assert {p.criterion for p in pairs} == set(expected)

    # The writer is never handed them; labellers are, without the writer's expectation.
    assert next_assignment(project, writer) is None
    haiku_pair = next(p for p in pairs if "haiku" in p.criterion)
    for labeller in labellers:
        lab = client_for(labeller)
        for _ in pairs:
            page = lab.get(reverse("annotations:annotate", args=[project.slug])).content.decode()
            assert "gpt-x" not in page and "response1" not in page and "favour" not in page
            assignment = next_assignment(project, labeller)
            assert assignment is not None
            winner = Label.RESPONSE1 if assignment.pair.pk == haiku_pair.pk else Label.RESPONSE2
            button = next(c for c in ("A", "B") if expectation_of(c, assignment.shown_order) == winner)
            voted = lab.post(
                reverse("annotations:vote", args=[project.slug]),
                {
                    "pair": assignment.pair.pk,
                    "choice": button,
                    "submission_id": str(uuid.uuid4()),
                    "elapsed_ms": "4000",
                },
            )
            assert voted.status_code in (200, 302)
    # Consensus follows each criterion: the label flips between the two criteria of one comparison.
    found = signals(project)
    assert [(f.task, f.comparisons, f.flips) for f in found.flips] == [("T2T", 1, 1)]
    assert found.flipped_comparisons == {comparison.pk}
    (wren,) = found.writers
    assert (wren.writer, wren.accepted, wren.settled, wren.matched) == ("wren", 2, 2, 2)
    assert Criterion.objects.filter(status=CriterionStatus.ACCEPTED).count() == 2
    board = review.get(reverse("releases:dashboard", args=[project.slug])).content.decode()
    assert 'id="written-criteria"' in board and '<td class="num" data-flips>1</td>' in board
    assert '<tr data-writer="wren">' in board


def _png(colour: str) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), colour).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_curator_adds_comparisons_by_hand_checked_like_an_import(project, curator):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_for(curator)
    url = reverse("criteria:comparison_new", args=[project.slug])
    made = client.post(
        url, {"task": "T2T", "prompt": "Say hello.", "response1_text": "Hello!", "response2_text": "Hi."}
    )
    comparison = Pair.objects.get(project=project, kind=PairKind.COMPARISON)
    assert made.status_code == 302 and made["Location"].endswith(f"/write/{comparison.pk}/")
    assert (comparison.task, comparison.response1_text, comparison.criterion) == ("T2T", "Hello!", "")

    # A media task: the input image and both response images are probed and stored by content.
    files = {
        "input_file": SimpleUploadedFile("in.png", _png("red")),
        "response1_file": SimpleUploadedFile("a.png", _png("green")),
        "response2_file": SimpleUploadedFile("b.png", _png("blue")),
    }
    made = client.post(url, {"task": "TI2I", "prompt": "Make it blue.", "external_id": "edit-1", **files})
    edit = Pair.objects.get(project=project, external_id="edit-1")
    assert made.status_code == 302 and edit.input_media.kind == "image" and edit.response2_media.kind == "image"

    # Problems come back on the field they are about, and nothing is stored.
    broken = client.post(url, {"task": "T2I", "prompt": "A cat.", "response1_file": SimpleUploadedFile("a.png", b"no")})
    page = broken.content.decode()
    assert broken.status_code == 400
    assert 'data-field="response1_file"' in page and 'data-field="response2_file"' in page
    taken = client.post(url, {"task": "T2T", "prompt": "p", "external_id": "edit-1", "response1_text": "a",
                              "response2_text": "b"})  # fmt: skip
    assert taken.status_code == 400 and "already" in taken.content.decode()
    assert Pair.objects.filter(project=project).count() == 2
    page = client.get(reverse("annotations:pair_detail", args=[project.slug, comparison.pk])).content.decode()
    assert "A comparison: criteria written for it" in page and "None yet." in page
