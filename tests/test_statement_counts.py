"""The SQL statements of each hot path, pinned exactly (issue 17, item 2).

Timing lives in the benches; these tests make any statement added to (or removed from) a hot path
a failing test, so the change is deliberate: update the listing below in the same commit and say
why. Each listing names the statements in the order they run, as "VERB table: why"; the test
checks the count exactly, and that each statement starts with its verb and names its table.

The tests run inside pytest-django's transaction, so each `transaction.atomic()` of the code shows
up as SAVEPOINT / RELEASE SAVEPOINT: in production those are the BEGIN / COMMIT round trips. Run
with -v to see the SQL of a failing count.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import orjson
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image

from annotations.models import Judgment, Label, Pair, Project, Reservation, Role, ShownOrder
from annotations.services import pair_import as importer
from annotations.services.queue import progress_for
from annotations.services.tallies import tally_recount
from media_pipeline import pipeline
from media_pipeline.models import AssetStatus, MediaAsset, Rendition
from releases.models import ReleasePair
from releases.services import publish
from tests.annotations.test_api import api_for
from tests.conftest import client_for
from tests.factories import MembershipFactory, PairFactory, UserFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
AssertNumQueries = Callable[..., AbstractContextManager[CaptureQueriesContext]]


@contextmanager
def exactly(assert_num_queries: AssertNumQueries, expected: Sequence[str]) -> Iterator[None]:
    """The block runs exactly the `expected` statements: their number, and each one's verb and table."""
    listing = "\n".join(f"  {n:2}. {line}" for n, line in enumerate(expected, 1))
    try:
        with assert_num_queries(len(expected), info=f"The pinned statements:\n{listing}") as context:
            yield
    except pytest.fail.Exception as exc:
        # Show what ran without needing -v: that is what the next person has to explain.
        ran = "\n".join(f"  {n:2}. {q['sql'][:200]}" for n, q in enumerate(context.captured_queries, 1))
        raise pytest.fail.Exception(f"{exc}\n\nThe statements run:\n{ran}", pytrace=False) from None
    # An executemany is logged once, as "<n> times: <sql>" ("? times" for a generator of rows): one call,
    # whatever the number of rows.
    statements = [re.sub(r"^(\d+|\?) times: ", "", query["sql"]) for query in context.captured_queries]
    for n, (line, sql) in enumerate(zip(expected, statements, strict=True), 1):
        verb, *names = line.partition(":")[0].split()
        assert sql.startswith(verb) and all(name in sql for name in names), (
            f"statement {n} should be {line!r} but was:\n{sql[:300]}\n\nThe pinned statements:\n{listing}"
        )


# --- the annotator's queue -------------------------------------------------------------------------

# The session itself comes from the cache (SESSION_ENGINE cached_db).
SESSION = ("SELECT auth_user: the signed-in user",)
TOKEN = ("SELECT authtoken_token auth_user: the API token, with its user",)
PROJECT = ("SELECT annotations_project annotations_membership: the project, with the user's role in it",)
PROGRESS = ("SELECT annotations_judgment annotations_pair annotations_reservation: progress (done, left)",)
HELD = ("SELECT annotations_reservation: the pair the annotator already holds, if any",)
SHOW = ("SELECT annotations_pair: the pair to show, with its media",)
CLAIM = ("UPDATE annotations_pair: take a slot in the next open pair (claimed + 1)",)
RESERVE = ("INSERT annotations_reservation: reserve it for the annotator",)
# Handing out a pair: the annotator holds none, so a slot is claimed and reserved.
NEXT_PAIR = (
    *PROGRESS,
    "SAVEPOINT: the assignment's transaction",
    *HELD,
    *CLAIM,
    *RESERVE,
    *SHOW,
    "RELEASE SAVEPOINT",
)
# A reload: the annotator gets the pair they hold again.
SAME_PAIR = (*PROGRESS, "SAVEPOINT: the assignment's transaction", *HELD, *SHOW, "RELEASE SAVEPOINT")
VOTE = (
    "SAVEPOINT: the vote's transaction",
    "DELETE annotations_reservation annotations_pair: the reservation becomes the judgment (its side, its pair's gold)",
    "INSERT annotations_judgment: the vote",
    "INSERT annotations_pairtally annotations_pair annotations_goldstanding: count it in the pair's tally",
    "RELEASE SAVEPOINT",
)


