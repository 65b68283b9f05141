"""The researcher's path on a release in the Omni-RewardBench layout: import the pairs with their labels, import
two models' results as the paper's evaluation writes them (a folder per task), and read both tables.

Every expected figure is computed here from the release's own parquet files and the predictions the test wrote,
without the app's code: accuracies, Overall, Wilson intervals and McNemar p-values.
"""

from __future__ import annotations

import io
import json
import math
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from rest_framework.test import APIClient

from annotations.models import Label, Pair, Role, ShownOrder
from annotations.services.pair_import import pair_import
from judges.models import Judge, ModelVote
from tests.conftest import client_for
from tests.factories import JudgmentFactory, MembershipFactory, UserFactory

CONFIGS = {
    "text_to_text": "T2T",
    "text_image_to_text": "TI2T",
    "text_video_to_text": "TV2T",
    "text_audio_to_text": "TA2T",
    "text_to_image": "T2I",
    "text_to_video": "T2V",
    "text_to_audio": "T2A",
    "text_to_3D": "T23D",
    "text_image_to_image": "TI2I",
}
ANSWERS = ["response1", "response2", "tie", None]
Z = 1.959963984540054  # the 97.5% normal quantile


def benchmark(release: Path) -> dict[str, dict[str, str]]:
    """task -> {id: label}, read straight from the release's parquet files."""
    found: dict[str, dict[str, str]] = {}
    for config, task in CONFIGS.items():
        for path in sorted((release / config).glob("*.parquet")):
            table = pq.read_table(path, columns=["id", "criteria_preference"]).to_pylist()
            found.setdefault(task, {}).update({row["id"]: row["criteria_preference"] for row in table})
    return found


def predictions(labels: dict[str, dict[str, str]], seed: int, right: float) -> dict[bool, dict[str, str | None]]:
    """A model's answers to both questions: right with probability `right`, otherwise another answer."""
    rng = random.Random(seed)
    answers: dict[bool, dict[str, str | None]] = {True: {}, False: {}}
    for by_id in labels.values():
        for pid, label in sorted(by_id.items()):
            for with_tie in (True, False):
                if not with_tie and label == "tie":
                    continue  # the paper asks the no-tie question only on non-tie pairs
                options = ANSWERS if with_tie else ["response1", "response2", "tie", None]
                answers[with_tie][pid] = (
                    label if rng.random() < right else rng.choice([a for a in options if a != label])
                )
    return answers


def write_paper_folder(root: Path, labels, models: dict[str, dict[bool, dict[str, str | None]]]) -> None:
    """<config>/<model>_preferences(_with_tie).json as run_exp.py writes them, plus its log files."""
    for config, task in CONFIGS.items():
        if task not in labels:
            continue
        folder = root / config
        folder.mkdir(parents=True, exist_ok=True)
        for model, answers in models.items():
            for with_tie, suffix in ((True, "_with_tie"), (False, "")):
                records = [
                    {"id": pid, "criteria_preference": label, "predicted": answers[with_tie][pid]}
                    for pid, label in labels[task].items()
                    if pid in answers[with_tie]
                ]
                (folder / f"{model}_preferences{suffix}.json").write_text(json.dumps(records, indent=4))
                (folder / f"log_{model}_preferences{suffix}.log").write_text("Acc: whatever the run printed\n")


def wilson(correct: int, n: int) -> tuple[float, float]:
    p = correct / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return centre - half, centre + half


def mcnemar_p(a_only: int, b_only: int) -> float:
    n = a_only + b_only
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(a_only, b_only) + 1)) / 2**n
    return min(1.0, 2 * tail)


def expected_cells(labels, answers, *, with_tie: bool) -> dict[str, tuple[int, int]]:
    cells = {}
    for task, by_id in labels.items():
        scored = [(pid, lab) for pid, lab in by_id.items() if with_tie or lab != "tie"]
        correct = sum(answers[with_tie].get(pid) == lab for pid, lab in scored)
        cells[task] = (correct, len(scored))
    return cells


