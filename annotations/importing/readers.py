"""Stream rows out of parquet and JSONL files without loading a whole file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from .problems import ImportRejected, Problem, ProblemLog
from .sources import DataFile

# Small batches keep memory flat when rows embed image or audio bytes.
_PARQUET_BATCH_ROWS = 256
_COUNT_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class RawRow:
    file: DataFile
    number: int  # 1-based: the line of a JSONL file, the row of a parquet file
    data: dict[str, Any]


def count_rows(data_file: DataFile) -> int:
    if data_file.format == "parquet":
        return _open_parquet(data_file).metadata.num_rows
    lines = 0
    last = b"\n"
    with open(data_file.path, "rb") as fh:
        while chunk := fh.read(_COUNT_CHUNK):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (0 if last == b"\n" else 1)


def iter_rows(data_file: DataFile, problems: ProblemLog) -> Iterator[RawRow]:
    if data_file.format == "parquet":
        yield from _iter_parquet(data_file)
    else:
        yield from _iter_jsonl(data_file, problems)


def _open_parquet(data_file: DataFile) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(data_file.path)
    except (pa.ArrowException, OSError) as exc:
        raise ImportRejected(Problem(file=data_file.label, message=f"not a readable parquet file ({exc}).")) from None


def _iter_parquet(data_file: DataFile) -> Iterator[RawRow]:
    parquet = _open_parquet(data_file)
    number = 0
    try:
        for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS):
            for data in batch.to_pylist():
                number += 1
                yield RawRow(data_file, number, data)
    except (pa.ArrowException, OSError) as exc:
        raise ImportRejected(
            Problem(file=data_file.label, row=number + 1, message=f"parquet data cannot be read ({exc}).")
        ) from None


def _iter_jsonl(data_file: DataFile, problems: ProblemLog) -> Iterator[RawRow]:
    with open(data_file.path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                problems.add(Problem(file=data_file.label, row=number, message=f"not valid JSON: {exc}"))
                continue
            if not isinstance(data, dict):
                problems.add(Problem(file=data_file.label, row=number, message="a line must hold a JSON object."))
                continue
            yield RawRow(data_file, number, data)
