"""The queue under concurrent annotators, on real PostgreSQL: nobody races for the last slot."""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest
from django.db import connection, connections

from annotations.models import Judgment, Reservation
from annotations.services.queue import Vote, next_assignment, record_vote
from tests.factories import MembershipFactory, PairFactory, ProjectFactory, UserFactory
from tests.services import unavailable

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        unavailable("row locks with SKIP LOCKED need PostgreSQL (set DATABASE_URL)")


def _run_all(workers):
    errors: list[BaseException] = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as exc:
                errors.append(exc)
            finally:
                connections.close_all()

        return run

    threads = [threading.Thread(target=wrap(fn)) for fn in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


def test_the_last_slots_go_to_exactly_k_annotators():
    project = ProjectFactory(votes_per_pair=2)
    pair = PairFactory(project=project)
    people = [MembershipFactory(project=project, user=UserFactory(username=f"c{i}")).user for i in range(8)]
    start = threading.Barrier(len(people))
    got: dict[int, int | None] = {}

    def ask(person):
        def run():
            start.wait()
            assignment = next_assignment(project, person)
            got[person.pk] = assignment.pair.pk if assignment else None

        return run

    _run_all([ask(p) for p in people])
    assert Counter(got.values()) == {pair.pk: 2, None: 6}
    assert Reservation.objects.filter(pair=pair).count() == 2


def test_concurrent_annotators_fill_every_pair_exactly_k_times():
    project = ProjectFactory(votes_per_pair=2)
    pairs = PairFactory.create_batch(24, project=project)
    people = [MembershipFactory(project=project, user=UserFactory(username=f"w{i}")).user for i in range(8)]
    start = threading.Barrier(len(people))
    served: Counter[int] = Counter()

    def work(person):
        def run():
            start.wait()
            while (assignment := next_assignment(project, person)) is not None:
                submission = uuid.uuid4()
                vote = Vote(pair_id=assignment.pair.pk, choice="A", submission_id=submission)
                record_vote(project, person, vote)
                record_vote(project, person, vote)  # a retried request stores nothing more
                served[person.pk] += 1

        return run

    _run_all([work(p) for p in people])
    per_pair = Counter(Judgment.objects.values_list("pair_id", flat=True))
    assert per_pair == {p.pk: 2 for p in pairs}
    assert sum(served.values()) == 48
    assert len(served) > 1  # the work was shared, not done by one thread
    assert not Reservation.objects.exists()
