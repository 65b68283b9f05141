from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from judges import result_files
from judges.result_files import Preference, Problem, Score, read_preferences, read_scores


def _record(pair_id: Any, predicted: Any, **extra: Any) -> dict[str, Any]:
    record = {
        "id": pair_id,
        "prompt": "Draw a cat",
        "criteria": "Prefer the more realistic cat.",
        "response1": "a.png",
        "response2": "b.png",
        "criteria_preference": "response1",
        "predicted": predicted,
    }
    record.update(extra)
    return record


def _json(tmp_path: Path, name: str, records: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(records, indent=4))
    return path


def _jsonl(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _texts(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems]


# --------------------------------------------------------------------------- preference files


def test_reads_a_no_tie_preference_file_in_every_verdict_spelling(tmp_path: Path) -> None:
    records = [
        _record("p1", "response1"),
        _record("p2", "response2"),
        _record("p3", "A"),
        _record("p4", "b"),
        _record("p5", "[[A]]"),
        _record("p6", " [[B]] "),
        _record("p7", "\\boxed{B}"),
        _record("p8", 1),
        _record("p9", 2),
        _record("p10", "2"),
        _record("p11", None),
    ]
    parsed = read_preferences(_json(tmp_path, "gpt-4o_preferences.json", records))
    assert parsed.problems == []
    assert parsed.model == "gpt-4o"
    assert parsed.with_tie is False
    assert [row.predicted for row in parsed.rows] == [
        "response1",
        "response2",
        "response1",
        "response2",
        "response1",
        "response2",
        "response2",
        "response1",
        "response2",
        "response2",
        None,
    ]
    assert parsed.rows[0] == Preference(pair_id="p1", predicted="response1")


def test_reads_a_with_tie_file_and_its_tie_spellings(tmp_path: Path) -> None:
    records = [_record("p1", "tie"), _record("p2", "C"), _record("p3", "[[C]]"), _record(4, "\\boxed{C}")]
    parsed = read_preferences(_json(tmp_path, "Qwen2.5-VL-7B_preferences_with_tie.json", records))
    assert parsed.problems == []
    assert (parsed.model, parsed.with_tie) == ("Qwen2.5-VL-7B", True)
    assert [(row.pair_id, row.predicted) for row in parsed.rows] == [
        ("p1", "tie"),
        ("p2", "tie"),
        ("p3", "tie"),
        ("4", "tie"),
    ]


def test_a_tie_answer_to_the_no_tie_question_is_kept_as_a_wrong_answer(tmp_path: Path) -> None:
    parsed = read_preferences(_json(tmp_path, "m_preferences.json", [_record("p1", "tie"), _record("p2", "[[C]]")]))
    assert parsed.problems == []
    assert [row.predicted for row in parsed.rows] == ["tie", "tie"]


def test_reads_jsonl_with_line_numbers(tmp_path: Path) -> None:
    lines = [json.dumps(_record("p1", "A")), "", json.dumps(_record("p2", "D"))]
    parsed = read_preferences(_jsonl(tmp_path, "m_preferences_with_tie.jsonl", lines))
    assert (parsed.model, parsed.with_tie) == ("m", True)
    assert parsed.rows == [Preference("p1", "response1")]
    assert _texts(parsed.problems) == [
        "m_preferences_with_tie.jsonl:3: predicted: unknown value 'D'; expected " + result_files._ACCEPTED + "."
    ]


@pytest.mark.parametrize(
    ("name", "model", "with_tie"),
    [
        ("gpt-4o_preferences.json", "gpt-4o", False),
        ("gpt-4o_preferences_with_tie.json", "gpt-4o", True),
        ("claude-3.5_preferences.jsonl", "claude-3.5", False),
        ("my_model_v2_preferences_with_tie.jsonl", "my_model_v2", True),
        ("uploads/2025/x_preferences.JSON", "x", False),
    ],
)
def test_model_and_variant_come_from_the_uploaded_name(tmp_path: Path, name: str, model: str, with_tie: bool) -> None:
    temp = _json(tmp_path, "upload-tmp-1234", [_record("p1", "A")])
    parsed = read_preferences(temp, name=name)
    assert (parsed.model, parsed.with_tie, parsed.problems) == (model, with_tie, [])


@pytest.mark.parametrize("name", ["results.json", "gpt-4o_preference.json", "_preferences.json", "m_preferences.csv"])
def test_an_unrecognised_name_is_a_problem(tmp_path: Path, name: str) -> None:
    parsed = read_preferences(_json(tmp_path, "tmp", [_record("p1", "A")]), name=name)
    assert len(parsed.problems) == 1
    assert str(parsed.problems[0]).startswith(f"{name}: the file name must look like '{{model}}_preferences.json'")
    assert parsed.model == ""


def test_explicit_model_and_variant_override_the_name(tmp_path: Path) -> None:
    path = _json(tmp_path, "results.json", [_record("p1", "C")])
    parsed = read_preferences(path, model="judge-x", with_tie=True)
    assert (parsed.model, parsed.with_tie, parsed.problems) == ("judge-x", True, [])

    parsed = read_preferences(_json(tmp_path, "gpt_preferences.json", [_record("p1", "A")]), model="renamed")
    assert (parsed.model, parsed.with_tie, parsed.problems) == ("renamed", False, [])

    only_model = read_preferences(path, model="judge-x")
    assert "give the model and the variant explicitly" in str(only_model.problems[0])

    empty = read_preferences(path, model=" ", with_tie=False)
    assert _texts(empty.problems) == ["results.json: model: the model name is empty."]


def test_each_record_problem_names_file_record_and_field(tmp_path: Path) -> None:
    records = [
        _record("p1", "A"),
        {"prompt": "no id", "predicted": "A"},
        _record("", "A"),
        _record(["p4"], "A"),
        _record("p5", "D"),
        {"id": "p6"},
        _record("p1", "B"),
        "not an object",
        _record("p9", True),
    ]
    parsed = read_preferences(_json(tmp_path, "m_preferences.json", records))
    assert parsed.rows == [Preference("p1", "response1")]
    assert _texts(parsed.problems) == [
        "m_preferences.json:2: id: missing.",
        "m_preferences.json:3: id: missing.",
        "m_preferences.json:4: id: must be a string, got ['p4'].",
        f"m_preferences.json:5: predicted: unknown value 'D'; expected {result_files._ACCEPTED}.",
        "m_preferences.json:6: predicted: missing; use null for a model that gave no answer.",
        "m_preferences.json:7: id: duplicate id 'p1' (first at 1).",
        "m_preferences.json:8: a record must be a JSON object, not str.",
        f"m_preferences.json:9: predicted: unknown value True; expected {result_files._ACCEPTED}.",
    ]


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m_preferences.json"
    path.write_text('[{"id": "p1", "predicted": "A"},')
    parsed = read_preferences(path)
    assert parsed.rows == []
    assert len(parsed.problems) == 1
    assert str(parsed.problems[0]).startswith("m_preferences.json: is not valid JSON (")


def test_a_json_file_that_is_not_an_array_is_refused(tmp_path: Path) -> None:
    parsed = read_preferences(_json(tmp_path, "m_preferences.json", {"id": "p1", "predicted": "A"}))
    assert _texts(parsed.problems) == ["m_preferences.json: must hold a JSON array of records, not a JSON dict."]
    assert parsed.rows == []


def test_empty_files_are_refused(tmp_path: Path) -> None:
    assert _texts(read_preferences(_json(tmp_path, "m_preferences.json", [])).problems) == [
        "m_preferences.json: holds no records."
    ]
    empty = tmp_path / "e_preferences.json"
    empty.write_bytes(b"")
    assert _texts(read_preferences(empty).problems) == ["e_preferences.json: is empty."]


def test_bad_jsonl_lines_are_problems_on_their_line(tmp_path: Path) -> None:
    lines = [json.dumps(_record("p1", "A")), "{not json", "[1, 2]", json.dumps(_record("p4", "B"))]
    parsed = read_preferences(_jsonl(tmp_path, "m_preferences.jsonl", lines))
    assert [row.pair_id for row in parsed.rows] == ["p1", "p4"]
    texts = _texts(parsed.problems)
    assert texts[0].startswith("m_preferences.jsonl:2: not valid JSON (")
    assert texts[1] == "m_preferences.jsonl:3: a line must hold a JSON object, not list."


def test_a_json_array_named_jsonl_is_still_read(tmp_path: Path) -> None:
    parsed = read_preferences(_json(tmp_path, "m_preferences.jsonl", [_record("p1", "A"), _record("p2", "B")]))
    assert (len(parsed.rows), parsed.problems) == (2, [])


def test_a_temp_file_without_extension_is_sniffed(tmp_path: Path) -> None:
    lines = [json.dumps(_record("p1", "A")), json.dumps(_record("p2", None))]
    temp = _jsonl(tmp_path, "tmpabc", lines)
    parsed = read_preferences(temp, model="m", with_tie=False)
    assert (len(parsed.rows), parsed.problems) == (2, [])


def test_too_large_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _json(tmp_path, "m_preferences.json", [_record("p1", "A", prompt="x" * 1_600_000)])
    monkeypatch.setattr(result_files, "MAX_FILE_BYTES", 2**20)
    parsed = read_preferences(path)
    assert parsed.rows == []
    assert _texts(parsed.problems) == ["m_preferences.json: is 1.5 MB; files over 1 MB are refused."]


def test_too_many_records_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(result_files, "MAX_RECORDS", 2)
    records = [_record(f"p{i}", "A") for i in range(3)]
    array = read_preferences(_json(tmp_path, "m_preferences.json", records))
    assert (array.rows, _texts(array.problems)) == (
        [],
        ["m_preferences.json: holds 3 records; more than 2 are refused."],
    )
    lines = read_preferences(_jsonl(tmp_path, "m_preferences.jsonl", [json.dumps(r) for r in records]))
    assert lines.rows == []
    assert _texts(lines.problems) == ["m_preferences.jsonl: holds more than 2 records; larger files are refused."]


def test_problems_are_capped_with_a_count_of_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(result_files, "MAX_KEPT_PROBLEMS", 2)
    parsed = read_preferences(_json(tmp_path, "m_preferences.json", [_record(f"p{i}", "D") for i in range(5)]))
    assert len(parsed.problems) == 3
    assert str(parsed.problems[-1]) == "m_preferences.json: 3 more problems not listed."


def test_problem_text_leaves_out_what_is_unknown() -> None:
    assert str(Problem("f.json", 3, "id", "missing.")) == "f.json:3: id: missing."
    assert str(Problem("f.json", 3, None, "bad.")) == "f.json:3: bad."
    assert str(Problem("f.json", None, "model", "empty.")) == "f.json: model: empty."
    assert str(Problem("f.json", None, None, "empty.")) == "f.json: empty."


# --------------------------------------------------------------------------- score files


def test_reads_scores_from_jsonl(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "p1", "score1": 1.5, "score2": -0.25, "model": "rm-7b"}),
        json.dumps({"id": "p2", "score1": 2, "score2": "3.5", "model": "rm-7b"}),
    ]
    parsed = read_scores(_jsonl(tmp_path, "scores.jsonl", lines))
    assert parsed.problems == []
    assert parsed.model == "rm-7b"
    assert parsed.rows == [Score("p1", 1.5, -0.25), Score("p2", 2.0, 3.5)]