@pytest.fixture
def queue(project: Project) -> Project:
    """Three text pairs, k = 3, and no gold turns (they are pinned on their own below)."""
    project.gold_share = 0
    project.save()
    PairFactory.create_batch(3, project=project)
    return project


def _shown(html: str) -> tuple[int, str]:
    pair = re.search(r'name="pair" value="(\d+)"', html)
    submission = re.search(r'name="submission_id" value="([0-9a-f-]+)"', html)
    assert pair and submission, html
    return int(pair.group(1)), submission.group(1)


def test_workspace_next_pair(queue, annotator, django_assert_num_queries):
    client = client_for(annotator)
    url = reverse("annotations:annotate", args=[queue.slug])
    with exactly(django_assert_num_queries, (*SESSION, *PROJECT, *NEXT_PAIR)):
        first = client.get(url)
    with exactly(django_assert_num_queries, (*SESSION, *PROJECT, *SAME_PAIR)):
        again = client.get(url, **HTMX)
    assert _shown(first.content.decode())[0] == _shown(again.content.decode())[0]
    assert Reservation.objects.filter(annotator=annotator).count() == 1


@pytest.mark.parametrize(
    ("tie_kinds", "vote"), [(False, {"choice": "A"}), (True, {"tie_kind": "both_bad"})], ids=["A", "tie-both-bad"]
)
def test_workspace_vote_and_next_pair(queue, annotator, django_assert_num_queries, tie_kinds, vote):
    # A tie with its kind costs what any vote costs: the kind rides on the judgment's INSERT and the tally's
    # upsert, and the project's setting came with the project.
    queue.tie_kinds = tie_kinds
    queue.save()
    client = client_for(annotator)
    pair_id, submission = _shown(client.get(reverse("annotations:annotate", args=[queue.slug])).content.decode())
    vote = {**vote, "pair": pair_id, "submission_id": submission}
    with exactly(django_assert_num_queries, (*SESSION, *PROJECT, *VOTE, *NEXT_PAIR)):
        response = client.post(reverse("annotations:vote", args=[queue.slug]), vote, **HTMX)
    assert response.status_code == 200
    assert _shown(response.content.decode())[0] != pair_id
    stored = Judgment.objects.get(annotator=annotator)
    assert (stored.pair_id, stored.tie_kind) == (pair_id, vote.get("tie_kind", ""))


def test_api_next_pair_then_vote_then_next_pair(queue, annotator, django_assert_num_queries):
    api = api_for(annotator)
    next_url = reverse("annotations-api:queue-next", args=[queue.slug])
    with exactly(django_assert_num_queries, (*TOKEN, *PROJECT, *NEXT_PAIR)):
        shown = api.get(next_url).json()
    vote = {"pair": shown["pair"]["id"], "choice": "B", "submission_id": shown["submission_id"]}
    with exactly(django_assert_num_queries, (*TOKEN, *PROJECT, *VOTE, *NEXT_PAIR)):
        voted = api.post(reverse("annotations-api:queue-vote", args=[queue.slug]), vote, format="json")
    assert voted.status_code == 201 and voted.json()["created"] is True
    following = voted.json()["next"]["pair"]["id"]
    assert following != shown["pair"]["id"]
    with exactly(django_assert_num_queries, (*TOKEN, *PROJECT, *SAME_PAIR)):
        again = api.get(next_url).json()
    assert again["pair"]["id"] == following and again["progress"]["done"] == 1


def test_a_gold_turn_in_a_project_without_gold_pairs_costs_one_more_statement(
    queue, annotator, django_assert_num_queries
):
    queue.gold_share = 1  # every turn is a gold turn: gold is looked for first, then a regular pair
    queue.save()
    gold_first = (
        *PROGRESS,
        "SAVEPOINT: the assignment's transaction",
        *HELD,
        # Finds nothing: the project has no gold pairs (annotations/services/queue.py, _assign).
        "UPDATE annotations_pair: take an unjudged gold pair",
        *CLAIM,
        *RESERVE,
        *SHOW,
        "RELEASE SAVEPOINT",
    )
    client = client_for(annotator)
    with exactly(django_assert_num_queries, (*SESSION, *PROJECT, *gold_first)):
        response = client.get(reverse("annotations:annotate", args=[queue.slug]))
    assert Pair.objects.get(pk=_shown(response.content.decode())[0]).gold_label is None


