from __future__ import annotations

from dataclasses import asdict, dataclass, field

MAX_KEPT_PROBLEMS = 1000


@dataclass(frozen=True)
class Problem:
    """Something wrong with the input, located as precisely as we can: file, row, field."""

    file: str
    message: str
    row: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f":{self.row}"
        if self.field:
            where += f": {self.field}"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class ImportRejected(Exception):
    """The input cannot be imported as a whole (bad archive, no data files, too large)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass
class ProblemLog:
    """Collects every problem; keeps the first MAX_KEPT_PROBLEMS and counts the rest."""

    kept: list[Problem] = field(default_factory=list)
    count: int = 0

    def add(self, problem: Problem) -> None:
        self.count += 1
        if len(self.kept) < MAX_KEPT_PROBLEMS:
            self.kept.append(problem)

    def __bool__(self) -> bool:
        return self.count > 0
