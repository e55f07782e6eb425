"""CSV and TSV dataset files (by extension: ``.csv`` comma, ``.tsv`` tab), read only by
``import_dataset``, which converts them to the dataset's canonical JSONL file: runs only ever
read JSONL.

A header row is required; each dataset's ``SPEC.csv`` maps a header to its columns and a row's
cells to exactly the JSONL row shape, which then goes through the same row validator as a JSONL
line (every row-level error path is shared). Unknown columns are ignored (as unknown JSON fields
are). Refused, naming the file, the line where the record starts (a quoted cell may span lines)
and the column: a missing, empty-named-twice or duplicated header column, an empty required
cell, a non-empty cell beyond the header, bad quoting, non-UTF-8 bytes (with the byte offset), a
row whose JSONL line would be over ``MAX_LINE_BYTES``, a file over ``MAX_FILE_BYTES``. A UTF-8
BOM and CRLF line ends are fine; blank rows are skipped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import data_files
from .base import DataError

SUFFIXES = {".csv": ",", ".tsv": "\t"}


def is_csv(path: str | Path) -> bool:
    return Path(path).suffix.lower() in SUFFIXES


@dataclass(frozen=True)
class CsvLayout:
    """How the rows under one header become rows of the dataset's JSONL shape."""

    #: columns whose cell must hold text in every row ("column 'answer' is empty")
    required: tuple[str, ...]
    #: a row's cells by column name ('' where the row is short) -> a row in the JSONL shape;
    #: ValueError names the column
    to_row: Callable[[dict[str, str]], dict[str, Any]]


def need_columns(header: list[str], names: tuple[str, ...]) -> None:
    """ValueError ``column 'x' missing in header: found a, b`` for the first name not in ``header``."""
    for n in names:
        if n not in header:
            found = ", ".join(h for h in header if h) or "no column names"
            near = [h for h in header if h.lower() == n.lower()]
            hint = f" (column names are case-sensitive: rename {near[0]!r} to {n!r})" if near else ""
            raise ValueError(f"column {n!r} missing in header: found {found}{hint}")


@dataclass
class CsvRows:
    #: (line where the record starts, row in the JSONL shape, that row as one JSONL line)
    rows: list[tuple[int, dict[str, Any], str]]
    #: sha256 of the CSV file's bytes
    sha256: str
    kind: str
    #: the rows parsed by ``spec.parse`` (empty unless a split was given)
    parsed: list[Any]


def _blank(cell: str) -> bool:
    return not data_files.one_line(cell)


def _records(p: Path, text: str, delimiter: str, kind: str):
    """(line where the record starts, cells) for every record, blank lines included."""
    # newline="": the csv module sees the line ends itself (quoted cells keep theirs; CRLF is one end)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', doublequote=True, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            why = str(e)
            if "unexpected end of data" in why:
                why += ": a quoted cell starting in this record is never closed"
            elif "expected after" in why:
                why += ': a quote inside a quoted cell must be doubled ("")'
            raise DataError(f"{p}:{start}: not valid {kind} ({why})") from None
        yield start, cells


def read_csv(path: str | Path, spec: data_files.DatasetSpec, split: str | None = None) -> CsvRows:
    """Every row of a CSV/TSV file in the dataset's JSONL shape; with ``split``, each one also
    validated by ``spec.parse`` as it is read (so the first bad record in the file is the one
    named, whatever is wrong with it)."""
    p = Path(path)
    kind = p.suffix[1:].upper()
    delimiter = SUFFIXES[p.suffix.lower()]
    if spec.csv is None:
        raise DataError(f"{p}: the {spec.name} dataset cannot be read from {kind}")
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise DataError(f"{p}: file not found") from None
    except OSError as e:
        raise DataError(f"{p}: cannot read: {e}") from None
    if not p.is_file():
        raise DataError(f"{p}: not a file")
    if size > data_files.MAX_FILE_BYTES:
        raise DataError(f"{p}: file is {size} bytes, over the limit of {data_files.MAX_FILE_BYTES} bytes")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise DataError(f"{p}: cannot read: {e}") from None
    text = data_files._decode(p, data)  # BOM dropped; non-UTF-8 named with line and byte offset
    limit = csv.field_size_limit()
    # The csv module's own cap (131072 characters by default) would refuse legitimate cells
    # without naming the column; the file is already in memory, so cap a cell at the file limit
    # and let the per-row check below name the limit and the column.
    csv.field_size_limit(data_files.MAX_FILE_BYTES)
    try:
        rows, parsed = _rows(p, text, delimiter, kind, spec, split)
    finally:
        csv.field_size_limit(limit)
    return CsvRows(rows=rows, sha256=hashlib.sha256(data).hexdigest(), kind=kind, parsed=parsed)