@pytest.fixture
def imported(project, release_dir):
    result = pair_import(project=project, data_path=release_dir)
    assert result.ok, result.problems
    return project


@pytest.mark.django_db
def test_two_models_from_a_paper_folder_score_cell_for_cell(imported, curator, release_dir, tmp_path):
    project = imported
    labels = benchmark(release_dir)
    assert sum(len(v) for v in labels.values()) == Pair.objects.filter(project=project).count()
    models = {"alpha-7b": predictions(labels, seed=1, right=0.8), "beta-72b": predictions(labels, seed=2, right=0.5)}
    folder = tmp_path / "omnireward_preference_eval"
    write_paper_folder(folder, labels, models)
    # beta's position-bias run on T2T (run_exp_t2a.py style): answers already mapped back to canonical.
    t2t = sorted(labels["T2T"])
    flipped = {pid: ("response2" if models["beta-72b"][True][pid] == "response1" else "response1") for pid in t2t[:1]}
    inversed = [{"id": pid, "predicted": flipped.get(pid, models["beta-72b"][True][pid])} for pid in t2t]
    (folder / "text_to_text" / "beta-72b_preferences_with_tie_inversed.json").write_text(json.dumps(inversed))

    out = io.StringIO()
    call_command("import_judge_results", str(folder), project=project.slug, stdout=out)
    printed = out.getvalue()
    assert "alpha-7b, beta-72b" in printed or "beta-72b, alpha-7b" in printed
    assert "Not results files, left alone: " in printed and "/log_alpha-7b_preferences.log" in printed
    assert "text_to_text/beta-72b_preferences_with_tie_inversed.json: beta-72b (w/ Tie, responses swapped)" in printed
    assert set(Judge.objects.filter(project=project).values_list("name", flat=True)) == set(models)

    client = APIClient()
    client.force_authenticate(curator)
    board = client.get(f"/api/projects/{project.slug}/leaderboard/").json()
    # No human label is accepted yet and the pairs came with labels: the imported labels are the truth.
    assert board["truth"] == "imported" and board["human_labels"] == "the labels imported with the pairs"
    assert board["task_pairs"] == {task: len(ids) for task, ids in labels.items()}

    for key, with_tie in (("with_tie", True), ("without_tie", False)):
        rows = {row["model"]: row for row in board[key]}
        for model, answers in models.items():
            cells = expected_cells(labels, answers, with_tie=with_tie)
            row = rows[model]
            for task, (correct, n) in cells.items():
                cell = row["tasks"][task]
                assert (cell["correct"], cell["n"]) == (correct, n), (model, key, task)
                if n:
                    low, high = wilson(correct, n)
                    assert cell["accuracy"] == pytest.approx(correct / n)
                    assert (cell["low"], cell["high"]) == (pytest.approx(low), pytest.approx(high))
            scored = [c / n for c, n in cells.values() if n]
            assert row["overall"] == pytest.approx(sum(scored) / len(scored))
            assert row["overall_low"] <= row["overall"] <= row["overall_high"]

    # The command prints the same cells as the API and the page.
    out = io.StringIO()
    call_command("leaderboard", project=project.slug, format="json", stdout=out)
    printed_board = json.loads(out.getvalue())
    page_board = json.loads(client_for(curator).get(f"/projects/{project.slug}/leaderboard.json").content)
    assert printed_board == page_board

    def figures(rows):
        return {r["model"]: (r["overall"], {t: (c["correct"], c["n"]) for t, c in r["tasks"].items()}) for r in rows}

    for key in ("with_tie", "without_tie"):
        assert figures(printed_board[key]) == figures(board[key])
    out = io.StringIO()
    call_command("leaderboard", project=project.slug, truth="imported", format="markdown", stdout=out)
    alpha = expected_cells(labels, models["alpha-7b"], with_tie=True)
    correct, n = alpha["T2T"]
    assert f"{correct / n * 100:.2f} (n={n})" in out.getvalue()

    # McNemar per task and pooled, on the pairs both answered.
    alpha_id, beta_id = (Judge.objects.get(project=project, name=name).pk for name in models)
    report = client.get(f"/api/projects/{project.slug}/judges/{alpha_id}/report/", {"compare": beta_id}).json()
    for title, with_tie in (("w/ Tie", True), ("w/o Tie", False)):
        paired = report["comparison"]["questions"][title]
        pooled = [0, 0]
        for task, by_id in labels.items():
            a_only = b_only = 0
            for pid, lab in by_id.items():
                if not with_tie and lab == "tie":
                    continue
                a_right = models["alpha-7b"][with_tie].get(pid) == lab
                b_right = models["beta-72b"][with_tie].get(pid) == lab
                a_only += a_right and not b_right
                b_only += b_right and not a_right
            pooled[0] += a_only
            pooled[1] += b_only
            got = paired["tasks"][task]
            assert (got["a_only"], got["b_only"]) == (a_only, b_only)
            assert got["p_value"] == pytest.approx(mcnemar_p(a_only, b_only))
        assert paired["overall"]["p_value"] == pytest.approx(mcnemar_p(*pooled))

    # The _inversed run counts toward position consistency: all T2T pairs but the one flipped agree.
    beta = client.get(f"/api/projects/{project.slug}/judges/{beta_id}/report/").json()
    assert beta["consistency"] == {"value": pytest.approx((len(t2t) - 1) / len(t2t)), "pairs": len(t2t)}
    assert ModelVote.objects.filter(judge_id=beta_id, order=ShownOrder.RESPONSE2_LEFT).count() == len(t2t)


