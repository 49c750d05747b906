"""Export formats: CSV (safe to open in a spreadsheet) and JSON Lines, written row by row.

Both writers take the rows of the store's export query (``Store.responses``) and never hold
more than one row, so an export of any size streams to a file, to stdout or over HTTP in flat
memory.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from storage.values import COLUMNS

FORMATS = ("csv", "jsonl")

# A cell starting with one of these is read as a formula by Excel, LibreOffice or Google Sheets
# (OWASP, "CSV Injection"): tab and carriage return too, because spreadsheets skip them first.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """Neutralise a spreadsheet formula in free text by prefixing a single quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(COLUMNS, row, strict=True))


def csv_lines(rows: Iterable[tuple[Any, ...]], *, chunk: int = 500) -> Iterator[str]:
    """The CSV text, header first, in pieces of about ``chunk`` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    waiting = 0
    starts = frozenset(_FORMULA_START)
    for row in rows:
        # csv_safe inlined: a function call per cell is a third of the export's time.
        writer.writerow([f"'{v}" if type(v) is str and v and v[0] in starts else v for v in row])
        waiting += 1
        if waiting >= chunk:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            waiting = 0
    yield buffer.getvalue()


def jsonl_lines(rows: Iterable[tuple[Any, ...]], *, chunk: int = 500) -> Iterator[str]:
    """One JSON object per line, in pieces of about ``chunk`` rows."""
    pieces: list[str] = []
    for row in rows:
        pieces.append(json.dumps(as_dict(row), ensure_ascii=False))
        if len(pieces) >= chunk:
            yield "\n".join(pieces) + "\n"
            pieces.clear()
    if pieces:
        yield "\n".join(pieces) + "\n"


def lines(format: str, rows: Iterable[tuple[Any, ...]]) -> Iterator[str]:
    return csv_lines(rows) if format == "csv" else jsonl_lines(rows)


def write(format: str, rows: Iterable[tuple[Any, ...]], out: TextIO) -> None:
    for piece in lines(format, rows):
        out.write(piece)
