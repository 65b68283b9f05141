"""Answer sheets: each judge's answers to one question in one value, so that the leaderboard and hard pairs
read a row per judge instead of every model vote (3,170,000 for 10 judges at 317,000 pairs).

A project's model votes change only when a judge run stores a batch, results are imported, or votes go
with their pair or judge: never on the annotators' hot path. So each judge, question (with or without tie)
and presentation order keeps an `AnswerSheet`: its answer code per pair, built from the votes, and the
version it was built at. The database bumps the sheet's `version` in the transaction of every write of
those votes, whoever writes (triggers, judges/migrations/0003), and a sheet is used only when it was built
at the current version: a stale one is built again from its votes when read, and stored for the next
reader. Writers that can (a run that finishes, an import) build theirs before they return, so the first
reader does not wait.

Stored for the next reader without waiting: on PostgreSQL a sheet whose row a writer holds (its votes are
being written, so its version is about to change again) is not stored, rather than holding the page until
that writer commits. A version read before the votes labels what was built from them, so a sheet is
never labelled with a version newer than its votes: at worst it is built once more than needed.

Codes: 0/1/2 response1/response2/tie as `judges.metrics` counts them; -1 no answer (failed or unparseable:
wrong, as in the paper); -2 not asked, or skipped because its media could not be sent (the judge was never
really asked). One byte per pair id from the sheet's first pair to its last: a project's pairs are imported
in runs of consecutive ids, so that is about a byte per pair (317 KB at 317,000, 83 KB once compressed),
and lining a sheet up with any set of pairs is one array subscript, with no search. (Where other projects'
imports ran between its own, their ids count too, as bytes that compress to almost nothing.)
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.db import connection
from django.db.models import F

from annotations.models import ShownOrder
from releases.selectors import label_code

from .models import AnswerSheet, ModelVote, VoteStatus

NOT_ASKED = -2
NO_ANSWER = -1

Question = tuple[int, bool]  # (judge id, with_tie)


@dataclass(frozen=True)
class Sheet:
    """One question's answers: `codes[i]` is the answer on pair `first + i`."""

    first: int
    codes: np.ndarray  # int8

    @property
    def answers(self) -> int:
        return int((self.codes != NOT_ASKED).sum())

    def on(self, pair_ids: np.ndarray) -> np.ndarray:
        """The answer code on each of `pair_ids` (int8, NOT_ASKED where the judge has none)."""
        at = pair_ids - self.first
        inside = (at >= 0) & (at < len(self.codes))
        found = np.full(len(pair_ids), NOT_ASKED, dtype=np.int8)
        found[inside] = self.codes[at[inside]]
        return found

    def pair_ids(self) -> np.ndarray:
        """The pairs answered (an answer or none), sorted."""
        return np.flatnonzero(self.codes != NOT_ASKED) + self.first


EMPTY = Sheet(0, np.zeros(0, dtype=np.int8))


def _build(judge_id: int, with_tie: bool, order: str) -> Sheet:
    # Each vote as one number (pair id * 8 + code + 2), sent as one comma-separated text: a row per vote cost
    # four times as long to fetch at 317,000 votes (1.2 s against 0.27 s, measured).
    query = (
        ModelVote.objects.filter(judge_id=judge_id, with_tie=with_tie, order=order)
        .exclude(status=VoteStatus.SKIPPED)
        .annotate(packed=F("pair_id") * 8 + label_code("label", default=NO_ANSWER) - NOT_ASKED)
        .values_list("packed")
    )
    sql, params = query.query.sql_with_params()
    joined = "string_agg(CAST(packed AS text), ',')" if connection.vendor == "postgresql" else "group_concat(packed)"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {joined} FROM ({sql}) AS votes", params)  # noqa: S608 -- the ORM's SQL
        text = cursor.fetchone()[0]
    if not text:
        return EMPTY
    packed = np.fromstring(text, dtype=np.int64, sep=",")
    pair_ids, codes = packed >> 3, (packed & 7) + NOT_ASKED
    first = int(pair_ids.min())
    sheet = np.full(int(pair_ids.max()) - first + 1, NOT_ASKED, dtype=np.int8)
    sheet[pair_ids - first] = codes
    return Sheet(first, sheet)


def _store(sheet_id: int, built_version: int, sheet: Sheet) -> None:
    packed = zlib.compress(sheet.codes.tobytes(), 1)
    where = "id = %s"
    if connection.vendor == "postgresql":  # a row a writer holds gets a new version at its commit: not worth a wait
        where = "id = (SELECT id FROM judges_answersheet WHERE id = %s FOR UPDATE SKIP LOCKED)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE judges_answersheet SET built_version = %s, first_pair_id = %s, codes = %s WHERE {where}",  # noqa: S608
            [built_version, sheet.first, packed, sheet_id],
        )