@pytest.mark.django_db
def test_per_task_files_merge_by_pair_and_say_what_they_did(imported, curator, release_dir, tmp_path):
    project = imported
    labels = benchmark(release_dir)
    answers = predictions(labels, seed=3, right=0.7)
    folder = tmp_path / "eval"
    write_paper_folder(folder, labels, {"gamma": answers})
    client = APIClient()
    client.force_authenticate(curator)
    url = f"/api/projects/{project.slug}/judges/import/"

    def post(path: Path, **extra) -> dict:
        upload = SimpleUploadedFile(path.name, path.read_bytes())
        response = client.post(url, {"kind": "preferences", "file": upload, **extra}, format="multipart")
        assert response.status_code == 201, response.json()
        return response.json()

    # One task after another, as the paper's evaluation writes them: each adds, none wipes the others.
    for config, task in CONFIGS.items():
        if task in labels:
            body = post(folder / config / "gamma_preferences_with_tie.json")
            assert (body["files"][0]["added"], body["files"][0]["replaced"]) == (len(labels[task]), 0)
    board = client.get(f"/api/projects/{project.slug}/leaderboard/", {"truth": "imported"}).json()
    row = next(r for r in board["with_tie"] if r["model"] == "gamma")
    cells = expected_cells(labels, answers, with_tie=True)
    scored = [c / n for c, n in cells.values() if n]
    assert row["overall"] == pytest.approx(sum(scored) / len(scored))
    assert {t: (c["correct"], c["n"]) for t, c in row["tasks"].items() if c["n"]} == cells

    # A re-import of one task replaces that task's answers only; an unknown id is reported, not fatal.
    t2t = folder / "text_to_text" / "gamma_preferences_with_tie.json"
    records = json.loads(t2t.read_text())
    for record in records:
        record["predicted"] = record["criteria_preference"]
    records.append({"id": "not-in-this-benchmark", "predicted": "response1"})
    t2t.write_text(json.dumps(records))
    body = post(t2t)
    assert body["files"][0] | {"judge": None} == body["files"][0] | {
        "added": 0,
        "replaced": len(labels["T2T"]),
        "unmatched_count": 1,
        "unmatched": ["not-in-this-benchmark"],
        "judge": None,
    }
    board = client.get(f"/api/projects/{project.slug}/leaderboard/", {"truth": "imported"}).json()
    row = next(r for r in board["with_tie"] if r["model"] == "gamma")
    assert (row["tasks"]["T2T"]["correct"], row["tasks"]["T2T"]["n"]) == (len(labels["T2T"]),) * 2
    other = next(t for t in cells if t != "T2T")
    assert (row["tasks"][other]["correct"], row["tasks"][other]["n"]) == cells[other]

    # A file whose name says nothing: the variant and order are given explicitly.
    plain = tmp_path / "results.json"
    plain.write_text(json.dumps([{"id": pid, "predicted": "tie"} for pid in labels["T2T"]]))
    body = post(plain, model="delta", with_tie="true", inversed="true")
    assert (body["files"][0]["model"], body["files"][0]["with_tie"], body["files"][0]["inversed"]) == (
        "delta",
        True,
        True,
    )
    assert ModelVote.objects.filter(judge__name="delta", order=ShownOrder.RESPONSE2_LEFT, with_tie=True).count() == len(
        labels["T2T"]
    )
    # Asked without a name and without the variant, the import says what to do and stores nothing.
    plain.write_text(json.dumps([{"id": pid, "predicted": "tie"} for pid in labels["T2T"]]))
    upload = SimpleUploadedFile("results.json", plain.read_bytes())
    refused = client.post(url, {"kind": "preferences", "file": upload, "model": "epsilon"}, format="multipart")
    assert refused.status_code == 400 and "give the model and the variant explicitly" in refused.json()["file"][0]
    assert not Judge.objects.filter(name="epsilon").exists()


