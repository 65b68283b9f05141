"""The annotator queue: who gets which pair, side randomisation, votes, skips and undo."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from annotations.models import Judgment, Label, PairSkip, PairTally, Reservation, ShownOrder, SkipKind
from annotations.services import queue
from annotations.services.queue import (
    AlreadyJudged,
    Progress,
    QueueError,
    Vote,
    canonical_label,
    next_assignment,
    progress_for,
    record_skip,
    record_vote,
    release_expired,
    shown_choice,
    shown_order_for,
    undo_last,
)
from media_pipeline.models import MediaAsset
from tests.factories import MediaAssetFactory, MembershipFactory, PairFactory, UserFactory


def _annotators(project, n):
    return [MembershipFactory(project=project, user=UserFactory(username=f"a{i}")).user for i in range(n)]


def _vote(project, user, assignment, choice="A", **extra):
    return record_vote(
        project, user, Vote(pair_id=assignment.pair.pk, choice=choice, submission_id=uuid.uuid4(), **extra)
    )


@pytest.mark.django_db
def test_each_pair_gets_exactly_k_votes_then_queues_run_dry(project):
    project.votes_per_pair = 2
    project.save()
    pairs = PairFactory.create_batch(5, project=project)
    people = _annotators(project, 3)
    served = {p.pk: 0 for p in people}
    while True:
        progressed = False
        for person in people:
            assignment = next_assignment(project, person)
            if assignment:
                _vote(project, person, assignment)
                served[person.pk] += 1
                progressed = True
        if not progressed:
            break
    counts = [Judgment.objects.filter(pair=p).count() for p in pairs]
    assert counts == [2] * 5
    assert sum(served.values()) == 10
    for person in people:
        assert progress_for(project, person).remaining == 0


@pytest.mark.django_db
def test_reserved_pair_is_not_handed_to_a_second_annotator_until_it_expires(project):
    project.votes_per_pair = 1
    project.save()
    (pair,) = PairFactory.create_batch(1, project=project)
    first, second = _annotators(project, 2)
    held = next_assignment(project, first)
    assert held.pair == pair
    assert next_assignment(project, second) is None
    # Reloading gives the holder the same pair, not a new reservation.
    assert next_assignment(project, first).pair == pair
    assert Reservation.objects.count() == 1
    Reservation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert next_assignment(project, second).pair == pair


@pytest.mark.django_db
def test_side_order_is_stable_per_annotator_and_pair_and_varies_across_pairs(project):
    pairs = PairFactory.create_batch(40, project=project)
    (person,) = _annotators(project, 1)
    orders = {shown_order_for(person.pk, p.pk) for p in pairs}
    assert orders == {ShownOrder.RESPONSE1_LEFT, ShownOrder.RESPONSE2_LEFT}
    assert all(shown_order_for(person.pk, p.pk) == shown_order_for(person.pk, p.pk) for p in pairs)
    assignment = next_assignment(project, person)
    assert assignment.shown_order == shown_order_for(person.pk, assignment.pair.pk)


@pytest.mark.parametrize(
    ("choice", "order", "label"),
    [
        ("A", ShownOrder.RESPONSE1_LEFT, Label.RESPONSE1),
        ("B", ShownOrder.RESPONSE1_LEFT, Label.RESPONSE2),
        ("A", ShownOrder.RESPONSE2_LEFT, Label.RESPONSE2),
        ("B", ShownOrder.RESPONSE2_LEFT, Label.RESPONSE1),
        ("tie", ShownOrder.RESPONSE2_LEFT, Label.TIE),
    ],
)
def test_button_maps_to_canonical_label_and_back(choice, order, label):
    assert canonical_label(choice, order) == label
    assert shown_choice(label, order) == choice


@pytest.mark.django_db
def test_vote_stores_canonical_label_order_and_time_once(project):
    PairFactory(project=project)
    (person,) = _annotators(project, 1)
    assignment = next_assignment(project, person)
    submission = uuid.uuid4()
    vote = Vote(pair_id=assignment.pair.pk, choice="A", submission_id=submission, elapsed_ms=1200, rationale=" why ")
    first = record_vote(project, person, vote)
    again = record_vote(project, person, vote)
    assert first.created and not again.created
    assert again.judgment.pk == first.judgment.pk
    stored = Judgment.objects.get()
    expected = Label.RESPONSE1 if assignment.shown_order == ShownOrder.RESPONSE1_LEFT else Label.RESPONSE2
    assert (stored.label, stored.shown_order, stored.rationale) == (expected, assignment.shown_order, "why")
    assert stored.time_spent_ms == 1200 or stored.time_spent_ms < 5000
    # A second, different submission for the same pair (two tabs) is refused, naming the vote kept.
    with pytest.raises(AlreadyJudged, match=r"already voted on this pair .*that vote, A, was kept") as refused:
        record_vote(project, person, Vote(pair_id=assignment.pair.pk, choice="B", submission_id=uuid.uuid4()))
    assert refused.value.judgment.pk == first.judgment.pk
    assert Judgment.objects.count() == 1 and Judgment.objects.get().label == expected


@pytest.mark.django_db
def test_client_time_larger_than_the_server_saw_is_not_believed(project):
    PairFactory(project=project)
    (person,) = _annotators(project, 1)
    assignment = next_assignment(project, person)
    _vote(project, person, assignment, elapsed_ms=10 * 3600 * 1000)
    assert Judgment.objects.get().time_spent_ms < 60_000


@pytest.mark.django_db
def test_vote_on_a_pair_never_handed_out_is_refused(project):
    pair = PairFactory(project=project)
    (person,) = _annotators(project, 1)
    with pytest.raises(QueueError, match="not in your queue"):
        record_vote(project, person, Vote(pair_id=pair.pk, choice="A", submission_id=uuid.uuid4()))
    assert not Judgment.objects.exists()


@pytest.mark.django_db
def test_reused_submission_id_for_another_pair_is_refused(project):
    PairFactory.create_batch(2, project=project)
    (person,) = _annotators(project, 1)
    submission = uuid.uuid4()
    first = next_assignment(project, person)
    record_vote(project, person, Vote(pair_id=first.pair.pk, choice="A", submission_id=submission))
    second = next_assignment(project, person)
    with pytest.raises(QueueError, match="already used"):
        record_vote(project, person, Vote(pair_id=second.pair.pk, choice="A", submission_id=submission))


@pytest.mark.django_db
def test_skip_and_flag_take_the_pair_out_of_that_annotators_queue_only(project):
    PairFactory.create_batch(2, project=project)
    me, other = _annotators(project, 2)
    first = next_assignment(project, me)
    record_skip(project, me, pair_id=first.pair.pk, reason="unsure", note="no idea")
    second = next_assignment(project, me)
    assert second.pair != first.pair
    flag = record_skip(project, me, pair_id=second.pair.pk, reason="broken_media")
    assert flag.kind == SkipKind.FLAG
    assert next_assignment(project, me) is None
    assert PairSkip.objects.filter(annotator=me).count() == 2
    assert next_assignment(project, other) is not None
    with pytest.raises(QueueError, match="Unknown skip reason"):
        record_skip(project, me, pair_id=first.pair.pk, reason="bored")


@pytest.mark.django_db
def test_undo_retracts_the_last_vote_and_brings_its_pair_back_with_the_same_sides(project):
    PairFactory.create_batch(3, project=project)
    (person,) = _annotators(project, 1)
    first = next_assignment(project, person)
    _vote(project, person, first, "A")
    second = next_assignment(project, person)
    _vote(project, person, second, "tie")
    third = next_assignment(project, person)  # now held
    undone = undo_last(project, person)
    assert undone.pair == second.pair and undone.retracted_at is not None
    back = next_assignment(project, person)
    assert back.pair == second.pair and back.shown_order == second.shown_order
    _vote(project, person, back, "B")
    assert Judgment.objects.filter(pair=second.pair).count() == 2  # history kept
    assert Judgment.objects.filter(pair=second.pair, retracted_at__isnull=True).count() == 1
    assert next_assignment(project, person).pair == third.pair


@pytest.mark.django_db
def test_undo_with_nothing_recent_says_so(project):
    PairFactory(project=project)
    (person,) = _annotators(project, 1)
    with pytest.raises(QueueError, match="Nothing to undo"):
        undo_last(project, person)
    assignment = next_assignment(project, person)
    _vote(project, person, assignment)
    Judgment.objects.update(created_at=timezone.now() - timedelta(hours=2))
    with pytest.raises(QueueError, match="Nothing to undo"):
        undo_last(project, person)


@pytest.mark.django_db
def test_gold_pairs_reach_every_annotator_beyond_k(project):
    project.votes_per_pair = 1
    project.gold_share = 0.5
    project.save()
    gold = PairFactory(project=project, gold_label=Label.RESPONSE1)
    PairFactory.create_batch(6, project=project)
    people = _annotators(project, 3)
    for person in people:
        while (assignment := next_assignment(project, person)) is not None:
            _vote(project, person, assignment)
    assert Judgment.objects.filter(pair=gold).count() == 3
    assert Judgment.objects.exclude(pair=gold).count() == 6


def _gated_media_pair(project, share, task, kind, extensions):
    """A gated project's only pair, whose two responses are media files of `kind`."""
    project.must_view_share = share
    project.save()
    one, two = (
        MediaAsset.objects.create(sha256=str(n) * 64, kind=kind, extension=ext, size_bytes=1, file=f"x{n}.{ext}")
        for n, ext in enumerate(extensions, start=1)
    )
    PairFactory(
        project=project, task=task, response1_text=None, response2_text=None, response1_media=one, response2_media=two
    )
    (person,) = _annotators(project, 1)
    return person, next_assignment(project, person)