def answer_sheets(judge_ids: Iterable[int], order: str = ShownOrder.RESPONSE1_LEFT) -> dict[Question, Sheet]:
    """(judge id, with_tie) -> the judge's answers to that question in that order, as they are now, for every
    question of these judges that has (or had) votes. One statement when every sheet is current; a stale
    sheet adds one to read its votes and one to store it."""
    rows = AnswerSheet.objects.filter(judge_id__in=list(judge_ids), order=order).values_list(
        "id", "judge_id", "with_tie", "version", "built_version", "first_pair_id", "codes"
    )
    found = {}
    for sheet_id, judge_id, with_tie, version, built_version, first, codes in rows:
        if built_version == version:
            found[judge_id, with_tie] = Sheet(first, np.frombuffer(zlib.decompress(codes), dtype=np.int8))
        else:
            found[judge_id, with_tie] = sheet = _build(judge_id, with_tie, order)
            _store(sheet_id, version, sheet)
    return found


def answer_sheets_refresh(*, judge_ids: Iterable[int]) -> None:
    """Build the judges' stale sheets now, for a writer that just changed their votes: inside its transaction
    the sheets commit with the votes; after it, the next reader finds them current."""
    stale = (
        AnswerSheet.objects.filter(judge_id__in=list(judge_ids))
        .exclude(built_version=F("version"))
        .values_list("id", "judge_id", "with_tie", "order", "version")
    )
    for sheet_id, judge_id, with_tie, order, version in stale:
        _store(sheet_id, version, _build(judge_id, with_tie, order))


@dataclass(frozen=True)
class Counts:
    """One judge's answers to one question: confusion[task index] is a 3 x 4 count (human label 0/1/2 by
    answer 0/1/2/no answer), as `metrics.confusion` counts it; `answers` is every answer, on the truth's
    pairs or not."""

    confusion: np.ndarray  # (tasks, 3, 4)
    answers: int

    @property
    def scored(self) -> int:
        return int(self.confusion.sum())


def answer_counts(
    sheets: dict[Question, Sheet], pair_ids: np.ndarray, keys: np.ndarray, tasks: int
) -> dict[Question, Counts]:
    """(judge id, with_tie) -> its counts against the truth whose pair `pair_ids[i]` has task index
    `keys[i] // 3` and label `keys[i] % 3`."""
    found = {}
    for question, sheet in sheets.items():
        code = sheet.on(pair_ids).astype(np.int64)
        asked = code != NOT_ASKED
        column = np.where(code == NO_ANSWER, 3, code)  # 3 x 4: the fourth column is "no answer"
        cells = np.bincount(keys[asked] * 4 + column[asked], minlength=tasks * 12)
        found[question] = Counts(cells.reshape(tasks, 3, 4), sheet.answers)
    return found


def pair_answers(
    with_tie: Sheet | None, without_tie: Sheet | None, pair_ids: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """A judge's answer on each pair as hard pairs read it: its with-tie answer, else its no-tie one. The no-tie
    question cannot match a tie, so on a pair labelled tie only a with-tie answer counts. NOT_ASKED: none."""
    found = with_tie.on(pair_ids) if with_tie else np.full(len(pair_ids), NOT_ASKED, dtype=np.int8)
    if without_tie:
        instead = (found == NOT_ASKED) & (labels != 2)
        found[instead] = without_tie.on(pair_ids[instead])
    return found


def hardest(
    answers: Iterable[np.ndarray], pair_ids: np.ndarray, labels: np.ndarray, limit: int
) -> tuple[np.ndarray, int]:
    """(indexes into `pair_ids` of the `limit` hardest pairs, most judges wrong first, then by pair id; how many
    pairs are hard), given each judge's `pair_answers`. A pair is hard when most judges that answered it are
    wrong; no answer counts as wrong."""
    answered = np.zeros(len(pair_ids), dtype=np.int64)
    wrong = np.zeros(len(pair_ids), dtype=np.int64)
    for code in answers:
        given = code != NOT_ASKED
        answered += given
        wrong += given & (code != labels)
    hard = np.flatnonzero(2 * wrong > answered)
    ranked = hard[np.lexsort((pair_ids[hard], -wrong[hard]))]
    return ranked[:limit], len(hard)
