"""Judges' answers counted in the database against a truth, for the leaderboard and hard pairs.

A project's judges hold one model vote per pair and question: 3,170,000 rows for 10 judges at 317,000
pairs. Reading them into Python cost seconds however they were fetched; the leaderboard only needs
counts per task, and hard pairs only the 200 hardest, so the database counts and ranks, and sends
back a few hundred rows in ONE statement for all judges (never one per judge).

The truth (chosen in Python: the gate's decision, a release or the imported labels) goes to the
database as one parameter rather than as an IN list of 300,000 parameters, in the form each database
joins fastest:
- PostgreSQL: an array indexed by pair id (minus the smallest), holding each pair's key or -1, so each
  vote finds its pair's key by subscript in one pass over the votes. A join with `unnest` of the pairs
  made PostgreSQL hash the 3 million votes and spill them to disk: twice as slow (measured).
- SQLite: a JSON array of the pairs (pair id and key packed in one integer) walked by `json_each`, each
  pair then finding its votes through the pair_id index; CROSS JOIN keeps that order (SQLite builds
  no index on `json_each`, so the other order would compare every vote with every pair).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import connection

from annotations.models import ShownOrder

from .models import VoteStatus

KEY_BITS = 5  # a truth key (task index * 3 + label) is below 32: nine tasks
_KEY_MASK = (1 << KEY_BITS) - 1

# A model vote's label as the codes of judges.metrics: -1 for no answer (failed or unparseable).
_CODE = "CASE mv.label WHEN 'response1' THEN 0 WHEN 'response2' THEN 1 WHEN 'tie' THEN 2 ELSE -1 END"
# The votes the leaderboard and hard pairs read: the question as asked (response 1 shown first), and not
# those skipped because their media could not be sent (the judge was never really asked).
_ASKED = 'mv.judge_id IN (SELECT id FROM judges_judge WHERE project_id = %s) AND mv."order" = %s AND mv.status <> %s'


def _asked_params(project_id: int) -> list[object]:
    return [project_id, ShownOrder.RESPONSE1_LEFT.value, VoteStatus.SKIPPED.value]


def _packed(pair_ids: np.ndarray, keys: np.ndarray) -> str:
    """Pair id and key of each pair packed in one integer, comma-separated."""
    return ",".join(map(str, ((pair_ids.astype(np.int64) << KEY_BITS) | keys.astype(np.int64)).tolist()))


def truth_relation(pair_ids: np.ndarray, keys: np.ndarray) -> tuple[str, list[object]]:
    """A SELECT of (pair_id, key) rows over the given pairs, and its one parameter (SQLite's form)."""
    sql = f"SELECT value >> {KEY_BITS} AS pair_id, value & {_KEY_MASK} AS key FROM json_each(%s)"  # noqa: S608 -- ints
    return sql, ["[" + _packed(pair_ids, keys) + "]"]


# The array lookup holds one entry per pair id between the truth's smallest and largest. A project's pairs
# are imported in runs of consecutive ids, so that is about its number of pairs; where other projects'
# imports interleaved with its own, the array could grow far beyond, and the join below is used instead.
DENSE_SPAN, DENSE_SLACK = 4, 100_000  # at most 4 entries per truth pair, + 100,000


def _key_lookup(pair_ids: np.ndarray, keys: np.ndarray) -> tuple[str, str, list[object]]:
    """(FROM clause, expression giving the key of `mv.pair_id`'s pair or -1 outside the truth, parameters)
    for PostgreSQL."""
    if not len(pair_ids):
        return "judges_modelvote mv", "-1", []
    first = int(pair_ids.min())
    span = int(pair_ids.max()) - first + 1
    if span > DENSE_SPAN * len(pair_ids) + DENSE_SLACK:
        truth = f"SELECT v >> {KEY_BITS} AS pair_id, v & {_KEY_MASK} AS key FROM unnest(%s::bigint[]) AS v"  # noqa: S608
        joined = f"judges_modelvote mv LEFT JOIN ({truth}) AS truth ON truth.pair_id = mv.pair_id"
        return joined, "COALESCE(truth.key, -1)", ["{" + _packed(pair_ids, keys) + "}"]
    by_pair = np.full(span, -1, dtype=np.int64)
    by_pair[pair_ids - first] = keys
    array = "{" + ",".join(map(str, by_pair.tolist())) + "}"
    # Arrays count from 1; a subscript out of range is NULL.
    return "judges_modelvote mv", "COALESCE((%s::smallint[])[mv.pair_id - %s], -1)", [array, first - 1]


def _voted(pair_ids: np.ndarray, keys: np.ndarray, project_id: int) -> tuple[str, list[object]]:
    """A SELECT of the asked votes as (judge_id, pair_id, with_tie, code, key) with their pair's truth key:
    on PostgreSQL every asked vote, key -1 outside the truth; on SQLite only the votes on the truth's pairs."""
    columns = f"mv.judge_id, mv.pair_id, CASE WHEN mv.with_tie THEN 1 ELSE 0 END AS with_tie, {_CODE} AS code"
    if connection.vendor == "postgresql":
        source, lookup, params = _key_lookup(pair_ids, keys)
        sql = f"SELECT {columns}, {lookup} AS key FROM {source} WHERE {_ASKED}"  # noqa: S608
        return sql, [*params, *_asked_params(project_id)]
    truth, params = truth_relation(pair_ids, keys)
    sql = (
        f"SELECT {columns}, truth.key AS key FROM ({truth}) AS truth CROSS JOIN judges_modelvote mv "  # noqa: S608
        f"WHERE mv.pair_id = truth.pair_id AND {_ASKED}"
    )
    return sql, [*params, *_asked_params(project_id)]


def _fetch(sql: str, params: list[Any], width: int) -> np.ndarray:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return np.array(rows, dtype=np.int64).reshape(-1, width)


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
    project_id: int, pair_ids: np.ndarray, keys: np.ndarray, tasks: int
) -> dict[tuple[int, bool], Counts]:
    """(judge id, with_tie) -> its counts against the truth whose pair `pair_ids[i]` has task index
    `keys[i] // 3` and label `keys[i] % 3`. Judges without answers to a question are absent."""
    voted, params = _voted(pair_ids, keys, project_id)
    sql = f"SELECT judge_id, with_tie, key, code, COUNT(*) FROM ({voted}) AS v GROUP BY judge_id, with_tie, key, code"  # noqa: S608
    if connection.vendor != "postgresql":  # its votes outside the truth are not in `voted`: count all of them apart
        sql += (
            " UNION ALL SELECT mv.judge_id, CASE WHEN mv.with_tie THEN 1 ELSE 0 END, -2, -1, COUNT(*)"  # noqa: S608
            f" FROM judges_modelvote mv WHERE {_ASKED} GROUP BY 1, 2"
        )
        params = [*params, *_asked_params(project_id)]
    rows = _fetch(sql, params, 5)
    found: dict[tuple[int, bool], np.ndarray] = {}
    answers: dict[tuple[int, bool], int] = {}
    every = connection.vendor == "postgresql"  # its rows hold every answer once; SQLite's -2 rows count them
    for judge_id, with_tie, key, code, n in rows.tolist():
        question = (judge_id, bool(with_tie))
        confusion = found.setdefault(question, np.zeros((tasks, 3, 4), dtype=np.int64))
        if key >= 0:
            confusion[key // 3, key % 3, code if code >= 0 else 3] += n
        if every or key == -2:
            answers[question] = answers.get(question, 0) + n
    return {question: Counts(found[question], answers.get(question, 0)) for question in found}


def hardest(project_id: int, pair_ids: np.ndarray, labels: np.ndarray, limit: int) -> tuple[list[int], int]:
    """(ids of the `limit` hardest pairs, most judges wrong first, then by id; how many pairs are hard) among
    the given pairs with their firm labels. A pair is hard when most judges that answered it are wrong.

    A judge's answer on a pair is its with-tie one, else its no-tie one; the no-tie question cannot match
    a tie, so on a pair labelled tie only a with-tie answer counts. No answer counts as wrong."""
    if not len(pair_ids):
        return [], 0
    voted, params = _voted(pair_ids, labels, project_id)
    sql = (
        "WITH answer AS ("  # noqa: S608 -- no value is formatted in, only SQL of this module
        " SELECT pair_id, key AS human,"
        "  COALESCE(MAX(CASE WHEN with_tie = 1 THEN code END), MAX(CASE WHEN with_tie = 1 THEN NULL ELSE code END))"
        "  AS code"
        f" FROM ({voted}) AS v WHERE key >= 0 AND (with_tie = 1 OR key <> 2)"
        " GROUP BY judge_id, pair_id, key), "
        "tally AS ("
        " SELECT pair_id, COUNT(*) AS answered, SUM(CASE WHEN code = human THEN 0 ELSE 1 END) AS wrong"
        " FROM answer GROUP BY pair_id) "
        "SELECT pair_id, COUNT(*) OVER () FROM tally WHERE 2 * wrong > answered ORDER BY wrong DESC, pair_id LIMIT %s"
    )
    rows = _fetch(sql, [*params, limit], 2)
    return rows[:, 0].tolist(), int(rows[0, 1]) if len(rows) else 0