@pytest.mark.django_db
def test_a_judge_with_nothing_scoreable_stays_with_the_reason_and_humans_score_against_imported_labels(
    imported, curator, release_dir, tmp_path
):
    project = imported
    labels = benchmark(release_dir)
    t2t = sorted(labels["T2T"])
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username="ann1")).user
    pairs = {p.external_id: p for p in Pair.objects.filter(project=project, external_id__in=t2t[:2])}
    wrong = next(lab for lab in ("response1", "response2", "tie") if lab != labels["T2T"][t2t[1]])
    JudgmentFactory(pair=pairs[t2t[0]], annotator=annotator, label=labels["T2T"][t2t[0]],
                            shown_order=ShownOrder.RESPONSE1_LEFT, time_spent_ms=3000)  # fmt: skip
    JudgmentFactory(pair=pairs[t2t[1]], annotator=annotator, label=Label(wrong),
                            shown_order=ShownOrder.RESPONSE1_LEFT, time_spent_ms=3000)  # fmt: skip
    path = tmp_path / "zeta_preferences_with_tie.json"
    path.write_text(json.dumps([{"id": pid, "predicted": "response1"} for pid in t2t]))
    call_command("import_judge_results", str(path), project=project.slug, stdout=io.StringIO())

    client = APIClient()
    client.force_authenticate(curator)
    # Against the gate nothing is accepted yet: the judge stays on the board and says why.
    board = client.get(f"/api/projects/{project.slug}/leaderboard/", {"truth": "gate"}).json()
    zeta = next(r for r in board["with_tie"] if r["model"] == "zeta")
    assert zeta["overall"] is None
    assert zeta["note"] == f"0 of {len(t2t)} answers fall on pairs scored against the gate's accepted labels (live)."
    assert board["with_tie"][0]["note"] == "No annotator votes to score on these pairs."  # the human row
    # Against the imported labels our annotator is scored vote by vote: one right, one wrong on T2T.
    board = client.get(f"/api/projects/{project.slug}/leaderboard/", {"truth": "imported"}).json()
    human = board["with_tie"][0]
    assert human["model"] == "Human annotators"
    assert (human["tasks"]["T2T"]["correct"], human["tasks"]["T2T"]["n"]) == (1, 2)
    # A truth that does not exist is refused with the field named.
    refused = client.get(f"/api/projects/{project.slug}/leaderboard/", {"truth": "votes"})
    assert refused.status_code == 400 and "truth" in refused.json()
    page = client_for(curator).get(f"/projects/{project.slug}/leaderboard/?truth=imported")
    assert page.status_code == 200
    assert "Scored against <strong>the labels imported with the pairs</strong>" in page.content.decode()
