"""Schemathesis over every operation of the OpenAPI schema: whatever a curator sends, no answer is a 5xx.

The schema is the one drf-spectacular serves at /api/schema/, built in-process; the requests go through
the Django WSGI app in-process with a curator's token. The project behind them has real data: the
permission matrix's `world` (an image pair with three votes, release 1, a judge with a finished run, an
import job) plus pairs of three tasks that are accepted, disputed, short of votes, adjudicated, flagged,
gold or unvoted, a voter who has left, a stricter gate rule, a built release 2 and a release 3 still
building, an endpoint judge with a queued run, a judge whose run stalled, and a pair held in the
curator's queue. The hooks below put its slug, ids, usernames, release versions and a few valid field
values into most generated requests, so the handlers get past their 404s and act on the rest.

The database is the test's transaction: `on_commit` work (the Celery jobs of imports, release builds and
judge runs) is never sent, so no request here talks to a judge endpoint or waits on a worker.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import CoveragePhaseData
from schemathesis.hooks import HookContext
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from annotations.models import Label, Membership, Pair, PairSkip, Role, SkipKind, Task
from annotations.services.queue import next_assignment
from judges.models import Judge, JudgeKind, JudgeRun, ModelVote, RunStatus, VoteStatus
from releases.models import Decision, TiePolicy
from releases.services.publish import release_build, release_publish
from releases.services.quality import adjudication_decide, gate_rule_update
from tests import test_permission_matrix
from tests.factories import JudgmentFactory, MembershipFactory, PairFactory, UserFactory

pytestmark = pytest.mark.django_db
world = test_permission_matrix.world  # the fixture: a project with data, reused

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = get_wsgi_application()
# No 5xx is the requirement; answers with a documented status must also match their documented schema.
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]

# The running test's real values, set by its fixture: parameter (or body property) name -> values, where
# the i-th values of different names belong together (judge_id[i] owns run_id[i]). REAL_FOR holds the
# names whose values depend on the operation (`kind` is a judge's kind in one, a skip's in another).
REAL: dict[str, list[Any]] = {}
REAL_FOR: dict[str, dict[str, list[Any]]] = {}


def _known(operation: Any, name: str) -> list[Any] | None:
    return REAL_FOR.get(operation.label, {}).get(name) or REAL.get(name)


def _mostly_real(context: HookContext, values: Any) -> st.SearchStrategy[Any]:
    """The generated values with each name the project knows replaced, three times in four, by a real
    value (one set of values that belong together per example; shrinking goes towards the real ones)."""
    known = {name: _known(context.operation, name) for name in values} if isinstance(values, dict) else {}
    real = {name: options for name, options in known.items() if options}
    if not real:
        return st.just(values)
    which = st.sampled_from(range(max(len(options) for options in real.values())))
    keep = st.fixed_dictionaries({name: st.sampled_from([False, False, False, True]) for name in real})
    return st.tuples(which, keep).map(
        lambda drawn: {
            **values,
            **{name: options[drawn[0] % len(options)] for name, options in real.items() if not drawn[1][name]},
        }
    )


@schema.hook
def flatmap_path_parameters(context: HookContext, path_parameters: dict[str, Any]) -> st.SearchStrategy[Any]:
    return _mostly_real(context, path_parameters)


@schema.hook
def flatmap_query(context: HookContext, query: dict[str, Any] | None) -> st.SearchStrategy[Any]:
    return _mostly_real(context, query)


@schema.hook
def flatmap_body(context: HookContext, body: Any) -> st.SearchStrategy[Any]:
    return _mostly_real(context, body)


_coverage_turn = itertools.count()
_ZIP = b"PK\x03\x04" + bytes(26)  # a zip's signature (the upload is named .zip) and nothing usable


def _aim_at_real_objects(case: Case) -> None:
    """Coverage-phase cases are built when the module is collected, before there is a project: point what
    each of them does not vary at real objects, so it tests what it varies behind the 404s."""
    data = case.meta.phase.data if case.meta is not None else None
    if not isinstance(data, CoveragePhaseData):
        return
    turn = next(_coverage_turn)
    varied = (data.parameter_location, data.parameter)
    for location, values in (
        (ParameterLocation.PATH, case.path_parameters),
        (ParameterLocation.QUERY, case.query),
        (ParameterLocation.BODY, case.body),
    ):
        if not isinstance(values, dict):
            continue
        for name in values:
            options = _known(case.operation, name)
            if options and (location, name) != varied:
                values[name] = options[turn % len(options)]


@pytest.fixture
def project_with_data(world) -> Iterator[str]:
    """`world` and the rest of the data described above; sets the values the hooks use; the curator's token."""
    users, kwargs = world
    curator = users["curator"]
    first_pair = Pair.objects.select_related("project", "response1_media").get(pk=kwargs["pair_id"])
    project, image = first_pair.project, first_pair.response1_media
    voters = [m.user for m in Membership.objects.filter(project=project, user__username__in=["v0", "v1", "v2"])]
    pairs = [
        PairFactory(project=project, task=Task.T2T, prompt="Explain recursion.", criterion=f"Criterion {n}")
        for n in range(5)
    ] + [PairFactory(project=project, task=Task.TI2T, input_media=image, gold_label=Label.RESPONSE2)]
    votes = {
        pairs[0]: [Label.RESPONSE1] * 3,  # accepted
        pairs[1]: [Label.RESPONSE1, Label.RESPONSE2, Label.TIE],  # disputed
        pairs[2]: [Label.TIE],  # needs votes
        pairs[3]: [Label.RESPONSE2, Label.RESPONSE1],  # adjudicated below
        pairs[5]: [Label.RESPONSE2, Label.RESPONSE2],  # gold
    }  # pairs[4]: no votes at all
    for pair, labels in votes.items():
        for voter, label in zip(voters, labels, strict=False):
            JudgmentFactory(pair=pair, annotator=voter, label=label, shown_order="21", time_spent_ms=900)
    gone = MembershipFactory(project=project, user=UserFactory(username="gone"))  # voted, then left
    JudgmentFactory(pair=pairs[2], annotator=gone.user, label=Label.RESPONSE1, shown_order="12", time_spent_ms=5)
    gone.delete()
    PairSkip.objects.create(pair=pairs[4], annotator=users["annotator"], kind=SkipKind.FLAG, reason="broken_media")
    adjudication_decide(pair=pairs[3], user=curator, decision=Decision.EXCLUDE, note="Both are wrong.")
    # Release 2 under a stricter gate than release 1's default one, built; release 3 still building.
    gate_rule_update(project=project, user=curator, min_votes=2, min_majority_share=0.6667,
                     tie_policy=TiePolicy.ABSTAIN, min_gold_accuracy=0.5, min_gold_judged=1)  # fmt: skip
    release_build(release_publish(project=project, user=curator, bootstrap=10).pk)
    release_publish(project=project, user=curator, bootstrap=0)

    first_judge = Judge.objects.get(pk=kwargs["judge_id"])
    ModelVote.objects.bulk_create(
        ModelVote(judge=first_judge, pair=pair, with_tie=True, order="12", label=Label.RESPONSE1, status=VoteStatus.OK)
        for pair in pairs
    )
    endpoint = Judge.objects.create(
        project=project, name="endpoint", kind=JudgeKind.ENDPOINT, base_url="http://127.0.0.1:9/v1", model="m"
    )
    queued = JudgeRun.objects.create(judge=endpoint, tasks=["T2T"], with_tie=False, status=RunStatus.QUEUED)
    longer = Judge.objects.create(project=project, name="longer", kind=JudgeKind.LONGER)
    stalled = JudgeRun.objects.create(  # its worker died: the lease ran out
        judge=longer, tasks=["T2T", "TI2T"], with_tie=True, status=RunStatus.RUNNING, lease_until=timezone.now()
    )
    shown = next_assignment(project, curator)  # a pair held in the curator's queue, to vote on or skip
    assert shown is not None
    pair_ids = [shown.pair.pk, *sorted({first_pair.pk, *(p.pk for p in pairs)} - {shown.pair.pk})]
    scores = [{"id": p.external_id, "score1": 0.9, "score2": 0.1} for p in [first_pair, *pairs]]

    REAL.update(
        {
            "slug": [project.slug],
            "pair_id": pair_ids,
            "pair": pair_ids,
            "judge_id": [first_judge.pk, endpoint.pk, longer.pk],
            "run_id": [kwargs["run_id"], queued.pk, stalled.pk],
            "job_id": [str(kwargs["job_id"])],
            "version": [1, 2, 3, 4],  # 4: the next one, for publishing
            "old": [1, 2],
            "new": [2, 3],
            "release": [1, 2, 3],
            "username": ["ann", "v0", "v1"],
            "annotator": ["v0", "ann"],
            "asset": [image.pk],
            "task": ["T2T", "text_to_image", "TI2T"],
            "tasks": [["T2T"], ["T2I", "TI2T"]],
            "submission_id": [str(uuid.uuid4())],
            "min_votes": [3, 2],
            "min_majority_share": [0.6667, 1.0],
            "min_gold_accuracy": [None, 0.8],
            "min_gold_judged": [5, 1],
        }
    )
    REAL_FOR.update(
        {
            "POST /api/projects/{slug}/judges/": {"kind": ["first", "endpoint", "longer"]},
            "PATCH /api/projects/{slug}/judges/{judge_id}/": {"kind": ["first", "endpoint", "longer"]},
            "POST /api/projects/{slug}/imports/": {"data_file": [_ZIP], "media_file": [_ZIP]},
            "POST /api/projects/{slug}/queue/skip/": {"kind": ["skip", "flag"], "reason": ["unsure", "broken_media"]},
            "POST /api/projects/{slug}/judges/import/": {
                "kind": ["scores"],
                "file": [json.dumps(scores).encode()],
                "model": ["imported-rm"],
            },
        }
    )
    assert Membership.objects.get(project=project, user=curator).role == Role.CURATOR
    # Requests go to the WSGI app directly, not through Django's test client, which would detach
    # this: on PostgreSQL it closes the test's connection (and its transaction) after each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield Token.objects.create(user=curator).key
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    REAL.clear()
    REAL_FOR.clear()


@settings(
    max_examples=20,
    deadline=None,
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@schema.parametrize()
def test_no_request_gets_a_server_error(case: Case, project_with_data: str) -> None:
    _aim_at_real_objects(case)
    case.call_and_validate(headers={"Authorization": f"Token {project_with_data}"}, checks=CHECKS)