def test_reads_scores_from_csv_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "skywork_scores.csv"
    path.write_text("\ufeffid, Score1 ,score2\np1,0.5,0.25\n\np2,abc,1\np3,nan,inf\np4,1\n", encoding="utf-8")
    parsed = read_scores(path)
    assert parsed.model == "skywork"  # from the name: no model column, none given
    assert parsed.rows == [Score("p1", 0.5, 0.25)]
    assert _texts(parsed.problems) == [
        "skywork_scores.csv:4: score1: not a number: 'abc'.",
        "skywork_scores.csv:5: score1: must be a finite number, got 'nan'.",
        "skywork_scores.csv:5: score2: must be a finite number, got 'inf'.",
        "skywork_scores.csv:6: score2: missing.",
    ]


def test_reads_scores_from_a_json_array_with_nan_written_by_python(tmp_path: Path) -> None:
    path = tmp_path / "rm.json"
    # json.dumps writes NaN / Infinity literals, which strict JSON parsers reject.
    path.write_text(
        json.dumps([{"id": "p1", "score1": 1, "score2": 0}, {"id": "p2", "score1": float("nan"), "score2": 0}])
    )
    parsed = read_scores(path, model="explicit")
    assert parsed.model == "explicit"
    assert parsed.rows == [Score("p1", 1.0, 0.0)]
    assert _texts(parsed.problems) == ["rm.json:2: score1: must be a finite number, got nan."]