@pytest.mark.django_db
def test_must_view_gating_refuses_votes_without_coverage_and_stores_it(project):
    person, assignment = _gated_media_pair(project, 0.8, "T2A", "audio", ("wav", "wav"))
    with pytest.raises(QueueError, match="Play both"):
        _vote(project, person, assignment, coverage={"A": 1.0, "B": 0.5})
    _vote(project, person, assignment, coverage={"A": 1.0, "B": 0.85})
    assert Judgment.objects.get().view_coverage == {"A": 1.0, "B": 0.85}


@pytest.mark.django_db
def test_must_view_gating_holds_for_3d_responses_as_the_page_shows_them(project):
    person, assignment = _gated_media_pair(project, 0.5, "T23D", "mesh", ("glb", "obj"))
    with pytest.raises(QueueError, match="Play both"):
        _vote(project, person, assignment)
    _vote(project, person, assignment, coverage={"A": 0.5, "B": 0.5})
    assert Judgment.objects.get().view_coverage == {"A": 0.5, "B": 0.5}


def _slot_counts_match(project):
    """Every pair's stored slot count equals its live judgments plus its reservations."""
    for pair in project.pairs.all():
        live = Judgment.objects.filter(pair=pair, retracted_at__isnull=True).count()
        held = Reservation.objects.filter(pair=pair).count()
        assert pair.claimed == live + held, (pair.external_id, pair.claimed, live, held)


