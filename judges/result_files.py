"""Read judge results made elsewhere: Omni-RewardBench preference outputs and scalar-RM score files.

Pure parsing, no Django and no database: the functions return what they could read together with
every problem, each located by file, line (or record) and field, so a curator can fix the file
before anything is imported. Matching the rows to stored pairs is the caller's job.

Preference files are what the paper's ``run_exp.py`` writes: ``{model}_preferences.json`` for the
no-tie question and ``{model}_preferences_with_tie.json`` for the with-tie question, a JSON array of
the benchmark records, each with ``predicted`` set to the parsed verdict. A ``.jsonl`` with one
record per line is read the same way. Its position-bias runs (``run_exp_t2a.py``) show response2
first and write ``{model}_preferences(_with_tie)_inversed.json``; the script maps each verdict back
before writing it, so ``predicted`` is canonical there too and only the presentation order differs.

Decisions worth knowing:

- A tie predicted in a no-tie file is kept as the answer ``"tie"``, not reported as a problem. The
  paper counts a tie answer to the no-tie question as wrong, and ``metrics.accuracy_without_tie``
  does exactly that; dropping the record instead would turn a wrong answer into a missing one.
- ``"A"``/``"B"``/``"C"`` and ``[[A]]``-style verdicts are read with response1 as A, the order the
  paper's evaluation script always shows them in.
- A record without ``id`` is a problem: the paper's script identifies records by their text, which
  the import cannot match reliably, so such files need ids added first.
- A file that is too large, is not JSON, or is not an array is refused as a whole: ``rows`` is
  empty and a problem without a line says why.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_RECORDS = 2_000_000
# A file where every record is wrong would otherwise carry millions of problems nobody can read.
MAX_KEPT_PROBLEMS = 1000

PREFERENCE_NAME = re.compile(
    r"^(?P<model>.+)_preferences(?P<with_tie>_with_tie)?(?P<inversed>_inversed)?\.(?P<ext>jsonl?)$", re.IGNORECASE
)

_VERDICTS = {
    "response1": "response1",
    "response2": "response2",
    "tie": "tie",
    "a": "response1",
    "b": "response2",
    "c": "tie",
    "[[a]]": "response1",
    "[[b]]": "response2",
    "[[c]]": "tie",
    "\\boxed{a}": "response1",
    "\\boxed{b}": "response2",
    "\\boxed{c}": "tie",
    "1": "response1",
    "2": "response2",
}
_ACCEPTED = "response1, response2, tie, A, B, C, [[A]], [[B]], [[C]], 1, 2 or null"


@dataclass(frozen=True)
class Problem:
    """Something wrong with a file. ``line`` is the 1-based line of a JSONL or CSV file, or the
    1-based position of the record in a JSON array; None when the whole file is concerned."""

    file: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.field:
            where += f": {self.field}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Preference:
    pair_id: str
    predicted: str | None  # "response1", "response2", "tie", or None for no answer


@dataclass(frozen=True)
class PreferenceFile:
    model: str  # "" when neither the file name nor the caller gave one (there is a problem then)
    with_tie: bool
    rows: list[Preference]
    problems: list[Problem]
    inversed: bool = False  # the responses were shown swapped (response2 first); answers are canonical


@dataclass(frozen=True)
class Score:
    pair_id: str
    score1: float
    score2: float


@dataclass(frozen=True)
class ScoreFile:
    model: str
    rows: list[Score]
    problems: list[Problem]


class _Refused(Exception):
    """The file cannot be read as a whole; carries the reason."""

    def __init__(self, line: int | None, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.line, self.field, self.message = line, field, message


@dataclass
class _Problems:
    file: str
    kept: list[Problem] = field(default_factory=list)
    count: int = 0

    def add(self, line: int | None, field: str | None, message: str) -> None:
        self.count += 1
        if len(self.kept) < MAX_KEPT_PROBLEMS:
            self.kept.append(Problem(self.file, line, field, message))

    def result(self) -> list[Problem]:
        hidden = self.count - len(self.kept)
        if hidden <= 0:
            return list(self.kept)
        return [*self.kept, Problem(self.file, None, None, f"{hidden} more problems not listed.")]


# --------------------------------------------------------------------------- preference files


def read_preferences(
    path: Path,
    *,
    name: str | None = None,
    model: str | None = None,
    with_tie: bool | None = None,
    inversed: bool | None = None,
) -> PreferenceFile:
    """Read an Omni-RewardBench evaluation output.

    ``name`` is the uploaded file name when ``path`` is a temporary file; the model, the variant and
    the presentation order come from it unless ``model`` / ``with_tie`` / ``inversed`` are given,
    which take precedence. A name that does not follow the paper's pattern is read as the original
    order unless ``inversed`` says otherwise.
    """
    label = name or path.name  # a path inside a folder keeps its folder, so problems say which task's file
    problems = _Problems(label)
    match = PREFERENCE_NAME.match(Path(label).name)
    if model is None and match:
        model = match["model"]
    if with_tie is None and match:
        with_tie = match["with_tie"] is not None
    if inversed is None:
        inversed = bool(match and match["inversed"])
    if model is not None and not model.strip():
        problems.add(None, "model", "the model name is empty.")
    if model is None or with_tie is None:
        problems.add(
            None,
            None,
            "the file name must look like '{model}_preferences.json' (no-tie question) or "
            "'{model}_preferences_with_tie.json' (with-tie question), .json or .jsonl, with '_inversed' "
            "before the extension for a run with the responses swapped; otherwise give the model and the "
            "variant explicitly.",
        )
    model_name = (model or "").strip()
    variant = bool(with_tie)

    rows: list[Preference] = []
    first_seen: dict[str, int] = {}
    try:
        for number, record in _records(path, label, problems):
            row = _preference(number, record, problems)
            if row is None:
                continue
            if row.pair_id in first_seen:
                problems.add(number, "id", f"duplicate id {row.pair_id!r} (first at {first_seen[row.pair_id]}).")
                continue
            first_seen[row.pair_id] = number
            rows.append(row)
    except _Refused as refused:
        problems.add(refused.line, refused.field, refused.message)
        rows = []
    return PreferenceFile(model=model_name, with_tie=variant, rows=rows, problems=problems.result(), inversed=inversed)


def _preference(number: int, record: dict[str, Any], problems: _Problems) -> Preference | None:
    pair_id = _pair_id(number, record, problems)
    if "predicted" not in record:
        problems.add(number, "predicted", "missing; use null for a model that gave no answer.")
        return None
    predicted, ok = _verdict(record["predicted"])
    if not ok:
        problems.add(number, "predicted", f"unknown value {_show(record['predicted'])}; expected {_ACCEPTED}.")
        return None
    if pair_id is None:
        return None
    return Preference(pair_id=pair_id, predicted=predicted)


def _verdict(value: Any) -> tuple[str | None, bool]:
    if value is None:
        return None, True
    if isinstance(value, bool):
        return None, False
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str) and (canonical := _VERDICTS.get(value.strip().lower())):
        return canonical, True
    return None, False


# --------------------------------------------------------------------------- score files


def read_scores(path: Path, *, name: str | None = None, model: str | None = None) -> ScoreFile:
    """Read scalar reward-model scores: ``id``, ``score1``, ``score2`` and an optional ``model``.

    JSONL, CSV (or TSV) or a JSON array of objects. The model is ``model`` when given, else the
    file's ``model`` column (one model per file), else the file name without extension and
    without a trailing ``_scores``.
    """
    label = Path(name).name if name else path.name
    problems = _Problems(label)
    if model is not None and not model.strip():
        problems.add(None, "model", "the model name is empty.")
    column_model: tuple[str, int] | None = None  # the first model named in the file, and where

    rows: list[Score] = []
    first_seen: dict[str, int] = {}
    try:
        for number, record in _records(path, label, problems, tabular=True):
            row = _score(number, record, problems)
            named = record.get("model")
            if model is None and isinstance(named, str) and named.strip():
                if "\x00" in named:  # it would name the judge, and PostgreSQL text cannot hold a NUL
                    problems.add(number, "model", f"{_show(named)} holds a NUL character; a model name cannot.")
                    continue
                if column_model is None:
                    column_model = (named.strip(), number)
                elif named.strip() != column_model[0]:
                    problems.add(
                        number,
                        "model",
                        f"{named.strip()!r} differs from {column_model[0]!r} at {column_model[1]}; "
                        "a score file holds one model's scores.",
                    )
                    continue
            if row is None:
                continue
            if row.pair_id in first_seen:
                problems.add(number, "id", f"duplicate id {row.pair_id!r} (first at {first_seen[row.pair_id]}).")
                continue
            first_seen[row.pair_id] = number
            rows.append(row)
    except _Refused as refused:
        problems.add(refused.line, refused.field, refused.message)
        rows = []

    if model is not None:
        model_name = model.strip()
    elif column_model is not None:
        model_name = column_model[0]
    else:
        model_name = Path(label).stem.removesuffix("_scores")
    return ScoreFile(model=model_name, rows=rows, problems=problems.result())


def _score(number: int, record: dict[str, Any], problems: _Problems) -> Score | None:
    pair_id = _pair_id(number, record, problems)
    score1 = _number(number, record, "score1", problems)
    score2 = _number(number, record, "score2", problems)
    if pair_id is None or score1 is None or score2 is None:
        return None
    return Score(pair_id=pair_id, score1=score1, score2=score2)


def _number(number: int, record: dict[str, Any], key: str, problems: _Problems) -> float | None:
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.add(number, key, "missing.")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        problems.add(number, key, f"not a number: {_show(value)}.")
        return None
    try:
        result = float(value)
    except (ValueError, OverflowError):
        problems.add(number, key, f"not a number: {_show(value)}.")
        return None
    if not math.isfinite(result):
        problems.add(number, key, f"must be a finite number, got {_show(value)}.")
        return None
    return result


# --------------------------------------------------------------------------- shared


def _pair_id(number: int, record: dict[str, Any], problems: _Problems) -> str | None:
    value = record.get("id")
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.add(number, "id", "missing.")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        problems.add(number, "id", f"must be a string, got {_show(value)}.")
        return None
    if "\x00" in str(value):  # no pair id holds one, and PostgreSQL refuses it in a query
        problems.add(number, "id", f"{_show(value)} holds a NUL character; no pair id does.")
        return None
    return str(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _records(
    path: Path, label: str, problems: _Problems, *, tabular: bool = False
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line or record number, record) for each well-formed record; malformed ones become problems."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise _Refused(None, f"cannot be read ({exc.strerror}).") from None
    if size > MAX_FILE_BYTES:
        raise _Refused(None, f"is {size / 2**20:.1f} MB; files over {MAX_FILE_BYTES / 2**20:.0f} MB are refused.")
    if size == 0:
        raise _Refused(None, "is empty.")

    # Content decides between an array and lines, so a pretty-printed array saved as .jsonl is read
    # rather than reported as a problem on every line; the name decides only what content cannot.
    suffix = Path(label).suffix.lower()
    if tabular and suffix in {".csv", ".tsv"}:
        yield from _csv_records(path, "\t" if suffix == ".tsv" else ",")
        return
    head = _first_byte(path)
    if head == b"[" or suffix == ".json":
        yield from _json_records(path, problems)
    elif head == b"{" or suffix == ".jsonl":
        yield from _jsonl_records(path, problems)
    elif tabular:
        yield from _csv_records(path, ",")
    else:
        raise _Refused(None, "is neither a JSON array nor JSON lines.")


def _first_byte(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")[:1]


def _loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # Python's json.dump writes NaN and Infinity, which orjson rejects. Reading them here lets
        # one bad score be a problem on its record instead of the whole file being "not JSON".
        try:
            return json.loads(data)
        except (ValueError, RecursionError):
            raise exc from None


def _json_records(path: Path, problems: _Problems) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        data = _loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise _Refused(None, f"is not valid JSON ({exc}).") from None
    if not isinstance(data, list):
        raise _Refused(None, f"must hold a JSON array of records, not a JSON {type(data).__name__}.")
    if len(data) > MAX_RECORDS:
        raise _Refused(None, f"holds {len(data):,} records; more than {MAX_RECORDS:,} are refused.")
    if not data:
        raise _Refused(None, "holds no records.")
    for number, record in enumerate(data, start=1):
        if isinstance(record, dict):
            yield number, record
        else:
            problems.add(number, None, f"a record must be a JSON object, not {type(record).__name__}.")


def _jsonl_records(path: Path, problems: _Problems) -> Iterator[tuple[int, dict[str, Any]]]:
    count = 0
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            count += 1
            if count > MAX_RECORDS:
                raise _Refused(None, f"holds more than {MAX_RECORDS:,} records; larger files are refused.")
            try:
                record = _loads(line.lstrip(b"\xef\xbb\xbf") if number == 1 else line)
            except orjson.JSONDecodeError as exc:
                problems.add(number, None, f"not valid JSON ({exc}).")
                continue
            if isinstance(record, dict):
                yield number, record
            else:
                problems.add(number, None, f"a line must hold a JSON object, not {type(record).__name__}.")
    if count == 0:
        raise _Refused(None, "holds no records.")


_REQUIRED_COLUMNS = ("id", "score1", "score2")


def _csv_records(path: Path, delimiter: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                raise _Refused(None, "holds no records.")
            columns = [column.strip().lower() for column in header]
            missing = [column for column in _REQUIRED_COLUMNS if column not in columns]
            if missing:
                needed = ", ".join(_REQUIRED_COLUMNS)
                raise _Refused(1, f"missing from the header, which needs {needed}.", ", ".join(missing))
            count = 0
            for values in reader:
                if not any(value.strip() for value in values):
                    continue
                count += 1
                if count > MAX_RECORDS:
                    raise _Refused(None, f"holds more than {MAX_RECORDS:,} records; larger files are refused.")
                yield reader.line_num, dict(zip(columns, values, strict=False))
            if count == 0:
                raise _Refused(None, "holds no records.")
    except UnicodeDecodeError:
        raise _Refused(None, "is not UTF-8 text.") from None
    except csv.Error as exc:
        raise _Refused(reader.line_num, f"is not readable CSV ({exc}).") from None
