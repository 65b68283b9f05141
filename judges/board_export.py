"""The leaderboard as JSON (the same as the API returns), CSV rows and Markdown: one source for the page's
exports and `manage.py leaderboard`, so every form shows the same cells."""

from __future__ import annotations

from typing import Any

from . import selectors

CSV_HEADER = ["truth", "table", "model", "kind", "task", "accuracy", "low95", "high95", "correct", "n", "note"]
TABLES = (("with_tie", "w/ Tie"), ("without_tie", "w/o Tie"))


def pct(value: float | None) -> str:
    """Accuracy as the paper prints it: a percentage with two decimals."""
    return "" if value is None else f"{value * 100:.2f}"


def _rows(board: selectors.Board, table: str) -> list[selectors.BoardRow]:
    return board.with_tie if table == "with_tie" else board.without_tie


def _table_json(rows: list[selectors.BoardRow]) -> list[dict[str, Any]]:
    return [
        {
            "model": row.name,
            "kind": row.kind,
            "overall": row.table.overall,
            "overall_low": row.table.overall_low,
            "overall_high": row.table.overall_high,
            "tasks": {
                t: {"accuracy": c.accuracy, "correct": c.correct, "n": c.n, "low": c.low, "high": c.high}
                for t, c in row.table.cells.items()
            },
            "thresholds": row.thresholds,
            "note": row.note,
        }
        for row in rows
    ]


def board_json(board: selectors.Board) -> dict[str, Any]:
    return {
        "truth": board.truth.param,
        "human_labels": board.source,
        "pairs": board.pairs,
        "tasks": board.tasks,
        "task_pairs": board.task_pairs,
        "with_tie": _table_json(board.with_tie),
        "without_tie": _table_json(board.without_tie),
    }


def board_csv_rows(board: selectors.Board) -> list[list[Any]]:
    rows: list[list[Any]] = [CSV_HEADER]
    for table, _ in TABLES:
        for row in _rows(board, table):
            for task, c in row.table.cells.items():
                figures = [pct(c.accuracy), pct(c.low), pct(c.high), c.correct, c.n, row.note]
                rows.append([board.truth.param, table, row.name, row.kind, task, *figures])
            overall = [pct(row.table.overall), pct(row.table.overall_low), pct(row.table.overall_high), "", ""]
            rows.append([board.truth.param, table, row.name, row.kind, "Overall", *overall, row.note])
    return rows


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def board_markdown(board: selectors.Board) -> str:
    """Both tables as the paper lays them out (a column per task, then Overall), accuracy with n per cell."""
    lines = [f"Scored against {board.source} ({board.pairs} pairs).", ""]
    for table, title in TABLES:
        lines += [f"### {title}", "", "| Model | " + " | ".join([*board.tasks, "Overall"]) + " |"]
        lines.append("|---|" + "---:|" * (len(board.tasks) + 1))
        for row in _rows(board, table):
            cells = []
            for task in board.tasks:
                cell = row.table.cells.get(task)
                cells.append(f"{pct(cell.accuracy)} (n={cell.n})" if cell and cell.accuracy is not None else "—")
            cells.append(pct(row.table.overall) or "—")
            name = _md(row.name) + (f" ({_md(row.note)})" if row.note else "")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