def test_score_record_problems(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "p1", "score1": 1, "score2": 0, "model": "a"}),
        json.dumps({"score1": 1, "score2": 0}),
        json.dumps({"id": "p3", "score1": True, "score2": [1]}),
        json.dumps({"id": "p1", "score1": 0, "score2": 1}),
        json.dumps({"id": "p5", "score1": 0, "score2": 1, "model": "b"}),
    ]
    parsed = read_scores(_jsonl(tmp_path, "x.jsonl", lines))
    assert parsed.model == "a"
    assert parsed.rows == [Score("p1", 1.0, 0.0)]
    assert _texts(parsed.problems) == [
        "x.jsonl:2: id: missing.",
        "x.jsonl:3: score1: not a number: True.",
        "x.jsonl:3: score2: not a number: [1].",
        "x.jsonl:4: id: duplicate id 'p1' (first at 1).",
        "x.jsonl:5: model: 'b' differs from 'a' at 1; a score file holds one model's scores.",
    ]


def test_an_explicit_model_wins_over_the_column(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "p1", "score1": 1, "score2": 0, "model": "a"}),
        json.dumps({"id": "p2", "score1": 1, "score2": 0, "model": "b"}),
    ]
    parsed = read_scores(_jsonl(tmp_path, "x.jsonl", lines), model="mine")
    assert (parsed.model, len(parsed.rows), parsed.problems) == ("mine", 2, [])