def test_workspace_with_an_empty_queue(queue, annotator, django_assert_num_queries):
    other = MembershipFactory(project=queue, user=UserFactory(username="other")).user
    Judgment.objects.bulk_create(
        Judgment(pair=pair, annotator=other, label="tie", shown_order="12", time_spent_ms=1)
        for pair in Pair.objects.filter(project=queue)
    )
    queue.votes_per_pair = 1
    queue.save()
    Pair.objects.filter(project=queue).update(claimed=1)
    nothing_open = (
        *PROGRESS,
        "SAVEPOINT: the assignment's transaction",
        *HELD,
        "UPDATE annotations_pair: no regular pair is open",
        "UPDATE annotations_pair: no gold pair either",
        "SELECT annotations_pair: is anything open but locked by others? (no)",
        "RELEASE SAVEPOINT",
        "SAVEPOINT: releasing reservations that ran out",
        "SELECT annotations_reservation: the ones that ran out, locked (none)",
        "RELEASE SAVEPOINT",
        # Two reads of one queryset (annotations/annotate_views.py, _workspace): exists, then count.
        "SELECT annotations_pair: are pairs waiting for their media?",
        "SELECT annotations_pair: how many",
    )
    client = client_for(annotator)
    with exactly(django_assert_num_queries, (*SESSION, *PROJECT, *nothing_open)):
        html = client.get(reverse("annotations:annotate", args=[queue.slug])).content.decode()
    assert "Your queue is empty" in html


def test_progress_is_one_statement(queue, annotator, django_assert_num_queries):
    client_for(annotator).get(reverse("annotations:annotate", args=[queue.slug]))  # holds one pair
    with exactly(django_assert_num_queries, PROGRESS):
        progress = progress_for(queue, annotator)
    assert (progress.done, progress.remaining) == (0, 3)


# --- import: the pair writes per batch ------------------------------------------------------------


def _text_rows(path: Path, count: int) -> Path:
    with path.open("wb") as fh:
        for n in range(count):
            row = {
                "id": f"row-{n}",
                "task": "T2T",
                "prompt": f"Question {n}",
                "response1": f"Answer {n}, one.",
                "response2": f"Answer {n}, two.",
                "criteria": "Prefer the accurate answer.",
                "criteria_preference": "response1",
                "model1": "m1",
                "model2": "m2",
            }
            fh.write(orjson.dumps(row) + b"\n")
    return path


def _import_statements(batches: list[int]) -> tuple[str, ...]:
    """What `pair_import` of text rows (no media) runs to write batches of these sizes of new pairs.

    Rows are checked once and staged as they pass, one statement per batch whatever its size (COPY on
    PostgreSQL, one executemany on SQLite), then moved over in one INSERT .. SELECT."""
    postgres = connection.vendor == "postgresql"
    stage = "COPY pair_import_stage: one batch of rows" if postgres else "INSERT pair_import_stage: one batch of rows"
    # PostgreSQL counts the rows it inserted (a CTE); SQLite, whose writers take turns, counts the new
    # ones first and then inserts.
    move = (
        ("WITH annotations_pair pair_import_stage: staged rows into the pairs, counted per task",)
        if postgres
        else (
            "SELECT pair_import_stage annotations_pair: the staged rows that are new, per task",
            "INSERT annotations_pair pair_import_stage: staged rows into the pairs, skipping known ids",
        )
    )
    return (
        "DROP pair_import_stage: one a lost import of this connection left",
        "CREATE pair_import_stage: the staging table of this connection",
        *[stage] * len(batches),
        "SAVEPOINT: the write transaction",
        *move,
        "RELEASE SAVEPOINT",
        "DROP pair_import_stage: done with it",
    )