@pytest.mark.django_db
def test_slot_counts_stay_true_through_votes_skips_undos_expiry_and_user_deletion(project):
    project.votes_per_pair = 2
    project.save()
    pairs = PairFactory.create_batch(6, project=project)
    first, second, third, leaver = _annotators(project, 4)
    _vote(project, first, next_assignment(project, first))
    record_skip(project, first, pair_id=next_assignment(project, first).pair.pk, reason="unsure")
    _vote(project, second, next_assignment(project, second), choice="B")
    undo_last(project, second)
    next_assignment(project, third)
    _slot_counts_match(project)

    # A reservation that ran out keeps its slot until released, then gives it back.
    Reservation.objects.filter(annotator=third).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert release_expired(project) == 1
    assert not Reservation.objects.filter(annotator=third).exists()
    _slot_counts_match(project)

    # Deleting a user who holds a pair hands its slot back.
    next_assignment(project, leaver)
    leaver.delete()
    _slot_counts_match(project)

    # Everyone working to the end fills each pair exactly k times (first skipped one pair).
    people = [first, second, third]
    while assignments := [(p, a) for p in people if (a := next_assignment(project, p))]:
        for person, assignment in assignments:
            _vote(project, person, assignment)
    _slot_counts_match(project)
    assert [Judgment.objects.filter(pair=p, retracted_at__isnull=True).count() for p in pairs] == [2] * 6


@pytest.mark.django_db
def test_a_holder_back_after_expiry_gets_the_same_pair_renewed(project):
    project.votes_per_pair = 1
    project.save()
    PairFactory.create_batch(2, project=project)
    (person,) = _annotators(project, 1)
    first = next_assignment(project, person)
    Reservation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    again = next_assignment(project, person)
    assert again.pair == first.pair
    assert again.reservation.expires_at > timezone.now() + timedelta(minutes=project.reservation_minutes - 1)
    assert Reservation.objects.get().expires_at == again.reservation.expires_at


@pytest.mark.django_db
def test_progress_counts_the_held_pair_and_stops_counting_at_the_cap(project, monkeypatch):
    project.votes_per_pair = 1
    project.save()
    PairFactory.create_batch(5, project=project)
    first, second = _annotators(project, 2)
    held = next_assignment(project, first)  # full now (k = 1), but only through first's own hold
    assert progress_for(project, first) == Progress(done=0, remaining=5)
    assert progress_for(project, second) == Progress(done=0, remaining=4)
    _vote(project, first, held)
    assert progress_for(project, first) == Progress(done=1, remaining=4)
    monkeypatch.setattr(queue, "REMAINING_CAP", 3)
    assert progress_for(project, second) == Progress(done=0, remaining=3, more=True)


@pytest.mark.django_db
def test_a_vote_before_both_clips_were_played_is_refused_and_the_pair_stays_reserved(project):
    project.must_view_share = 0.6
    project.save()
    clips = MediaAssetFactory.create_batch(2, kind="video", extension="mp4")
    PairFactory(project=project, task="T2V", response1_text=None, response2_text=None,
                response1_media=clips[0], response2_media=clips[1])  # fmt: skip
    annotator = _annotators(project, 1)[0]
    assignment = next_assignment(project, annotator)
    assert assignment is not None
    with pytest.raises(QueueError, match="Play both responses"):
        _vote(project, annotator, assignment, coverage={"A": 1.0, "B": 0.3})
    assert not Judgment.objects.exists() and not PairTally.objects.exists()
    assert Reservation.objects.get(annotator=annotator).pair_id == assignment.pair.pk
    assert _vote(project, annotator, assignment, coverage={"A": 1.0, "B": 0.6}).created
    assert Judgment.objects.get().pair_id == assignment.pair.pk
    assert not Reservation.objects.exists()
