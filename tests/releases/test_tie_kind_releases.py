"""Tie kinds in releases and on the Agreement page (issue 18, item 7).

A released tie keeps the paper's `tie` label and gets a `tie_kind`: the kind most of its counted tie
votes name, `mixed` on a draw, empty when none named one. The Agreement page shows, per task, how many
of the accepted ties are both bad, and lists them.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pyarrow.parquet as pq
import pytest
from django.urls import reverse

from annotations.models import Label, TieKind
from releases.gate import tie_kind_codes
from releases.models import ReleasePair, ReleaseStatus
from releases.selectors import dashboard
from releases.services.publish import release_publish
from releases.services.quality import adjudication_decide, gate_rule_update, pair_gold_set
from tests.annotations.test_api import api_for
from tests.conftest import client_for
from tests.factories import JudgmentFactory, PairFactory
from tests.releases import test_releases

pytestmark = pytest.mark.django_db
R1, R2, TIE = Label.RESPONSE1, Label.RESPONSE2, Label.TIE
GOOD, BAD = TieKind.BOTH_GOOD, TieKind.BOTH_BAD
voters = test_releases.voters  # the fixture: three annotators of the project
PARQUET = "test-00000-of-00001.parquet"


def _votes(pair, voters, votes):
    for user, vote in zip(voters, votes, strict=False):
        label, kind = (TIE, vote) if vote in (GOOD, BAD, "tie") else (vote, "")
        JudgmentFactory(pair=pair, annotator=user, label=label, tie_kind="" if kind == "tie" else kind)


@pytest.fixture
def labelled(project, curator, voters):
    """T2T pairs: a both-bad tie, a both-good tie, a mixed tie (a curator's decision), a tie whose votes
    name no kind, and an A; one T2I both-bad tie."""
    project.tie_kinds = True
    project.save()
    made = {}
    for name, task, votes in (
        ("bad", "T2T", [BAD, BAD, GOOD]),
        ("good", "T2T", [GOOD, GOOD, R1]),
        ("mixed", "T2T", [GOOD, BAD, R2]),
        ("unnamed", "T2T", ["tie", "tie", "tie"]),
        ("a", "T2T", [R1, R1, R1]),
        ("image-bad", "T2I", [BAD, BAD, BAD]),
    ):
        made[name] = PairFactory(project=project, external_id=name, task=task, response1_text="x", response2_text="y")
        _votes(made[name], voters, votes)
    adjudication_decide(pair=made["mixed"], user=curator, decision=TIE)  # one both good, one both bad
    return made


def test_tie_kind_codes_take_the_majority_mixed_on_a_draw_and_none_without_a_kind():
    label = np.array([2, 2, 2, 2, 0, 2])
    kinds = np.array([[2, 1], [0, 3], [1, 1], [0, 0], [3, 0], [1, 0]])
    assert tie_kind_codes(label, kinds).tolist() == [0, 1, 2, -1, -1, 0]


def test_publish_freezes_each_ties_kind_and_counts_them(project, curator, labelled):
    release = release_publish(project=project, user=curator, bootstrap=0)
    frozen = dict(ReleasePair.objects.filter(release=release).values_list("external_id", "tie_kind"))
    assert frozen == {"bad": BAD, "good": GOOD, "mixed": "mixed", "unnamed": "", "a": "", "image-bad": BAD}
    assert release.summary["tasks"]["T2T"]["tie_kinds"] == {"none": 1, "both_good": 1, "both_bad": 1, "mixed": 1}
    assert release.summary["tasks"]["T2I"]["tie_kinds"] == {"none": 0, "both_good": 0, "both_bad": 1, "mixed": 0}


def test_a_built_release_adds_the_tie_kind_column_everywhere_and_explains_it(
    project, curator, labelled, django_capture_on_commit_callbacks
):
    labelled["image-bad"].delete()  # text pairs only: a T2I pair would need its images stored
    with django_capture_on_commit_callbacks(execute=True):  # the build runs eagerly on commit
        release = release_publish(project=project, user=curator, bootstrap=0)
    release.refresh_from_db()
    assert release.status == ReleaseStatus.READY, release.error
    download = client_for(curator).get(reverse("releases:release_download", args=[project.slug, 1]))
    body = b"".join(download.streaming_content)
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        table = pq.read_table(io.BytesIO(zf.read(f"text_to_text/{PARQUET}")))
        without_tie = pq.read_table(io.BytesIO(zf.read(f"without_tie/text_to_text/{PARQUET}")))
        paper = json.loads(zf.read("text_to_text_preferences.json"))
        manifest = json.loads(zf.read("manifest.json"))
        card = zf.read("README.md").decode()
    rows = {row["id"]: row for row in table.to_pylist()}
    # The paper's label column is unchanged; tie_kind comes last.
    assert table.schema.names[-1] == "tie_kind" and "criteria_preference" in table.schema.names
    assert {i: (r["criteria_preference"], r["tie_kind"]) for i, r in rows.items()} == {
        "a": (R1, ""),
        "bad": (TIE, BAD),
        "good": (TIE, GOOD),
        "mixed": (TIE, "mixed"),
        "unnamed": (TIE, ""),
    }
    assert without_tie.to_pylist() and {r["tie_kind"] for r in without_tie.to_pylist()} == {""}
    assert {r["id"]: r["tie_kind"] for r in paper} == {i: r["tie_kind"] for i, r in rows.items()}
    assert {p["id"]: p["tie_kind"] for p in manifest["pairs"]} == {i: r["tie_kind"] for i, r in rows.items()}
    features = json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]
    assert features["tie_kind"] == {"dtype": "string", "_type": "Value"}
    assert "## Tie kinds" in card and "| T2T | 4 | 1 | 1 | 1 | 1 |" in card and "`mixed` when as many" in card


def test_a_release_without_tie_kinds_keeps_the_papers_columns(
    project, curator, voters, django_capture_on_commit_callbacks
):
    pair = PairFactory(project=project, external_id="only")
    _votes(pair, voters, ["tie", "tie", "tie"])
    with django_capture_on_commit_callbacks(execute=True):
        release = release_publish(project=project, user=curator, bootstrap=0)
    release.refresh_from_db()
    with release.archive.open("rb") as handle, zipfile.ZipFile(handle) as zf:
        names = pq.read_schema(io.BytesIO(zf.read(f"text_to_text/{PARQUET}"))).names
        manifest = json.loads(zf.read("manifest.json"))
        card = zf.read("README.md").decode()
    assert "tie_kind" not in names and "tie_kind" not in manifest["pairs"][0] and "Tie kinds" not in card
    assert "tie_kinds" not in release.summary


def test_the_agreement_page_shows_the_both_bad_share_of_accepted_ties_per_task(project, curator, labelled):
    page = client_for(curator).get(reverse("releases:dashboard", args=[project.slug]))
    html = page.content.decode()
    tasks = {t.task: t for t in page.context["report"].tasks}
    assert (tasks["T2T"].both_bad, tasks["T2T"].released_labels[2]) == (1, 4)
    assert (tasks["T2I"].both_bad, tasks["T2I"].released_labels[2]) == (1, 1)
    assert "Both bad <span" in html and "of accepted ties" in html
    row = html.split('<tr data-task="T2T">')[1].split("</tr>")[0]
    assert "1 of 4 (25%)" in row
    listed = html.split('id="both-bad"')[1].split("</section>")[0]
    assert 'data-pair="bad"' in listed and 'data-pair="image-bad"' in listed and 'data-pair="good"' not in listed
    assert reverse("annotations:pair_detail", args=[project.slug, labelled["bad"].pk]) in listed
    # The API reports the same figure.
    stats = api_for(curator).get(reverse("releases-api:statistics", args=[project.slug]) + "?bootstrap=0").json()
    assert {t["task"]: t["both_bad"] for t in stats["tasks"]} == {"T2T": 1, "T2I": 1}


def test_the_both_bad_figure_leaves_out_votes_below_the_quality_bar(project, curator, voters, labelled):
    gold = PairFactory(project=project, external_id="gold")
    pair_gold_set(pair=gold, label=R1)
    gate_rule_update(
        project=project, user=curator, min_votes=2, min_majority_share=0.6, tie_policy="label",
        min_gold_accuracy=0.5, min_gold_judged=1,
    )  # fmt: skip
    JudgmentFactory(pair=gold, annotator=voters[0], label=R2)  # voter0 is wrong on gold: not counted
    # "bad" keeps voter1 (both bad) and voter2 (both good): a draw, mixed, no longer both bad; the decided
    # tie "mixed" keeps only voter1's both bad and becomes both bad.
    report = dashboard(project, bootstrap=0)
    assert {t.task: t.both_bad for t in report.tasks} == {"T2T": 1, "T2I": 1}
    assert [p.external_id for p in report.both_bad_pairs] == ["image-bad", "mixed"]


def test_without_tie_kinds_the_agreement_page_has_no_both_bad_column(project, curator, voters):
    _votes(PairFactory(project=project), voters, ["tie", "tie", "tie"])
    html = client_for(curator).get(reverse("releases:dashboard", args=[project.slug])).content.decode()
    assert "of accepted ties" not in html and 'id="both-bad"' not in html
