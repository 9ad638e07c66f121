"""Generic CSV import machinery: read a table, validate every line, write all or nothing.

`read_table` splits a CSV text into its header and non-blank records (a BOM
is dropped; the delimiter, "," or ";", is sniffed from the header line). A
`TableKind` names a model, its key and its `Column`s; each column parses its
cell or raises `Bad` with a `Problem` code. `run_import` first validates the
whole file (`validate`), collecting every `LineProblem` with its line
number; only a file without problems is written, all of it in the caller's
transaction, upserting rows by their key (case-insensitively) and reporting
the outcome in an `ImportReport`. In the same transaction it asks for a fresh App
Home for everyone who saw a written record or sees it now (`TableKind.seen_by`).

The concrete kinds live in `models.imports` (regions, contacts, supporters)
and `models.reference` (periods, school holidays). The sentence for every
problem code lives in `templates/<lang>/imports.j2`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlmodel import Session, SQLModel, select

from models import audit, homes
from models.actor import Actor


class Problem(StrEnum):
    """What can be wrong with a cell or a line; each has a sentence in imports.j2."""

    missing_column = "missing_column"
    too_many_values = "too_many_values"
    required = "required"
    too_long = "too_long"
    duplicate = "duplicate"
    in_use = "in_use"
    invalid_code = "invalid_code"
    invalid_email = "invalid_email"
    invalid_slack_id = "invalid_slack_id"
    invalid_timezone = "invalid_timezone"
    invalid_zone = "invalid_zone"
    invalid_number = "invalid_number"
    not_half_day = "not_half_day"
    not_positive = "not_positive"
    not_whole = "not_whole"
    negative = "negative"
    too_large = "too_large"
    unknown_supporter = "unknown_supporter"
    not_critical_friend = "not_critical_friend"
    still_critical_friend = "still_critical_friend"
    unknown_region = "unknown_region"
    invalid_role = "invalid_role"
    invalid_weekday = "invalid_weekday"
    invalid_theme = "invalid_theme"
    invalid_language = "invalid_language"
    invalid_date = "invalid_date"
    end_before_start = "end_before_start"
    invalid_school_year = "invalid_school_year"


PROBLEMS: frozenset[str] = frozenset(p.value for p in Problem)


@dataclass(frozen=True)
class LineProblem:
    line: int  # 1-based line in the file; the header is line 1
    column: str  # "" when the whole line is at fault
    problem: str  # a `Problem` code
    value: str


@dataclass
class ImportReport:
    kind: str
    dry_run: bool = False
    created_keys: list[str] = field(default_factory=list)
    updated_keys: list[str] = field(default_factory=list)
    unchanged_keys: list[str] = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)

    @property
    def created(self) -> int:
        return len(self.created_keys)

    @property
    def updated(self) -> int:
        return len(self.updated_keys)

    @property
    def unchanged(self) -> int:
        return len(self.unchanged_keys)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "created_keys": self.created_keys,
            "updated_keys": self.updated_keys,
        }


# --- cells ---------------------------------------------------------------


class Bad(Exception):
    """A cell that cannot be accepted; `value` is the part at fault (default: the cell)."""

    def __init__(self, problem: Problem, value: str | None = None) -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.value = value


def plain(value: str) -> str:
    return value


def items(value: str) -> list[str]:
    """The entries of a ";"-separated list, trimmed, empty ones dropped, duplicates once."""
    return list(dict.fromkeys(x.strip() for x in value.split(";") if x.strip()))


def choice(allowed: Iterable[str], problem: Problem) -> Callable[[str], str]:
    """A parser that accepts one of `allowed` (case-insensitively)."""
    options = frozenset(allowed)

    def parse(value: str) -> str:
        if value.lower() not in options:
            raise Bad(problem)
        return value.lower()

    return parse


@dataclass(frozen=True)
class Column:
    name: str  # the header in the file
    parse: Callable[[str], Any] = plain
    attr: str | None = None  # the model attribute, when it differs from `name`
    required: bool = True
    default: Any = ""  # the value of an empty optional cell
    max_length: int | None = None
    unique: bool = False  # at most once in the file (keys are always unique)
    stored: bool = True  # False: not a model attribute (a kind's hooks handle it)

    @property
    def field(self) -> str:
        return self.attr or self.name

    def read(self, cell: str) -> Any:
        if not cell:
            if self.required:
                raise Bad(Problem.required)
            return self.default
        if self.max_length is not None and len(cell) > self.max_length:
            raise Bad(Problem.too_long)
        return self.parse(cell)


# --- rows and kinds -----------------------------------------------------


@dataclass
class Row:
    line: int
    values: dict[str, Any]  # parsed, by column name
    fields: dict[str, Any]  # parsed, by model attribute
    key: tuple[str, ...]  # case-folded
    label: str  # the key as people read it


class TableKind:
    """One kind of import: its model, key and columns, and hooks for what columns can't say."""

    name: ClassVar[str]
    model: ClassVar[type[SQLModel]]
    key_columns: ClassVar[tuple[str, ...]]
    unique_in_db: ClassVar[tuple[str, ...]] = ()  # nullable unique attributes (slack ids)

    def prepare(self, session: Session) -> Sequence[Column]:
        """Load what validation needs from the database; return the columns."""
        raise NotImplementedError

    def check(self, values: dict[str, Any]) -> list[tuple[str, Problem, str]]:
        """Problems between the cells of one otherwise valid row: (column, problem, value)."""
        return []

    def links_changed(self, session: Session, obj: Any, row: Row) -> bool:
        return False

    def after_write(
        self, session: Session, obj: Any, row: Row, *, created: bool, by: Actor, now: datetime
    ) -> None:
        return None

    def seen_by(self, session: Session, obj: Any) -> set[str]:
        """The Slack ids whose App Home shows this record. Asked before a stored record is
        written and again after, so whoever saw it and whoever sees it now (a region's
        old and new critical friend, a contact's old and new Slack id) get a fresh home."""
        return set()