def test_a_csv_without_the_needed_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rm.csv"
    path.write_text("pair,score1\np1,1\n")
    parsed = read_scores(path)
    assert parsed.rows == []
    assert _texts(parsed.problems) == ["rm.csv:1: id, score2: missing from the header, which needs id, score1, score2."]


def test_a_score_file_that_is_not_utf8_or_not_json_is_refused(tmp_path: Path) -> None:
    latin = tmp_path / "rm.csv"
    latin.write_bytes(b"id,score1,score2\n\xe9,1,2\n")
    assert _texts(read_scores(latin).problems) == ["rm.csv: is not UTF-8 text."]

    broken = tmp_path / "rm.json"
    broken.write_text("[{")
    assert str(read_scores(broken).problems[0]).startswith("rm.json: is not valid JSON (")


def test_a_score_temp_file_is_sniffed_and_the_name_gives_the_model(tmp_path: Path) -> None:
    temp = tmp_path / "tmp123"
    temp.write_text("id\tscore1\tscore2\n")  # tab separated but with no .tsv name: read as CSV, one column
    assert "missing from the header" in str(read_scores(temp, name="rm.csv").problems[0])

    temp.write_text("id\tscore1\tscore2\np1\t1\t2\n")
    parsed = read_scores(temp, name="upload/reward_v3_scores.tsv")
    assert (parsed.model, parsed.rows, parsed.problems) == ("reward_v3", [Score("p1", 1.0, 2.0)], [])

    temp.write_text('[{"id": "p1", "score1": 1, "score2": 2}]')
    assert read_scores(temp, model="m").rows == [Score("p1", 1.0, 2.0)]
