"""Gate, adjudication, gold, publishing, building, downloading and comparing releases, as a curator would."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from annotations.models import Judgment, Label, Pair, Role, ShownOrder
from annotations.services.pair_import import pair_import
from core.jobs import Busy
from media_pipeline.models import MediaAsset
from releases.models import Adjudication, GateRule, Release, ReleasePair, ReleaseStatus
from releases.services.publish import release_build, release_publish
from releases.services.quality import gate_rule_update
from tests.conftest import client_for
from tests.factories import JudgmentFactory, MembershipFactory, PairFactory, ProjectFactory, UserFactory
from tests.releases.test_annotator_stats import compute_annotator_stats

pytestmark = pytest.mark.django_db

R1, R2, TIE = Label.RESPONSE1, Label.RESPONSE2, Label.TIE


@pytest.fixture
def voters(project):
    return [
        MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username=f"voter{i}")).user
        for i in range(3)
    ]


def vote(pair, user, label, *, order=ShownOrder.RESPONSE1_LEFT, rationale="", ms=4000):
    return JudgmentFactory(
        pair=pair, annotator=user, label=label, shown_order=order, time_spent_ms=ms, rationale=rationale
    )


def votes(pair, voters, labels, **kwargs):
    for user, label in zip(voters, labels, strict=False):
        vote(pair, user, label, **kwargs)


def _published(project, curator, notes="", capture=None):
    if capture is None:
        return release_publish(project=project, user=curator, notes=notes, bootstrap=100)
    with capture(execute=True):
        return release_publish(project=project, user=curator, notes=notes, bootstrap=100)


def test_publish_freezes_the_admitted_pairs_and_later_votes_do_not_change_it(project, curator, voters):
    clear = PairFactory(project=project, external_id="clear")
    split = PairFactory(project=project, external_id="split")
    waiting = PairFactory(project=project, external_id="waiting")
    votes(clear, voters, [R1, R1, R2])
    votes(split, voters, [R1, R2, TIE])
    votes(waiting, voters[:1], [R2])

    v1 = _published(project, curator, notes="first cut")

    assert v1.version == 1
    rows = {r.external_id: r for r in v1.pairs.all()}
    assert set(rows) == {"clear"}
    assert (rows["clear"].label, rows["clear"].votes, rows["clear"].majority_share) == (R1, {R1: 2, R2: 1}, 0.6667)
    assert v1.summary["pairs"] == 1 and v1.summary["tasks"]["T2T"]["labels"] == {R1: 1, R2: 0, TIE: 0}
    assert v1.gate["min_votes"] == 3 and v1.gate["tie_policy"] == "label"
    assert v1.statistics["overall"]["alpha"]["value"] is None  # one pair, two labels: explained, not 0
    assert v1.statistics["overall"]["alpha"]["note"]

    # Later: a curator decides the split pair, another annotator flips "clear", the rule changes.
    Adjudication.objects.create(pair=split, decision=TIE, decided_by=curator)
    extra = MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username="late")).user
    vote(clear, extra, R2)
    GateRule.objects.create(project=project, min_votes=2, min_majority_share=0.51)
    v2 = _published(project, curator)

    assert v2.version == 2
    assert {r.external_id: r.label for r in v1.pairs.all()} == {"clear": R1}  # v1 unchanged
    assert Release.objects.get(pk=v1.pk).summary["pairs"] == 1
    # v2: split by adjudication (tie), clear is 2-2 now (disputed), waiting has 1 vote (< 2).
    assert {r.external_id: (r.label, r.source) for r in v2.pairs.all()} == {"split": (TIE, "adjudication")}


def test_nothing_to_publish_is_refused_with_a_reason(project, curator):
    PairFactory(project=project)
    with pytest.raises(ValidationError, match="admits no pair"):
        release_publish(project=project, user=curator)
    assert not Release.objects.exists()


def test_the_curator_compares_two_releases(project, curator, voters):
    a, b, c = (PairFactory(project=project, external_id=x) for x in "abc")
    votes(a, voters, [R1, R1, R1])
    votes(b, voters, [R2, R2, R2])
    v1 = _published(project, curator)
    Adjudication.objects.create(pair=b, decision=R1, decided_by=curator)  # b flips
    Adjudication.objects.create(pair=a, decision="exclude", decided_by=curator)  # a removed
    votes(c, voters, [TIE, TIE, TIE])  # c added
    v2 = _published(project, curator)

    page = client_for(curator).get(
        reverse("releases:release_compare", args=[project.slug]), {"old": v1.version, "new": v2.version}
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert page.context["diff"].added == 1 and page.context["diff"].removed == 1
    assert page.context["diff"].flipped == 1 and page.context["diff"].unchanged == 0
    assert '<tr data-pair="b"><td>b</td><td>T2T</td><td>response2</td><td><strong>response1</strong>' in html
    bad = client_for(curator).get(reverse("releases:release_compare", args=[project.slug]), {"old": "x"})
    assert bad.status_code == 400 and b"two release versions" in bad.content


def test_build_writes_the_archive_and_the_curator_downloads_it(
    project, curator, voters, django_capture_on_commit_callbacks
):
    pair = PairFactory(project=project, external_id="only", prompt="<script>alert(1)</script>")  # travels as data
    votes(pair, voters, [R2, R2, R2])
    release = _published(project, curator, capture=django_capture_on_commit_callbacks)  # eager build on commit

    release.refresh_from_db()
    assert release.status == ReleaseStatus.READY, release.error
    response = client_for(curator).get(reverse("releases:release_download", args=[project.slug, 1]))
    body = b"".join(response.streaming_content)
    assert response["Content-Disposition"] == 'attachment; filename="bench-v1.zip"'
    assert hashlib.sha256(body).hexdigest() == release.archive_sha256
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
    assert {"README.md", "manifest.json", "text_to_text/test-00000-of-00001.parquet"} <= names
    assert [(p["id"], p["label"], p["votes"]) for p in manifest["pairs"]] == [("only", R2, {R2: 3})]
    # A second delivery of the build job finds it built and does nothing.
    assert release_build(release.id) is None


def test_a_build_that_died_is_taken_over_after_its_lease_and_a_live_one_is_not(project, curator, voters, settings):
    pair = PairFactory(project=project)
    votes(pair, voters, [R1, R1, R1])
    release = _published(project, curator)  # no on-commit: the job was "lost"
    from django.utils import timezone

    Release.objects.filter(pk=release.pk).update(attempts=1, lease_until=timezone.now() + timezone.timedelta(minutes=5))
    with pytest.raises(Busy) as busy:  # another run holds a live lease: the job waits for it
        release_build(release.id)
    assert 290 < busy.value.seconds <= 300
    Release.objects.filter(pk=release.pk).update(lease_until=timezone.now() - timezone.timedelta(seconds=1))
    assert release_build(release.id) == ReleaseStatus.READY
    release.refresh_from_db()
    assert release.attempts == 2 and release.archive.name.endswith(".zip")


def test_a_tampered_release_fails_with_a_message_and_can_be_built_again(
    project, curator, voters, tmp_path, django_capture_on_commit_callbacks
):
    asset = _image_asset(tmp_path)
    pair = PairFactory(project=project, external_id="img", task="T2I", response1_text=None, response1_media=asset,
                       response2_text=None, response2_media=asset)  # fmt: skip
    votes(pair, voters, [R1, R1, R1])
    release = _published(project, curator)
    ReleasePair.objects.filter(release=release).update(media={"response1_media": "0" * 64})
    assert release_build(release.id) == ReleaseStatus.FAILED
    release.refresh_from_db()
    assert "img" in release.error and "response1" in release.error

    client = client_for(curator)
    page = client.get(reverse("releases:release_detail", args=[project.slug, 1])).content.decode()
    assert 'data-status="failed"' in page and "Build again" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("releases:release_rebuild", args=[project.slug, 1]))
    assert response.status_code == 302
    release.refresh_from_db()
    assert release.status == ReleaseStatus.FAILED  # built again (eagerly), and the hash is still wrong


def stored_asset(data: bytes, kind: str, extension: str) -> MediaAsset:
    """A ready media asset with these bytes in storage."""
    from django.core.files.base import ContentFile

    sha = hashlib.sha256(data).hexdigest()
    asset = MediaAsset(sha256=sha, kind=kind, extension=extension, size_bytes=len(data), status="ready")
    asset.file.save(f"originals/{sha}.{extension}", ContentFile(data), save=False)
    asset.save()
    return asset


def _image_asset(tmp_path: Path) -> MediaAsset:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), "red").save(buffer, "PNG")
    return stored_asset(buffer.getvalue(), "image", "png")


def test_published_release_imports_back_with_the_same_pairs_labels_and_media(
    project, curator, voters, release_dir, tmp_path, django_capture_on_commit_callbacks
):
    assert pair_import(project=project, data_path=release_dir).ok
    pairs = list(Pair.objects.filter(project=project).order_by("id"))
    flip = {Label.RESPONSE1: Label.RESPONSE2, Label.RESPONSE2: Label.RESPONSE1, Label.TIE: Label.TIE}
    for i, pair in enumerate(pairs):
        # Humans mostly follow the imported label; every fifth pair they overturn it unanimously.
        label = pair.reference_label if i % 5 else flip[pair.reference_label]
        votes(pair, voters, [label, label, label])
    release = _published(project, curator, capture=django_capture_on_commit_callbacks)
    release.refresh_from_db()
    assert release.status == ReleaseStatus.READY, release.error

    download = client_for(curator).get(reverse("releases:release_download", args=[project.slug, 1]))
    body = b"".join(download.streaming_content)
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        zf.extractall(unpacked)
        # A video whose container declares no duration ships (and so comes back) as its lossless remux.
        shipped = {r["original_sha256"]: r["sha256"] for r in json.loads(zf.read("manifest.json"))["remuxed"]}
    copy = ProjectFactory(slug="copy")
    result = pair_import(project=copy, data_path=unpacked)
    assert result.ok, result.problems

    released = {r.external_id: r.label for r in release.pairs.all()}
    imported = {p.external_id: p for p in Pair.objects.filter(project=copy)}
    assert {k: p.reference_label for k, p in imported.items()} == released
    columns = ("input_media", "response1_media", "response2_media", "response1_mesh", "response2_mesh")
    for original in pairs:
        again = imported[original.external_id]
        assert (again.task, again.prompt, again.criterion) == (original.task, original.prompt, original.criterion)
        for column in columns:
            before, after = getattr(original, column), getattr(again, column)
            expected = before and shipped.get(before.sha256, before.sha256)
            assert expected == (after and after.sha256), (original.external_id, column)


# --- pages ---------------------------------------------------------------------------------------


def test_curator_pages_are_closed_to_annotators_and_outsiders(project, curator, annotator, outsider, voters):
    pair = PairFactory(project=project)
    votes(pair, voters, [R1, R1, R1])
    _published(project, curator)
    gets = [
        reverse("releases:dashboard", args=[project.slug]),
        reverse("releases:gate_edit", args=[project.slug]),
        reverse("releases:adjudication_queue", args=[project.slug]),
        reverse("releases:adjudicate", args=[project.slug, pair.id]),
        reverse("releases:release_list", args=[project.slug]),
        reverse("releases:release_detail", args=[project.slug, 1]),
        reverse("releases:release_download", args=[project.slug, 1]),
        reverse("releases:release_compare", args=[project.slug]) + "?old=1&new=1",
    ]
    posts = [
        reverse("releases:gate_edit", args=[project.slug]),
        reverse("releases:pair_gold", args=[project.slug, pair.id]),
        reverse("releases:adjudicate", args=[project.slug, pair.id]),
        reverse("releases:release_publish", args=[project.slug]),
        reverse("releases:release_rebuild", args=[project.slug, 1]),
        reverse("releases:annotator_stats_recompute", args=[project.slug]),
    ]
    for user, status in ((annotator, 403), (outsider, 404)):
        client = client_for(user)
        for url in gets:
            assert client.get(url).status_code == status, (user, url)
        for url in posts:
            assert client.post(url, {"decision": "tie", "gold_label": "tie"}).status_code == status, (user, url)
    assert client_for(curator).get(gets[0]).status_code == 200
    assert Release.objects.count() == 1 and not Adjudication.objects.exists()
    assert Pair.objects.get(pk=pair.pk).gold_label is None


def test_adjudication_puts_criterion_and_decision_first_and_renders_responses_without_model_names(
    project, curator, voters
):
    pair = PairFactory(
        project=project,
        prompt="Explain **recursion**.",
        criterion="Prefer the shorter answer.",
        response1_text="A function that *calls itself*.",
        model1="secret-model-one",
        model2="secret-model-two",
    )
    votes(pair, voters, [R1, R2, TIE])
    html = client_for(curator).get(reverse("releases:adjudicate", args=[project.slug, pair.id])).content.decode()
    criterion, decision = html.index("Prefer the shorter answer."), html.index('id="decide"')
    assert criterion < decision < html.index("Response 1") < html.index('id="votes"')
    assert html.count("Prefer the shorter answer.") == 1
    assert "<strong>recursion</strong>" in html and "<em>calls itself</em>" in html  # as annotators see it
    assert html.count("model hidden") == 2 and "secret-model" not in html and "unknown model" not in html
    page = client_for(curator).get(reverse("annotations:pair_detail", args=[project.slug, pair.id])).content.decode()
    assert "secret-model-one" in page and "<em>calls itself</em>" in page  # the pair's own page names them


def test_dashboard_shows_agreement_per_task_and_the_annotator_table(
    project, curator, voters, django_capture_on_commit_callbacks
):
    for i in range(12):
        pair = PairFactory(project=project, task="T2T" if i < 8 else "T2I", response1_text="x", response2_text="y")
        labels = [R1, R1, R1] if i % 3 else [R1, R2, TIE]
        votes(pair, voters, labels, order=ShownOrder.RESPONSE1_LEFT)
    compute_annotator_stats(project, django_capture_on_commit_callbacks)  # the background job
    page = client_for(curator).get(reverse("releases:dashboard", args=[project.slug]))
    html = page.content.decode()
    report = page.context["report"]

    assert page.status_code == 200
    assert report.overall.votes == 36 and report.overall.alpha.value is not None
    assert report.overall.alpha.low <= report.overall.alpha.value <= report.overall.alpha.high
    assert [t.task for t in report.tasks] == ["T2T", "T2I"]
    assert report.states == {"needs_votes": 0, "accepted": 8, "disputed": 4, "excluded": 0}
    assert html.count('<tr data-annotator="voter') == 3
    assert '<g class="row" data-row="Overall">' in html  # the alpha chart has a row per task and overall
    assert "<svg" in html and "Krippendorff" in html
    # voter0 always picks response 1, always shown on the left: 12 of 12 left, a tiny p-value.
    v0 = next(r for r in report.annotators.rows if r.user.username == "voter0")
    assert (v0.stats.left_picks, v0.stats.sided_votes) == (12, 12) and v0.stats.left_p_value < 0.001


def test_gate_rule_form_validates_and_saves(project, curator):
    client = client_for(curator)
    url = reverse("releases:gate_edit", args=[project.slug])
    bad = client.post(url, {"min_votes": 0, "min_majority_share": 0.4, "tie_policy": "maybe", "min_gold_judged": 5})
    html = bad.content.decode()
    assert bad.status_code == 400
    assert "Minimum votes: Ensure this value is greater than or equal to 1." in html
    assert "Minimum majority share: Ensure this value is greater than or equal to 0.501." in html
    assert "Ties: Select a valid choice. maybe is not one of the available choices." in html
    assert not GateRule.objects.exists()

    good = {"min_votes": 2, "min_majority_share": 1, "tie_policy": "abstain", "min_gold_accuracy": 0.75,
            "min_gold_judged": 4}  # fmt: skip
    assert client.post(url, good).status_code == 302
    rule = GateRule.objects.get(project=project)
    assert (rule.min_votes, rule.min_majority_share, rule.tie_policy, rule.min_gold_accuracy) == (2, 1, "abstain", 0.75)
    assert rule.updated_by == curator


def test_curator_adjudicates_a_disputed_pair_seeing_votes_and_rationales(project, curator, voters):
    first = PairFactory(project=project, external_id="d1", model1="secret-model")
    second = PairFactory(project=project, external_id="d2")
    for pair in (first, second):
        votes(pair, voters, [R1, R2, TIE], rationale="<b>because</b> the tie")
    client = client_for(curator)
    queue = client.get(reverse("releases:adjudication_queue", args=[project.slug])).content.decode()
    assert '<tr data-pair="d1">' in queue and '<tr data-pair="d2">' in queue

    page = client.get(reverse("releases:adjudicate", args=[project.slug, first.id])).content.decode()
    assert page.count('<tr data-annotator="voter') == 3
    assert "&lt;b&gt;because&lt;/b&gt; the tie" in page  # rationales are escaped
    response = client.post(
        reverse("releases:adjudicate", args=[project.slug, first.id]), {"decision": "response2", "note": "B is right"}
    )
    assert response["Location"] == reverse("releases:adjudicate", args=[project.slug, second.id])
    decision = Adjudication.objects.get(pair=first)
    assert (decision.decision, decision.note, decision.decided_by) == ("response2", "B is right", curator)
    assert decision.decided_at is not None
    queue = client.get(reverse("releases:adjudication_queue", args=[project.slug])).content.decode()
    assert '<tr data-pair="d1">' not in queue and '<tr data-pair="d2">' in queue
    bad = client.post(reverse("releases:adjudicate", args=[project.slug, second.id]), {"decision": "maybe"})
    assert bad.status_code == 400 and Adjudication.objects.filter(pair=second).count() == 0


def test_curator_marks_a_gold_pair_and_it_enters_the_release_with_its_answer(project, curator, voters):
    pair = PairFactory(project=project, external_id="g")
    client = client_for(curator)
    response = client.post(reverse("releases:pair_gold", args=[project.slug, pair.id]), {"gold_label": "tie"})
    assert response.status_code == 302
    assert Pair.objects.get(pk=pair.pk).gold_label == TIE
    bad = client.post(reverse("releases:pair_gold", args=[project.slug, pair.id]), {"gold_label": "left"})
    assert bad.status_code == 400 and b"gold_label" in bad.content
    release = _published(project, curator)
    assert [(r.external_id, r.label, r.source) for r in release.pairs.all()] == [("g", TIE, "gold")]
    client.post(reverse("releases:pair_gold", args=[project.slug, pair.id]), {"gold_label": ""})
    assert Pair.objects.get(pk=pair.pk).gold_label is None


def test_dashboard_groups_criteria_of_the_same_comparison_and_counts_a_flip(
    project, curator, voters, django_capture_on_commit_callbacks
):
    same = {"prompt": "Draw a cat.", "response1_text": "cat one", "response2_text": "cat two"}
    votes(PairFactory(project=project, criterion="Prefer realism.", **same), voters, [R1, R1, R1])
    votes(PairFactory(project=project, criterion="Prefer a cartoon look.", **same), voters, [R2, R2, R1])
    # Same prompt, other responses: a different comparison, not part of the group.
    other = PairFactory(project=project, criterion="Prefer realism.", prompt="Draw a cat.", response1_text="dog")
    votes(other, voters, [R2, R2, R2])
    steady = {"prompt": "Explain tides.", "response1_text": "moon", "response2_text": "sun"}
    votes(PairFactory(project=project, criterion="Prefer accuracy.", **steady), voters, [R1, R1, R1])
    votes(PairFactory(project=project, criterion="Prefer brevity.", **steady), voters, [R1, R1, TIE])
    compute_annotator_stats(project, django_capture_on_commit_callbacks)  # the background job finds the groups

    report = client_for(curator).get(reverse("releases:dashboard", args=[project.slug])).context["report"]

    groups = {g.prompt: g for g in report.prompt_groups}
    assert report.prompt_group_count == 2
    assert [c.criterion for c in groups["Draw a cat."].criteria] == ["Prefer realism.", "Prefer a cartoon look."]
    assert [c.label for c in groups["Draw a cat."].criteria] == [R1, R2]
    assert groups["Draw a cat."].flips and not groups["Explain tides."].flips


def test_prompt_groups_come_from_the_job_and_their_labels_are_live(
    project, curator, voters, tmp_path, django_capture_on_commit_callbacks
):
    same = {"prompt": "Draw a cat.", "response1_text": "cat one", "response2_text": "cat two"}
    realism = PairFactory(project=project, external_id="realism", criterion="Prefer realism.", **same)
    votes(realism, voters, [R1, R1, R1])
    votes(PairFactory(project=project, external_id="cartoon", criterion="Prefer a cartoon.", **same), voters, [R2, R2])
    client = client_for(curator)
    url = reverse("releases:dashboard", args=[project.slug])

    with django_capture_on_commit_callbacks(execute=False):  # no worker yet: the page asked for the job
        first = client.get(url)
    assert first.context["report"].prompt_groups == []
    assert "data-groups-pending" in first.content.decode()

    compute_annotator_stats(project, django_capture_on_commit_callbacks)
    (group,) = client.get(url).context["report"].prompt_groups
    assert [(c.external_id, c.state, c.label) for c in group.criteria] == [
        ("realism", "accepted", R1),
        ("cartoon", "needs_votes", None),
    ]

    # A vote after the job ran: the shown label changes at once, without a new computation.
    vote(Pair.objects.get(external_id="cartoon"), voters[2], R2)
    page = client.get(url)
    (group,) = page.context["report"].prompt_groups
    assert [(c.external_id, c.label) for c in group.criteria] == [("realism", R1), ("cartoon", R2)]
    assert group.flips and "data-groups-as-of" in page.content.decode()

    # A pair imported after the job ran joins its group with the next computation, not before.
    row = {"id": "brevity", "task": "T2T", "prompt": "Draw a cat.", "criteria": "Prefer brevity.",
           "response1": "cat one", "response2": "cat two", "model1": "m1", "model2": "m2"}  # fmt: skip
    data = tmp_path / "more.jsonl"
    data.write_text(json.dumps(row) + "\n")
    assert pair_import(project=project, data_path=data).ok
    with django_capture_on_commit_callbacks(execute=False):
        report = client.get(url).context["report"]
    assert [c.external_id for c in report.prompt_groups[0].criteria] == ["realism", "cartoon"]
    assert report.annotators.new_pairs  # the page asks for a new computation once the shown one is old enough
    compute_annotator_stats(project, django_capture_on_commit_callbacks)
    (group,) = client.get(url).context["report"].prompt_groups
    assert [c.external_id for c in group.criteria] == ["realism", "cartoon", "brevity"]


def test_a_pair_page_decides_like_the_whole_project_including_the_quality_bar(project, curator, voters):
    from releases.selectors import gate_outcome, pair_verdict

    good, good2, sloppy = voters
    for i in range(3):  # gold answer response1: the sloppy annotator gets all three wrong
        gold = PairFactory(project=project, external_id=f"gold{i}", gold_label=R1)
        votes(gold, [good, good2, sloppy], [R1, R1, R2])
    target = PairFactory(project=project, external_id="target")
    votes(target, voters, [R1, R1, R2])
    # Through the service: a bar set after the votes moves the sloppy annotator's votes out of the count.
    gate_rule_update(project=project, user=curator, min_votes=2, min_majority_share=1.0, tie_policy="label",
                     min_gold_accuracy=0.5, min_gold_judged=3)  # fmt: skip

    verdict = pair_verdict(project, target)
    votes_, outcome = gate_outcome(project)
    at = votes_.index_of(target.id)
    assert (verdict.state, verdict.label, verdict.counted) == (outcome.state[at], R1, (2, 0, 0))
    sloppy_vote = Judgment.objects.get(pair=target, annotator=sloppy)
    assert verdict.uncounted == {sloppy_vote.id}
    page = client_for(curator).get(reverse("releases:adjudicate", args=[project.slug, target.id])).content.decode()
    assert 'voter2 <span class="small">(not counted)</span>' in page
    assert "State: <strong>Accepted</strong> · response1 (votes)" in page


def test_saving_the_gate_form_unchanged_keeps_two_of_three_accepted(project, curator, voters):
    pair = PairFactory(project=project)
    votes(pair, voters, [R1, R1, R2])
    client = client_for(curator)
    url = reverse("releases:gate_edit", args=[project.slug])
    initial = client.get(url).context["form"].initial
    posted = {key: "" if value is None else value for key, value in initial.items()}
    assert client.post(url, posted).status_code == 302
    report = client.get(reverse("releases:dashboard", args=[project.slug])).context["report"]
    assert report.states["accepted"] == 1 and report.states["disputed"] == 0


def test_a_rule_that_needs_more_votes_than_the_queue_gives_is_refused(project, curator):
    response = client_for(curator).post(
        reverse("releases:gate_edit", args=[project.slug]),
        {"min_votes": 5, "min_majority_share": 0.66, "tie_policy": "label", "min_gold_judged": 5},
    )
    assert response.status_code == 400
    assert "the queue stops at 3 votes per pair" in response.content.decode()


def test_a_closed_pair_with_too_few_counted_votes_goes_to_adjudication(project, curator, voters):
    pair = PairFactory(project=project, external_id="abstained")
    votes(pair, voters, [R1, R1, TIE])  # the queue is done with it (k = 3)
    GateRule.objects.create(project=project, min_votes=3, min_majority_share=0.66, tie_policy="abstain")
    queue = client_for(curator).get(reverse("releases:adjudication_queue", args=[project.slug])).content.decode()
    assert '<tr data-pair="abstained">' in queue  # 2 counted votes < 3, but no more will come


def test_a_double_click_does_not_publish_twice(project, curator, voters):
    votes(PairFactory(project=project), voters, [R1, R1, R1])
    client = client_for(curator)
    url = reverse("releases:release_publish", args=[project.slug])
    assert client.post(url, {"version": 1, "notes": ""}).status_code == 302
    again = client.post(url, {"version": 1, "notes": ""}, follow=True)
    assert "Version 1 was published after this page was opened" in again.content.decode()
    assert Release.objects.filter(project=project).count() == 1


def test_a_build_that_lost_its_lease_leaves_the_winners_archive_alone(project, curator, voters, monkeypatch):
    from django.core.files.storage import default_storage
    from django.utils import timezone

    from releases.services import archive

    votes(PairFactory(project=project), voters, [R1, R1, R1])
    release = _published(project, curator)
    real = archive.write_release_archive
    calls = []

    def slow_then_overtaken(rel, dest):
        info = real(rel, dest)
        if not calls:  # the first run stalls past its lease; a second run takes over and finishes
            calls.append(1)
            Release.objects.filter(pk=rel.pk).update(lease_until=timezone.now() - timezone.timedelta(seconds=1))
            assert release_build(rel.pk) == ReleaseStatus.READY
        return info

    monkeypatch.setattr(archive, "write_release_archive", slow_then_overtaken)
    assert release_build(release.id) is None  # the first run finds it lost the release
    release.refresh_from_db()
    assert release.status == ReleaseStatus.READY and release.attempts == 2
    assert release.archive.name.endswith("-b2.zip") and default_storage.exists(release.archive.name)
    assert not default_storage.exists(release.archive.name.replace("-b2.zip", "-b1.zip"))


def test_adjudication_hides_model_names_and_says_when_a_gold_answer_decides(project, curator, voters):
    pair = PairFactory(project=project, model1="secret-model-one", model2="secret-model-two", gold_label=R2)
    votes(pair, voters, [R1, R2, TIE])
    page = client_for(curator).get(reverse("releases:adjudicate", args=[project.slug, pair.id])).content.decode()
    assert "secret-model" not in page
    assert 'id="gold-note"' in page and "its known answer (response2) decides it" in page
