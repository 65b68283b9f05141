"""The label audit as a curator uses it: imported labels against our consensus, sending disagreements to
adjudication, and turning a seeded sample of imported labels into gold. Every number is recomputed here
from the labels themselves (kappa and the Wilson interval by hand), not read back from the code under test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from annotations.models import Judgment, Label, Pair, PairKind
from releases.models import Adjudication, AdjudicationRequest
from releases.selectors_audit import disagreements, label_audit
from releases.services.audit import DISAGREES, SampleSize, adjudication_request_send, gold_sample_draw
from releases.services.quality import adjudication_decide
from releases.stats.audit import compare
from tests.conftest import client_for
from tests.factories import MembershipFactory, PairFactory, ProjectFactory, UserFactory
from tests.releases import test_releases
from tests.releases.test_api import api
from tests.releases.test_releases import votes

pytestmark = pytest.mark.django_db

R1, R2, TIE = Label.RESPONSE1, Label.RESPONSE2, Label.TIE
CODES = {R1: 0, R2: 1, TIE: 2}
voters = test_releases.voters  # the fixture: three annotators of the project


# --- independent arithmetic ------------------------------------------------------------------------


def hand_kappa(pairs: list[tuple[str, str]]) -> float:
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    chance = sum((sum(a == c for a, _ in pairs) / n) * (sum(b == c for _, b in pairs) / n) for c in (R1, R2, TIE))
    return (observed - chance) / (1 - chance)


def hand_wilson(k: int, n: int) -> tuple[float, float]:
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def hand_confusion(pairs: list[tuple[str, str]]) -> dict[str, dict[str, int]]:
    return {a: {b: sum(p == (a, b) for p in pairs) for b in (R1, R2, TIE)} for a in (R1, R2, TIE)}


# --- the statistics --------------------------------------------------------------------------------


def test_kappa_agreement_and_confusion_match_a_hand_computation():
    rng = np.random.default_rng(5)
    imported = rng.choice([R1, R2, TIE], size=400, p=[0.45, 0.4, 0.15]).tolist()
    # The consensus agrees three times in four, otherwise picks at random.
    consensus = [a if rng.random() < 0.75 else str(rng.choice([R1, R2, TIE])) for a in imported]
    pairs = list(zip(imported, consensus, strict=True))

    result = compare([CODES[a] for a in imported], [CODES[b] for b in consensus], bootstrap=2000, seed=3)

    expected = hand_kappa(pairs)
    assert result.kappa.value == pytest.approx(expected)
    assert result.confusion.tolist() == [list(row.values()) for row in hand_confusion(pairs).values()]
    agreed = sum(a == b for a, b in pairs)
    assert (result.compared, result.agreed) == (400, agreed)
    assert result.agreement.value == pytest.approx(agreed / 400)
    assert (result.agreement.low, result.agreement.high) == pytest.approx(hand_wilson(agreed, 400))
    # The bootstrap interval agrees with the large-sample one (Cohen 1960: SE = sqrt(po (1 - po) / n) / (1 - pe)).
    po = agreed / 400
    pe = sum((imported.count(c) / 400) * (consensus.count(c) / 400) for c in (R1, R2, TIE))
    se = math.sqrt(po * (1 - po) / 400) / (1 - pe)
    assert result.kappa.low == pytest.approx(expected - 1.96 * se, abs=0.02)
    assert result.kappa.high == pytest.approx(expected + 1.96 * se, abs=0.02)
    assert result.kappa.note == ""
    again = compare([CODES[a] for a in imported], [CODES[b] for b in consensus], bootstrap=2000, seed=3)
    assert (again.kappa.low, again.kappa.high) == (result.kappa.low, result.kappa.high)  # seeded
    other = compare([CODES[a] for a in imported], [CODES[b] for b in consensus], bootstrap=2000, seed=4)
    assert (other.kappa.low, other.kappa.high) != (result.kappa.low, result.kappa.high)


def test_degenerate_comparisons_say_a_sentence_instead_of_a_number():
    nothing = compare([], [])
    assert nothing.kappa.value is None and "nothing to compare" in nothing.kappa.note
    assert nothing.agreement.value is None and "nothing to compare" in nothing.agreement.note

    one_category = compare([0, 0, 0], [0, 0, 0])
    assert one_category.kappa.value is None
    assert "every compared pair is response1 (A) in both" in one_category.kappa.note
    assert one_category.agreement.value == 1.0  # the share is still meaningful: all three agree

    one_side = compare([2, 2, 2, 2], [2, 0, 1, 2])
    assert one_side.kappa.value is None and "imported label is tie" in one_side.kappa.note
    assert "0 by construction" in one_side.kappa.note


# --- the audit over a project ---------------------------------------------------------------------


@pytest.fixture
def audited(project, curator, voters):
    """T2T: six compared pairs (two disagree, one through an adjudication), one disputed, one without an
    imported label, one gold pair whose gold answer differs from its votes, and a comparison; T2I: every
    pair response1 on both sides; TI2T: imported labels but no votes. Another project has pairs too."""
    p = {}
    specs = [
        ("p1", R1, [R1, R1, R1]),
        ("p2", R2, [R1, R1, R2]),  # 2 of 3 meets the default gate: consensus response1
        ("p3", TIE, [TIE, TIE, R2]),
        ("p4", R1, [R1, R2, TIE]),  # disputed: no consensus, not compared
        ("p5", R2, [R2, R2, R2]),
        ("p6", R1, [R1, R2, TIE]),  # disputed, then adjudicated response2
        ("p7", None, [R1, R1, R1]),  # nothing imported
    ]
    for external_id, reference, labels in specs:
        p[external_id] = PairFactory(project=project, external_id=external_id, reference_label=reference)
        votes(p[external_id], voters, labels)
    p["p8"] = PairFactory(project=project, external_id="p8", reference_label=R1, gold_label=R2)
    votes(p["p8"], voters, [R1, R1, R1])  # gold set aside: the votes say response1, like the import
    adjudication_decide(pair=p["p6"], user=curator, decision=R2, note="B follows the criterion")
    PairFactory(project=project, external_id="cmp", kind=PairKind.COMPARISON, criterion="", reference_label=R2)
    for i in range(2):
        pair = PairFactory(project=project, external_id=f"q{i}", task="T2I", reference_label=R1)
        votes(pair, voters, [R1, R1, R1])
    PairFactory(project=project, external_id="r0", task="TI2T", reference_label=R2)
    elsewhere = ProjectFactory(slug="other")
    others = [MembershipFactory(project=elsewhere, user=UserFactory(username=f"ov{j}")).user for j in range(3)]
    for i in range(3):
        votes(PairFactory(project=elsewhere, external_id=f"o{i}", reference_label=R2), others, [R1, R1, R1])
    return p


T2T_COMPARED = [(R1, R1), (R2, R1), (TIE, TIE), (R2, R2), (R1, R2), (R1, R1)]  # p1 p2 p3 p5 p6 p8


def test_the_audit_compares_imported_labels_with_the_consensus_per_task(project, audited):
    audit = label_audit(project, bootstrap=500, seed=1)

    by_task = {t.task: t for t in audit.tasks}
    assert list(by_task) == ["T2T", "TI2T", "T2I"]  # the nine tasks' order, tasks without pairs left out
    t2t, t2i, ti2t = by_task["T2T"], by_task["T2I"], by_task["TI2T"]
    assert (t2t.task, t2t.pairs, t2t.imported, t2t.gold) == ("T2T", 8, 7, 1)  # the comparison is not labelled
    assert (t2t.comparison.compared, t2t.comparison.agreed, t2t.disagreements) == (6, 4, 2)
    assert t2t.comparison.kappa.value == pytest.approx(hand_kappa(T2T_COMPARED))
    assert t2t.comparison.kappa.low <= t2t.comparison.kappa.value <= t2t.comparison.kappa.high
    assert (t2t.comparison.agreement.low, t2t.comparison.agreement.high) == pytest.approx(hand_wilson(4, 6))
    assert dict((label, counts) for label, counts in t2t.rows) == {
        a: list(row.values()) for a, row in hand_confusion(T2T_COMPARED).items()
    }
    assert t2t.note == ""

    assert (t2i.task, t2i.comparison.compared, t2i.comparison.agreement.value) == ("T2I", 2, 1.0)
    assert t2i.comparison.kappa.value is None and "cannot tell it from chance" in t2i.comparison.kappa.note
    assert (ti2t.task, ti2t.imported, ti2t.comparison.compared) == ("TI2T", 1, 0)
    assert ti2t.note.startswith("the one pair with an imported label has no consensus yet")

    everything = [*T2T_COMPARED, (R1, R1), (R1, R1)]
    assert (audit.overall.pairs, audit.overall.imported, audit.overall.comparison.compared) == (11, 10, 8)
    assert audit.overall.comparison.kappa.value == pytest.approx(hand_kappa(everything))

    rows = disagreements(audit, audit.disagreement_indexes())
    assert [(r.pair.external_id, r.imported, r.consensus, r.source) for r in rows] == [
        ("p2", R2, R1, "votes"),
        ("p6", R1, R2, "adjudication"),
    ]
    assert rows[0].counted == {R1: 2, R2: 1, TIE: 0} and rows[0].request is None
    assert len(audit.disagreement_indexes("T2I")) == 0


def test_sending_disagreements_queues_them_with_the_reason_and_changes_no_label(project, curator, audited):
    p2 = audited["p2"]
    labels_before = sorted(Judgment.objects.filter(pair__project=project).values_list("id", "label"))

    sent = adjudication_request_send(project=project, user=curator, pair_ids=[p2.id])

    assert (sent.sent, sent.already_queued) == (1, 0)
    request = AdjudicationRequest.objects.get()
    assert (request.pair, request.reason, request.requested_by) == (p2, DISAGREES, curator)
    assert not Adjudication.objects.filter(pair=p2).exists()
    assert sorted(Judgment.objects.filter(pair__project=project).values_list("id", "label")) == labels_before
    queue = client_for(curator).get(reverse("releases:adjudication_queue", args=[project.slug])).content.decode()
    row = queue.split('<tr data-pair="p2">')[1].split("</tr>")[0]
    assert "imported label disagrees with consensus" in row and "sent by cora" in row
    assert '<tr data-pair="p4">' in queue  # the disputed pair is still there, for its votes
    again = adjudication_request_send(project=project, user=curator, pair_ids=[p2.id, audited["p1"].id])
    assert (again.sent, again.already_queued) == (1, 1)

    # A curator's decision answers the request: the pair leaves the queue; sending it again queues it again.
    adjudication_decide(pair=p2, user=curator, decision=R2)
    after = client_for(curator).get(reverse("releases:adjudication_queue", args=[project.slug])).content.decode()
    assert '<tr data-pair="p2">' not in after
    assert adjudication_request_send(project=project, user=curator, pair_ids=[p2.id]).sent == 1


def test_sending_refuses_bad_selections_naming_the_field(project, curator, audited):
    elsewhere = Pair.objects.get(external_id="o0")
    comparison = Pair.objects.get(external_id="cmp")
    cases = [
        ({"pair_ids": []}, "pairs", "at least one pair"),
        ({"pair_ids": [elsewhere.id]}, "pairs", f"Not labelling pairs of this project: {elsewhere.id}"),
        ({"pair_ids": [comparison.id]}, "pairs", "Not labelling pairs"),
        ({"pair_ids": [audited["p8"].id]}, "pairs", "Gold pairs are decided by their gold answer"),
        ({"pair_ids": [audited["p2"].id], "reason": "  "}, "reason", "Say why"),
        ({"pair_ids": [audited["p2"].id], "reason": "x" * 501}, "reason", "500 characters"),
    ]
    for kwargs, field, words in cases:
        with pytest.raises(ValidationError) as refused:
            adjudication_request_send(project=project, user=curator, **kwargs)
        assert words in refused.value.message_dict[field][0], kwargs
    assert not AdjudicationRequest.objects.exists()


# --- gold from imported labels ---------------------------------------------------------------------


def _labelled(project, n: int, *, task: str = "T2T", prefix: str = "g", order=None):
    ids = list(range(n)) if order is None else order
    return [
        PairFactory(project=project, external_id=f"{prefix}{i:02d}", task=task, reference_label=(R1, R2, TIE)[i % 3])
        for i in ids
    ]


def _gold_ids(project) -> set[str]:
    return set(Pair.objects.filter(project=project, gold_label__isnull=False).values_list("external_id", flat=True))


def test_a_seeded_sample_of_imported_labels_becomes_gold_per_task(project):
    _labelled(project, 40)
    _labelled(project, 10, task="T2I", prefix="i")
    PairFactory(project=project, external_id="unlabelled")  # no imported label: never drawn
    PairFactory(project=project, external_id="cmp", kind=PairKind.COMPARISON, criterion="", reference_label=R1)

    results = gold_sample_draw(
        project=project, sizes={"T2T": SampleSize(count=12), "T2I": SampleSize(share=0.25)}, seed=7
    )

    assert [(r.task, r.candidates, r.drawn, r.made_gold, r.already_gold) for r in results] == [
        ("T2T", 40, 12, 12, 0),
        ("T2I", 10, 3, 3, 0),  # a quarter of 10, rounded up
    ]
    gold = Pair.objects.filter(project=project, gold_label__isnull=False)
    assert gold.count() == 15 and all(pair.gold_label == pair.reference_label for pair in gold)
    assert {pair.task for pair in gold} == {"T2T", "T2I"} and not gold.filter(external_id__in=["unlabelled", "cmp"])

    # The same seed over the same pairs, created in another order (other ids), draws the same pairs.
    twin = ProjectFactory(slug="twin")
    _labelled(twin, 40, order=list(reversed(range(40))))
    _labelled(twin, 10, task="T2I", prefix="i")
    gold_sample_draw(project=twin, sizes={"T2T": SampleSize(count=12), "T2I": SampleSize(share=0.25)}, seed=7)
    assert _gold_ids(twin) == _gold_ids(project)
    # Only T2T this time: T2T's sample does not depend on which other tasks were asked for.
    alone = ProjectFactory(slug="alone")
    _labelled(alone, 40)
    gold_sample_draw(project=alone, sizes={"T2T": SampleSize(count=12)}, seed=7)
    assert _gold_ids(alone) == {i for i in _gold_ids(project) if i.startswith("g")}
    other_seed = ProjectFactory(slug="other-seed")
    _labelled(other_seed, 40)
    gold_sample_draw(project=other_seed, sizes={"T2T": SampleSize(count=12)}, seed=8)
    assert _gold_ids(other_seed) != _gold_ids(alone)

    # Drawing again with the same seed picks the same pairs, which are gold already: nothing changes.
    (repeat,) = gold_sample_draw(project=project, sizes={"T2T": SampleSize(count=12)}, seed=7)
    assert (repeat.made_gold, repeat.already_gold) == (0, 12) and gold.count() == 15


def test_a_drawn_pair_that_is_gold_already_keeps_its_gold_answer(project):
    pairs = _labelled(project, 6)  # imported labels response1, response2, tie, response1, ...
    PairFactory(project=project, external_id="plain")  # one ordinary pair stays: not every pair may be gold
    Pair.objects.filter(pk__in=[p.pk for p in pairs[1:]]).update(gold_label=TIE)  # five gold, with tie
    (result,) = gold_sample_draw(project=project, sizes={"T2T": SampleSize(count=5)}, seed=1)

    first = Pair.objects.get(pk=pairs[0].pk).gold_label
    assert first in (None, R1)  # drawn: gold with its imported label; or not drawn
    assert (result.made_gold, result.already_gold) == ((1, 4) if first else (0, 5))
    # The gold answers a curator set are never overwritten by the import, even where they differ.
    assert set(Pair.objects.filter(pk__in=[p.pk for p in pairs[1:]]).values_list("gold_label", flat=True)) == {TIE}


def test_bad_gold_samples_are_refused_whole_naming_the_task_and_field(project):
    _labelled(project, 10)
    _labelled(project, 4, task="T2I", prefix="i")
    PairFactory(project=project, external_id="plain", task="T2I")  # T2I has a pair without an imported label
    cases = [
        ({"T2T": SampleSize(count=11)}, 1, "sample", "T2T: the count is 11 but only 10 T2T pairs have an imported"),
        ({"T2T": SampleSize(count=0)}, 1, "sample", "T2T: the count must be a whole number of at least 1"),
        ({"T2T": SampleSize(share=1.0)}, 1, "sample", "T2T: the share must be above 0 and below 1"),
        ({"T2T": SampleSize(share=0)}, 1, "sample", "T2T: the share must be above 0 and below 1"),
        ({"T2T": SampleSize(count=2, share=0.5)}, 1, "sample", "T2T: give a count or a share, not both"),
        ({"T2T": SampleSize()}, 1, "sample", "T2T: give a count or a share"),
        (
            {"T2T": SampleSize(count=10)},
            1,
            "sample",
            "T2T: this sample would make every T2T labelling pair gold (0 already",
        ),
        ({"T2V": SampleSize(count=1)}, 1, "sample", "T2V: no labelling pair of this task has an imported label"),
        ({"X9": SampleSize(count=1)}, 1, "sample", "Unknown task 'X9'"),
        ({}, 1, "sample", "at least one task"),
        ({"T2T": SampleSize(count=2)}, -1, "seed", "The seed must be a whole number"),
        # One good task and one bad: nothing is made gold.
        ({"T2I": SampleSize(count=4), "T2T": SampleSize(count=99)}, 1, "sample", "T2T: the count is 99"),
    ]
    for sizes, seed, field, words in cases:
        with pytest.raises(ValidationError) as refused:
            gold_sample_draw(project=project, sizes=sizes, seed=seed)
        assert any(words in m for m in refused.value.message_dict[field]), (sizes, refused.value.message_dict)
    assert not _gold_ids(project)
    # Gold already counts: with the one ordinary T2I pair gold, drawing all four imported labels is refused.
    Pair.objects.filter(external_id="plain").update(gold_label=R2)
    with pytest.raises(ValidationError) as refused:
        gold_sample_draw(project=project, sizes={"T2I": SampleSize(count=4)}, seed=1)
    assert "T2I: this sample would make every T2I labelling pair gold (1 already gold)" in refused.value.messages[0]
    Pair.objects.filter(external_id="plain").update(gold_label=None)
    # T2I: 4 of its 5 labelling pairs have an imported label; all 4 is allowed, one pair stays ordinary.
    (t2i,) = gold_sample_draw(project=project, sizes={"T2I": SampleSize(count=4)}, seed=1)
    assert t2i.made_gold == 4


# --- the page ---------------------------------------------------------------------------------------


def test_the_page_shows_the_statistics_and_the_disagreements(project, curator, audited, django_assert_max_num_queries):
    client = client_for(curator)
    url = reverse("releases:label_audit", args=[project.slug])
    with django_assert_max_num_queries(20):
        page = client.get(url).content.decode()

    assert 'href="/projects/bench/quality/audit/"' in page and ">Label audit</a>" in page  # in the nav
    assert "95% percentile bootstrap over pairs (1,000 replicates, seed 0)" in page
    row = page.split('<tr data-task="T2T">')[1].split("</tr>")[0]
    assert f"{hand_kappa(T2T_COMPARED):.3f}" in row and f"{4 / 6:.3f}" in row
    low, high = hand_wilson(4, 6)
    assert f"[{low:.3f}, {high:.3f}]" in row
    t2i = page.split('<tr data-task="T2I">')[1].split("</tr>")[0]
    assert "cannot tell it from chance" in t2i
    ti2t = page.split('<tr data-task="TI2T">')[1].split("</tr>")[0]
    assert "The one pair with an imported label has no consensus yet" in ti2t
    confusion = page.split('data-confusion="T2T"')[1].split("</table>")[0]
    assert '<tr data-imported="response1"><th>response1</th><td class="num">2</td><td class="num">1</td>' in confusion
    assert '<tr data-pair="p2">' in page and '<tr data-pair="p6">' in page and '<tr data-pair="p1">' not in page
    assert "secret" not in page and "model-a" not in page  # no model names on a curator page either

    partial = client.get(url, {"task": "T2I"}, HTTP_HX_REQUEST="true").content.decode()
    assert partial.startswith('\n<div id="disagreement-table">') or partial.lstrip().startswith(
        '<div id="disagreement-table">'
    )
    assert "<html" not in partial and "No disagreement in T2I" in partial


def test_the_page_sends_ticked_or_all_disagreements_and_draws_gold(project, curator, audited):
    client = client_for(curator)
    send = reverse("releases:label_audit_send", args=[project.slug])

    ticked = client.post(send, {"pairs": [audited["p2"].id], "reason": DISAGREES, "scope": "selected"}, follow=True)
    assert "1 pair sent to adjudication." in ticked.content.decode()
    assert list(AdjudicationRequest.objects.values_list("pair__external_id", flat=True)) == ["p2"]
    shown = ticked.content.decode().split('<tr data-pair="p2">')[1].split("</tr>")[0]
    assert "waiting: imported label disagrees with consensus" in shown and 'name="pairs"' not in shown

    everything = client.post(send, {"scope": "all", "task": "T2T", "reason": "check"}, follow=True).content.decode()
    assert "1 pair sent to adjudication (1 already waiting there)." in everything
    assert AdjudicationRequest.objects.get(pair=audited["p6"]).reason == "check"

    refused = client.post(send, {"pairs": ["x"], "scope": "selected"}, follow=True).content.decode()
    assert "Nothing sent: pairs must be pair ids." in refused
    gold = client.post(send, {"pairs": [audited["p8"].id], "scope": "selected"}, follow=True).content.decode()
    assert "Nothing sent: Gold pairs are decided by their gold answer" in gold
    assert AdjudicationRequest.objects.count() == 2

    _labelled(project, 20, prefix="s")
    draw = reverse("releases:label_audit_gold", args=[project.slug])
    made = client.post(draw, {"seed": 3, "count_T2T": 5}, follow=True).content.decode()
    new = _gold_ids(project) - {"p8"}  # p8 was gold before: if drawn, it is left as it was
    already = "" if len(new) == 5 else f", {5 - len(new)} of the drawn were gold already"
    assert f"T2T: {len(new)} made gold (5 drawn of 27 imported labels{already})." in made
    assert all(Pair.objects.get(project=project, external_id=i).reference_label for i in new)
    too_many = client.post(draw, {"seed": 3, "count_T2I": 9}, follow=True).content.decode()
    assert "No gold made: T2I: the count is 9 but only 2 T2I pairs have an imported label." in too_many
    bad_seed = client.post(draw, {"seed": "-4", "share_T2T": 0.1}, follow=True).content.decode()
    assert "No gold made:" in bad_seed and "seed" in bad_seed
    assert _gold_ids(project) == new | {"p8"}


def test_the_page_and_its_actions_are_for_the_projects_curators_only(project, annotator, outsider, audited):
    pages = [
        ("get", reverse("releases:label_audit", args=[project.slug]), {}),
        ("post", reverse("releases:label_audit_send", args=[project.slug]), {"pairs": [audited["p2"].id]}),
        ("post", reverse("releases:label_audit_gold", args=[project.slug]), {"seed": 1, "count_T2T": 1}),
    ]
    for user, status in ((annotator, 403), (outsider, 404)):
        client = client_for(user)
        for method, url, data in pages:
            assert getattr(client, method)(url, data).status_code == status, (user, url)
    assert not AdjudicationRequest.objects.exists() and not _gold_ids(project) - {"p8"}


# --- the API ----------------------------------------------------------------------------------------


def _api_url(name: str) -> str:
    return reverse(f"releases-api:{name}", args=["bench"])


def test_the_api_gives_the_audit_and_the_disagreements(project, curator, audited):
    client = api(curator)
    data = client.get(_api_url("label-audit"), {"bootstrap": 300, "seed": 2}).json()

    assert (data["bootstrap"], data["seed"]) == (300, 2)
    assert data["kappa_interval"] == "95% percentile bootstrap over pairs"
    by_task = {t["task"]: t for t in data["tasks"]}
    t2t = by_task["T2T"]
    assert (t2t["task"], t2t["pairs"], t2t["imported"], t2t["compared"], t2t["agreed"], t2t["disagreements"]) == (
        "T2T", 8, 7, 6, 4, 2,
    )  # fmt: skip
    assert t2t["kappa"]["value"] == pytest.approx(hand_kappa(T2T_COMPARED))
    assert t2t["kappa"]["low"] <= t2t["kappa"]["value"] <= t2t["kappa"]["high"]
    assert t2t["confusion"] == hand_confusion(T2T_COMPARED)
    assert by_task["TI2T"]["kappa"] == {
        "value": None, "low": None, "high": None,
        "note": "no pair has both an imported label and a consensus yet, so there is nothing to compare",
    }  # fmt: skip
    assert data["overall"]["compared"] == 8
    assert client.get(_api_url("label-audit"), {"bootstrap": 300, "seed": 2}).json() == data  # seeded
    assert "bootstrap" in client.get(_api_url("label-audit"), {"bootstrap": -1}).json()

    listed = client.get(_api_url("label-audit-disagreements")).json()
    assert listed["count"] == 2
    first = listed["results"][0]
    assert (first["external_id"], first["imported"], first["consensus"], first["source"]) == ("p2", R2, R1, "votes")
    assert first["votes"] == {R1: 2, R2: 1, TIE: 0} and first["queued"] is None and first["gold"] is False
    assert client.get(_api_url("label-audit-disagreements"), {"task": "T2I"}).json()["count"] == 0
    assert client.get(_api_url("label-audit-disagreements"), {"task": "T9"}).status_code == 400


def test_the_api_sends_to_adjudication_and_draws_gold(project, curator, audited):
    client = api(curator)
    send = _api_url("label-audit-send")

    sent = client.post(send, {"pairs": [audited["p2"].id]}, format="json")
    assert sent.status_code == 201 and sent.json() == {"sent": 1, "already_queued": 0}
    assert AdjudicationRequest.objects.get().reason == DISAGREES
    listed = client.get(_api_url("label-audit-disagreements")).json()["results"]
    assert listed[0]["queued"]["reason"] == DISAGREES and listed[0]["queued"]["requested_by"] == "cora"
    queue = client.get(reverse("releases-api:adjudication-list", args=["bench"])).json()
    assert "p2" in [row["external_id"] for row in queue["results"]]
    every = client.post(send, {"all": True, "task": "T2T"}, format="json")
    assert every.json() == {"sent": 1, "already_queued": 1}
    both = client.post(send, {"all": True, "pairs": [audited["p1"].id]}, format="json")
    assert both.status_code == 400 and "pairs" in both.json()
    foreign = client.post(send, {"pairs": [Pair.objects.get(external_id="o1").id]}, format="json")
    assert foreign.status_code == 400 and "Not labelling pairs of this project" in foreign.json()["pairs"][0]

    _labelled(project, 20, prefix="s")
    gold = _api_url("label-audit-gold")
    drawn = client.post(gold, {"seed": 11, "sample": {"T2T": {"share": 0.1}}}, format="json")
    assert drawn.status_code == 200
    assert drawn.json() == [{"task": "T2T", "candidates": 27, "drawn": 3, "made_gold": 3, "already_gold": 0}]
    bad = client.post(gold, {"seed": 11, "sample": {"T2T": {"count": 2, "share": 0.5}}}, format="json")
    assert bad.status_code == 400 and "T2T: give a count or a share" in bad.json()["sample"][0]
    no_seed = client.post(gold, {"seed": -1, "sample": {"T2T": {"count": 2}}}, format="json")
    assert no_seed.status_code == 400 and "seed" in no_seed.json()
    assert Pair.objects.filter(project=project, gold_label__isnull=False).count() == 1 + 3


def test_the_api_is_closed_to_annotators_and_outsiders(project, annotator, outsider, audited):
    for user, status in ((annotator, 403), (outsider, 404)):
        client = api(user)
        assert client.get(_api_url("label-audit")).status_code == status
        assert client.get(_api_url("label-audit-disagreements")).status_code == status
        posted = client.post(_api_url("label-audit-send"), {"pairs": [audited["p2"].id]}, format="json")
        assert posted.status_code == status
        drawn = client.post(_api_url("label-audit-gold"), {"seed": 1, "sample": {"T2T": {"count": 1}}}, format="json")
        assert drawn.status_code == status
    assert not AdjudicationRequest.objects.exists() and _gold_ids(project) == {"p8"}


def test_a_pair_nobody_voted_on_can_be_sent_to_the_queue(project, curator, audited):
    """The gate lists only pairs with votes, gold answers or decisions; a sent pair without any shows
    in the queue with no counted votes (page and API), rather than breaking it."""
    unvoted = PairFactory(project=project, external_id="unvoted")
    assert adjudication_request_send(project=project, user=curator, pair_ids=[unvoted.id]).sent == 1
    page = client_for(curator).get(reverse("releases:adjudication_queue", args=[project.slug]))
    assert page.status_code == 200
    assert '<tr data-pair="unvoted">' in page.content.decode()
    listed = api(curator).get(f"/api/projects/{project.slug}/adjudication/").json()["results"]
    (row,) = [r for r in listed if r["external_id"] == "unvoted"]
    assert row["votes"] == {"response1": 0, "response2": 0, "tie": 0}