# --- the machinery ----------------------------------------------------------


def run_import(
    session: Session,
    kind: TableKind,
    text: str,
    by: Actor,
    now: datetime,
    *,
    dry_run: bool = False,
) -> ImportReport:
    """Validate the whole file; write it only when every line is valid and not a dry run."""
    report = ImportReport(kind.name, dry_run=dry_run)
    columns = kind.prepare(session)
    rows, report.problems = validate(session, kind, columns, text)
    if report.problems:
        return report
    changes = _plan(session, kind, columns, rows, report)
    if changes and not dry_run:
        _write(session, kind, changes, by, now)
        audit.record(session, by, now, f"import.{kind.name}", kind.name, report.counts())
    return report


@dataclass(frozen=True)
class Table:
    header: list[str]  # lower-cased column names
    records: list[tuple[int, list[str]]]  # (line the record starts on, cells)
    delimiter: str


def read_table(text: str) -> Table:
    """Split a CSV text into its header and non-blank records, each with its line number.

    The delimiter is sniffed from the header line: Dutch Excel writes ";".
    """
    text = text.removeprefix("\ufeff")
    first = text.splitlines()[0] if text else ""
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[tuple[int, list[str]]] = []
    start = 1
    for record in reader:
        if any(cell.strip() for cell in record):
            records.append((start, record))
        start = reader.line_num + 1
    if not records:
        return Table([], [], delimiter)
    header = [name.strip().lower() for name in records[0][1]]
    return Table(header, records[1:], delimiter)


def validate(
    session: Session, kind: TableKind, columns: Sequence[Column], text: str
) -> tuple[list[Row], list[LineProblem]]:
    """Every row that is valid, and every problem of the rows that are not."""
    table = read_table(text)
    missing = [c.name for c in columns if c.name not in table.header]
    if missing:
        return [], [LineProblem(1, name, Problem.missing_column, "") for name in missing]
    problems: list[LineProblem] = []
    rows: list[Row] = []
    seen: set[tuple[str, str]] = set()
    width = len(table.header)
    for line, cells in table.records:
        raw = {name: cell.strip() for name, cell in zip(table.header, cells, strict=False)}
        found: list[LineProblem] = []
        if any(cell.strip() for cell in cells[width:]):  # empty trailing cells are harmless
            extra = table.delimiter.join(cells[width:])
            found.append(LineProblem(line, "", Problem.too_many_values, extra))
        values = _read_cells(columns, raw, line, found)
        found += _duplicates(kind, columns, values, raw, line, seen)
        if not found:
            found += [LineProblem(line, c, p, v) for c, p, v in kind.check(values)]
        problems += found
        if not found:
            rows.append(_row(kind, columns, line, values))
    problems += _taken(session, kind, rows)
    return rows, sorted(problems, key=lambda p: p.line)