@pytest.mark.parametrize(
    ("batch_size", "rows", "batches"),
    [
        (4, 4, [4]),  # one batch
        (8, 8, [8]),  # twice the rows in one batch: on PostgreSQL, the same statements
        (4, 8, [4, 4]),  # two batches: one more statement, the rest unchanged
        (4, 9, [4, 4, 1]),  # a part batch at the end is flushed with the rest
        (120, 120, [120]),  # one batch of more rows than SQLite takes in one multi-row INSERT
    ],
)
def test_import_statements_per_batch_of_pairs(
    project, tmp_path, monkeypatch, django_assert_num_queries, batch_size, rows, batches
):
    # Production batches are 2,000 rows (importer._PAIR_BATCH); smaller ones keep the test quick.
    monkeypatch.setattr(importer, "_PAIR_BATCH", batch_size)
    data = _text_rows(tmp_path / "pairs.jsonl", rows)
    with exactly(django_assert_num_queries, _import_statements(batches)):
        result = importer.pair_import(project=project, data_path=data)
    assert result.ok and result.summary["new_pairs"] == rows
    assert Pair.objects.filter(project=project).count() == rows


# --- the media job --------------------------------------------------------------------------------


def _image_asset(*, broken: bool = False) -> MediaAsset:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), "teal").save(buffer, "PNG")
    data = b"\x89PNG\r\n\x1a\nnot an image" if broken else buffer.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    key = default_storage.save(MediaAsset.storage_key(sha, "png"), ContentFile(data))
    return MediaAsset.objects.create(sha256=sha, kind="image", extension="png", file=key, size_bytes=len(data))


def _image_pair(project: Project, asset: MediaAsset) -> Pair:
    return PairFactory(
        project=project,
        task="T2I",
        response1_text=None,
        response2_text=None,
        response1_media=asset,
        response2_media=asset,
        media_ready=False,
    )


TAKE_JOB = (
    "UPDATE media_pipeline_mediaasset: claim the job (conditional, one row)",
    # The claim's outcome and the asset are two reads of the same row (core/jobs.py claim, then
    # media_pipeline/pipeline.py run).
    "SELECT media_pipeline_mediaasset: the job's status and run number after the claim",
    "SELECT media_pipeline_mediaasset: the asset to process",
)
REFRESH = ("UPDATE annotations_pair media_pipeline_mediaasset: readiness of the pairs that show it",)


def test_media_job_database_work(project, django_assert_num_queries):
    asset = _image_asset()
    pair = _image_pair(project, asset)
    ready = (
        *TAKE_JOB,
        # ... the transcoding runs here, with no transaction open ...
        "SAVEPOINT: the outcome's transaction",
        "SELECT media_pipeline_mediaasset: the run still holds the job (FOR UPDATE)",
        "DELETE media_pipeline_rendition: renditions of an earlier, unfinished run",
        "INSERT media_pipeline_rendition: all renditions in one statement",
        "UPDATE media_pipeline_mediaasset: ready, if this run still holds the job",
        "RELEASE SAVEPOINT",
        *REFRESH,
    )
    with exactly(django_assert_num_queries, ready):
        assert pipeline.run(asset.id) == AssetStatus.READY
    assert Rendition.objects.filter(asset=asset).count() >= 2
    pair.refresh_from_db()
    assert pair.media_ready


def test_media_job_database_work_for_a_broken_file(project, django_assert_num_queries):
    asset = _image_asset(broken=True)
    _image_pair(project, asset)
    failed = (*TAKE_JOB, "UPDATE media_pipeline_mediaasset: failed, with the message", *REFRESH)
    with exactly(django_assert_num_queries, failed):
        assert pipeline.run(asset.id) == AssetStatus.FAILED
    asset.refresh_from_db()
    assert "cannot be decoded" in asset.error


# --- publishing a release ---------------------------------------------------------------------------