def _rows(
    p: Path, text: str, delimiter: str, kind: str, spec: data_files.DatasetSpec, split: str | None
) -> tuple[list[tuple[int, dict[str, Any], str]], list[Any]]:
    assert spec.csv is not None
    records = _records(p, text, delimiter, kind)
    header: list[str] | None = None
    header_line = 0
    for header_line, cells in records:  # noqa: B007 (read after the loop: the header's line)
        if any(not _blank(c) for c in cells):
            header = [c.strip() for c in cells]
            break
    if header is None:
        raise DataError(f"{p}: no rows (the file is empty)")
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name and name in seen:
            raise DataError(f"{p}:{header_line}: column {name!r} appears twice in the header (columns {seen[name] + 1} and {i + 1})")
        seen[name] = i
    try:
        layout = spec.csv(header)
    except ValueError as e:
        raise DataError(f"{p}:{header_line}: {e}") from None
    named = [(i, h) for i, h in enumerate(header) if h]
    sep = "tab" if delimiter == "\t" else "comma"
    out: list[tuple[int, dict[str, Any], str]] = []
    parsed: list[Any] = []
    for line, cells in records:
        if all(_blank(c) for c in cells):
            continue
        for j in range(len(header), len(cells)):
            if cells[j].strip():
                raise DataError(
                    f"{p}:{line}: cell {j + 1} is beyond the header's {len(header)} columns (it holds "
                    f"{cells[j][:40]!r}; an unquoted {sep} inside a cell?)"
                )
        row = {h: (cells[i] if i < len(cells) else "") for i, h in named}
        for col in layout.required:
            if _blank(row[col]):
                short = f" (the row has {len(cells)} of the header's {len(header)} cells)" if len(cells) < len(header) else ""
                raise DataError(f"{p}:{line}: column {col!r} is empty{short}")
        try:
            obj = layout.to_row(row)
        except ValueError as e:
            raise DataError(f"{p}:{line}: {e}") from None
        if split is not None:  # the JSONL rows' validator, so every row-level error path is shared
            try:
                parsed.append(spec.parse(obj, split, len(parsed)))
            except (ValueError, TypeError, KeyError) as e:
                raise DataError(f"{p}:{line}: {e}") from None
        jline = json.dumps(obj, ensure_ascii=False)
        # the JSONL line runs will read is what the per-row limit applies to
        n = len(jline) if len(jline) * 4 <= data_files.MAX_LINE_BYTES else len(jline.encode("utf-8"))
        if n > data_files.MAX_LINE_BYTES:
            big = max(named, key=lambda ih: len(row[ih[1]].encode("utf-8")))[1]
            raise DataError(
                f"{p}:{line}: row is {n} bytes as JSONL, over the limit of {data_files.MAX_LINE_BYTES} "
                f"bytes per row (column {big!r} holds {len(row[big].encode('utf-8'))} bytes)"
            )
        out.append((line, obj, jline))
    if not out:
        raise DataError(f"{p}: no rows (only a header, on line {header_line})")
    return out, parsed


def read_csv_rows(path: str | Path, spec: data_files.DatasetSpec, split: str) -> tuple[list[Any], CsvRows]:
    """The file's rows validated by the dataset's row parser (errors ``<file>:<line>: …``), and
    the raw :class:`CsvRows`."""
    got = read_csv(path, spec, split)
    return got.parsed, got