def _read_cells(
    columns: Sequence[Column], raw: dict[str, str], line: int, found: list[LineProblem]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for column in columns:
        cell = raw.get(column.name, "")
        try:
            values[column.name] = column.read(cell)
        except Bad as bad:
            value = cell if bad.value is None else bad.value
            found.append(LineProblem(line, column.name, bad.problem, value))
    return values


def _fold(value: Any) -> str:
    return str(value).casefold()


def _duplicates(
    kind: TableKind,
    columns: Sequence[Column],
    values: dict[str, Any],
    raw: dict[str, str],
    line: int,
    seen: set[tuple[str, str]],
) -> list[LineProblem]:
    """A key or unique value that an earlier line already had (reported on the later line)."""
    found = []
    checks = [(kind.key_columns[-1], kind.key_columns)]
    checks += [(c.name, (c.name,)) for c in columns if c.unique]
    for blame, names in checks:
        if not all(values.get(n) not in (None, "") for n in names):
            continue
        mark = (blame, "\x1f".join(_fold(values[n]) for n in names))
        if mark in seen:
            found.append(LineProblem(line, blame, Problem.duplicate, raw.get(blame, "")))
        seen.add(mark)
    return found


def _row(kind: TableKind, columns: Sequence[Column], line: int, values: dict[str, Any]) -> Row:
    return Row(
        line=line,
        values=values,
        fields={c.field: values[c.name] for c in columns if c.stored},
        key=tuple(_fold(values[n]) for n in kind.key_columns),
        label="/".join(str(values[n]) for n in kind.key_columns),
    )


def _stored(
    session: Session, kind: TableKind, columns: Sequence[Column]
) -> dict[tuple[str, ...], Any]:
    attrs = {c.name: c.field for c in columns}
    return {
        tuple(_fold(getattr(obj, attrs[n])) for n in kind.key_columns): obj
        for obj in session.exec(select(kind.model)).all()
    }


def _taken(session: Session, kind: TableKind, rows: list[Row]) -> list[LineProblem]:
    """A unique value (a Slack id) that a stored record outside the file already has."""
    found = []
    keys = {row.key for row in rows}
    key_attrs = kind.key_columns  # key columns of the db-unique kinds are model attributes
    for attr in kind.unique_in_db:
        owners = {
            _fold(getattr(obj, attr)): tuple(_fold(getattr(obj, a)) for a in key_attrs)
            for obj in session.exec(select(kind.model)).all()
            if getattr(obj, attr)
        }
        for row in rows:
            value = row.fields.get(attr)
            owner = owners.get(_fold(value)) if value else None
            if owner is not None and owner != row.key and owner not in keys:
                found.append(LineProblem(row.line, attr, Problem.in_use, str(value)))
    return found


def _plan(
    session: Session,
    kind: TableKind,
    columns: Sequence[Column],
    rows: list[Row],
    report: ImportReport,
) -> list[tuple[Row, Any | None]]:
    """Sort rows into created, updated and unchanged; return what to write (None: new)."""
    stored = _stored(session, kind, columns)
    changes: list[tuple[Row, Any | None]] = []
    for row in rows:
        obj = stored.get(row.key)
        if obj is None:
            report.created_keys.append(row.label)
            changes.append((row, None))
        elif any(getattr(obj, k) != v for k, v in row.fields.items()) or kind.links_changed(
            session, obj, row
        ):
            report.updated_keys.append(row.label)
            changes.append((row, obj))
        else:
            report.unchanged_keys.append(row.label)
    return changes


def _write(
    session: Session,
    kind: TableKind,
    changes: list[tuple[Row, Any | None]],
    by: Actor,
    now: datetime,
) -> None:
    seeing: set[str] = set()
    for _, obj in changes:
        if obj is not None:
            seeing |= kind.seen_by(session, obj)
    # A Slack id moving from one record to another must leave before it arrives.
    moving = [
        (obj, attr)
        for row, obj in changes
        for attr in kind.unique_in_db
        if obj is not None and getattr(obj, attr) not in (None, row.fields[attr])
    ]
    for obj, attr in moving:
        setattr(obj, attr, None)
    if moving:
        session.flush()
    for row, existing in changes:
        obj = existing
        if obj is None:
            obj = kind.model(**row.fields)
            session.add(obj)
        else:
            for attr, value in row.fields.items():
                setattr(obj, attr, value)
        session.flush()
        kind.after_write(session, obj, row, created=existing is None, by=by, now=now)
        seeing |= kind.seen_by(session, obj)
    homes.people_changed(session, seeing, now)