# What the gate reads (releases.selectors.gate_outcome), then the rule again for the release's record.
GATE_READS = (
    "SELECT releases_gaterule: the rule the gate decides by",
    "SELECT annotations_pairtally: the vote tallies of the voted pairs (never every vote)",
    "SELECT annotations_pair: the gold pairs and their answers",
    "SELECT releases_adjudication annotations_pair: the latest decision per pair",
    "SELECT annotations_goldstanding: the annotators below the quality bar",
    "SELECT annotations_pair: labelling pairs per task (from an index)",
    "SELECT releases_gaterule: the rule again, recorded with the release",
)


def _publish_statements() -> tuple[str, ...]:
    stage = "COPY" if connection.vendor == "postgresql" else "INSERT"
    return (
        "SAVEPOINT: the publishing transaction",
        "SELECT annotations_project: one publisher at a time (FOR NO KEY UPDATE on PostgreSQL)",
        "SELECT releases_release: the latest version",
        *GATE_READS,
        "INSERT releases_release: the release, with its statistics and summary",
        "DROP release_pair_stage: one a lost publish of this connection left",
        "CREATE release_pair_stage: the decisions' staging table",
        f"{stage} release_pair_stage: every admitted pair's decision, in one statement (COPY or executemany)",
        "INSERT releases_releasepair release_pair_stage annotations_pair media_pipeline_mediaasset: "
        "the frozen pairs, with ids, tasks and media hashes joined in",
        "DROP release_pair_stage: done with it",
        "RELEASE SAVEPOINT",
    )


@pytest.mark.parametrize(
    ("pairs", "chunk"),
    [
        (3, 10_000),  # one chunk of decisions
        (9, 2),  # five chunks (publish._CHUNK, 10,000 in production) and three times the pairs: the same statements
    ],
)
def test_publish_statements_do_not_grow_with_the_release(
    project, curator, monkeypatch, django_assert_num_queries, pairs, chunk
):
    monkeypatch.setattr(publish, "_CHUNK", chunk)
    voters = [
        MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username=f"voter{i}")).user
        for i in range(3)
    ]
    Judgment.objects.bulk_create(
        Judgment(
            pair=pair, annotator=voter, label=Label.RESPONSE1, shown_order=ShownOrder.RESPONSE1_LEFT, time_spent_ms=900
        )
        for pair in PairFactory.create_batch(pairs, project=project)
        for voter in voters
    )
    tally_recount(project=project)  # written in bulk above
    with exactly(django_assert_num_queries, _publish_statements()):
        release = publish.release_publish(project=project, user=curator, bootstrap=10)
    assert ReleasePair.objects.filter(release=release).count() == pairs


# --- the leaderboard and hard pairs ---------------------------------------------------------------

# The human side's votes per pair (releases/selectors.py project_votes).
PROJECT_VOTES = (
    "SELECT annotations_pairtally: the per-pair vote tallies",
    "SELECT annotations_pair: the project's pairs, with task and gold codes",
    "SELECT releases_adjudication: the latest decisions",
    "SELECT annotations_goldstanding: annotators below the gold bar",
    "SELECT annotations_pair: pairs per task",
)
GATE_RULE = ("SELECT releases_gaterule: the gate's rule",)
# The gate's truth (gate_outcome): the rule, then the votes.
GATE_TRUTH = (*GATE_RULE, *PROJECT_VOTES)
JUDGES = ("SELECT judges_judge: the project's judges",)
# judges/sheets.py: every judge's answer sheets, both questions, in one statement; current ones are used as
# they are, without reading a model vote.
ANSWER_SHEETS = ("SELECT judges_answersheet: every judge's answer sheets (version, built version, codes)",)
# A stale sheet (its votes written since it was built) is built again and stored, once.
STALE_SHEET = (
    "SELECT judges_modelvote: the question's answers, joined in one text",
    "UPDATE judges_answersheet: the sheet built, at the version read",
)
SCALAR_SCORES = ("SELECT judges_scalarscore: every scalar judge's scores",)
TRUTHS = ("SELECT releases_release: the releases the page offers as truths",)
HARDEST = (
    "SELECT judges_judge: the project's judges, by name",
    *ANSWER_SHEETS,  # ranked, and the answers on the 200 hardest, from the sheets
    "SELECT annotations_pair: those pairs",
)


def _judged_project(project: Project, judges: int, scalar: int = 0) -> None:
    """Three pairs every voter labels response1; each judge answers response2 on all of them (w/ Tie). The
    answer sheets are built afterwards, as a run or an import leaves them."""
    from judges.models import Judge, ModelVote, ScalarScore
    from judges.sheets import answer_sheets_refresh
    from tests.releases.test_releases import votes

    voters = [MembershipFactory(project=project, user=UserFactory(username=f"voter{i}")).user for i in range(3)]
    pairs = PairFactory.create_batch(3, project=project)
    for pair in pairs:
        votes(pair, voters, ["response1"] * 3)
    for n in range(judges):
        judge = Judge.objects.create(project=project, name=f"judge-{n}", kind="imported")
        ModelVote.objects.bulk_create(
            ModelVote(judge=judge, pair=pair, with_tie=True, order="12", label="response2", status="ok")
            for pair in pairs
        )
    for n in range(scalar):
        judge = Judge.objects.create(project=project, name=f"scores-{n}", kind="scalar")
        ScalarScore.objects.bulk_create(ScalarScore(judge=judge, pair=pair, score1=0.0, score2=1.0) for pair in pairs)
    answer_sheets_refresh(judge_ids=Judge.objects.filter(project=project).values_list("pk", flat=True))


@pytest.mark.parametrize("judges", [1, 4])
def test_the_leaderboard_reads_every_judge_in_one_statement(project, curator, django_assert_num_queries, judges):
    _judged_project(project, judges)
    client = client_for(curator)
    url = reverse("judges:leaderboard", args=[project.slug])
    with exactly(
        django_assert_num_queries, (*SESSION, *PROJECT, *PROJECT_VOTES, *GATE_RULE, *JUDGES, *ANSWER_SHEETS, *TRUTHS)
    ):
        board = client.get(url).context["board"]
    assert [row.table.overall for row in board.with_tie[1:]] == [0.0] * judges


@pytest.mark.parametrize("scalar", [1, 3])
def test_scalar_judges_scores_are_one_statement_for_all_of_them(project, curator, django_assert_num_queries, scalar):
    _judged_project(project, 2, scalar=scalar)
    client = client_for(curator)
    url = reverse("judges:leaderboard", args=[project.slug])
    statements = (*SESSION, *PROJECT, *PROJECT_VOTES, *GATE_RULE, *JUDGES, *SCALAR_SCORES, *ANSWER_SHEETS, *TRUTHS)
    with exactly(django_assert_num_queries, statements):
        assert client.get(url).status_code == 200


def test_a_stale_answer_sheet_is_built_once_by_the_next_reader(project, curator, django_assert_num_queries):
    from judges.models import ModelVote

    _judged_project(project, 2)
    ModelVote.objects.filter(judge__name="judge-0").update(label="response1")  # not through a service: stale
    client = client_for(curator)
    url = reverse("judges:leaderboard", args=[project.slug])
    statements = (*SESSION, *PROJECT, *PROJECT_VOTES, *GATE_RULE, *JUDGES, *ANSWER_SHEETS, *STALE_SHEET, *TRUTHS)
    with exactly(django_assert_num_queries, statements):
        board = client.get(url).context["board"]
    assert {row.name: row.table.overall for row in board.with_tie[1:]} == {"judge-0": 1.0, "judge-1": 0.0}
    with exactly(
        django_assert_num_queries, (*SESSION, *PROJECT, *PROJECT_VOTES, *GATE_RULE, *JUDGES, *ANSWER_SHEETS, *TRUTHS)
    ):
        client.get(url)  # stored: the next reader uses it as it is


@pytest.mark.parametrize("judges", [1, 4])
def test_hard_pairs_are_ranked_in_one_statement_whatever_the_judges(
    project, curator, django_assert_num_queries, judges
):
    _judged_project(project, judges)
    client = client_for(curator)
    url = reverse("judges:hard_pairs", args=[project.slug])
    with exactly(django_assert_num_queries, (*SESSION, *PROJECT, *GATE_TRUTH, *HARDEST)):
        response = client.get(url)
    assert response.context["total"] == 3 and all(hard.wrong == judges for hard in response.context["found"])
