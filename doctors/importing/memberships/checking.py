"""Checking a memberships file: each row, then the state after the whole file.

Each row is checked alone (known department, role, primary, dates in the
clinic's range, last day not before the first), then per chunk against the
database (known doctors; a period named once). What the checker keeps across
rows is one small entry per clean row: the period's key and its values, as the
doctors import keeps its license numbers. At the end (`finish`) the periods
the file names are laid over the stored periods of its doctors, and the
result is checked against the rules the database enforces on every day (no
overlap of one doctor's periods in one department, one head of a department,
one primary department of a doctor): a file that would break one is refused
before anything is written, each problem naming its row and the other period
(another row, or a stored period the file leaves as it is).
"""

import datetime
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ... import periods
from ...models import (
    DATES_RULE,
    RULE_WORDS,
    Department,
    Doctor,
    Membership,
)
from ...validators import date_range_problem
from ..parsing import Row
from ..text import quoted
from ..validation import Checker
from .values import parse_date, parse_primary, parse_role

HEAD = Membership.Role.HEAD.value
# Doctors (or departments) whose stored periods one query reads.
LOOKUP_CHUNK = 1000


@dataclass(slots=True)
class PeriodRow:
    """One clean row of a memberships file: a period, its doctor known by
    license number until check_against_database finds the id."""

    row: int
    license_number: str
    department_id: int
    role: str
    is_primary: bool
    joined_on: datetime.date
    left_on: datetime.date | None
    doctor_id: int | None = None


@dataclass(frozen=True, slots=True)
class Span:
    """A period of the state after the file: a row of it (`row`), or a stored
    period it leaves as it is (`row` None)."""

    doctor_id: int
    department_id: int
    is_head: bool
    is_primary: bool
    joined_on: datetime.date
    left_on: datetime.date | None
    row: int | None


class MembershipChecker(Checker):
    """The doctors import's checker (problems bounded, messages shortened)
    for the rows of a memberships file."""

    def __init__(self):
        super().__init__()
        self.departments = dict(Department.objects.values_list("code", "pk"))
        self.codes = {pk: code for code, pk in self.departments.items()}
        # The clean rows whose doctor is known, as the rules need them:
        # (doctor id, department id, first day) -> Span.
        self.spans: dict[tuple[int, int, datetime.date], Span] = {}
        self.licenses: dict[int, str] = {}

    # One row ------------------------------------------------------------------

    def check_row(self, row: Row) -> PeriodRow | None:
        """The row's clean period, or None when it has a problem (recorded)."""
        self.rows_seen += 1
        if row.error:
            self.add(row.number, "", row.error)
            return None
        before = self.problem_count
        license_number = self._text(row, Doctor, "license_number", required=True)
        department_id = self._department(row)
        role = self._choice(row, "role", parse_role, "member or head")
        is_primary = self._choice(
            row, "primary", parse_primary, "true or false (yes/no, 1/0)"
        )
        joined_on = self._date(row, "joined_on", required=True)
        left_on = self._date(row, "left_on", required=False)
        if joined_on is not None and left_on is not None and left_on < joined_on:
            self.add(row.number, "left_on", RULE_WORDS[DATES_RULE].on_form)
        if self.problem_count > before:
            return None
        return PeriodRow(
            row.number,
            license_number,
            department_id,
            role,
            is_primary,
            joined_on,
            left_on,
        )

    def _department(self, row: Row) -> int | None:
        text = row.cells["department"].strip().upper()
        if not text:
            self.add(row.number, "department", "required, but empty")
            return None
        department_id = self.departments.get(text)
        if department_id is None:
            self.add(
                row.number, "department", f"unknown department code {quoted(text)}"
            )
        return department_id

    def _choice(self, row: Row, column: str, parse, expected: str):
        text = row.cells[column]
        value = parse(text)
        if value is None:
            if not text.strip():
                self.add(row.number, column, f"required, but empty ({expected})")
            else:
                self.add(row.number, column, f"{quoted(text)} is not {expected}")
        return value

    def _date(self, row: Row, column: str, *, required: bool):
        text = row.cells[column]
        if not text.strip():
            if required:
                self.add(row.number, column, "required, but empty")
            return None
        value = parse_date(text)
        if value is None:
            self.add(
                row.number,
                column,
                f"{quoted(text)} is not a date written as YYYY-MM-DD (2024-03-01)",
            )
            return None
        problem = date_range_problem(value)
        if problem is not None:
            self.add(row.number, column, problem)
            return None
        return value

    # Against the database, a chunk at a time ---------------------------------------

    def check_against_database(self, rows: list[PeriodRow]) -> None:
        """Doctors by license number: found, the rows get their id and join
        the whole-file check; unknown, a problem each."""
        if not rows:
            return
        ids = dict(
            Doctor.objects.filter(
                license_number__any_of=list({row.license_number for row in rows})
            )
            .order_by()
            .values_list("license_number", "pk")
        )
        for row in rows:
            doctor_id = ids.get(row.license_number)
            if doctor_id is None:
                self.add(
                    row.row,
                    "license_number",
                    f"no doctor has the license number {quoted(row.license_number)}",
                )
                continue
            row.doctor_id = doctor_id
            self.licenses[doctor_id] = row.license_number
            key = (doctor_id, row.department_id, row.joined_on)
            first = self.spans.get(key)
            if first is not None:
                self.add(
                    row.row,
                    "joined_on",
                    f"the period of {row.license_number} in "
                    f"{self.codes[row.department_id]} from "
                    f"{row.joined_on.isoformat()} is also on row {first.row}",
                )
                continue
            self.spans[key] = Span(
                doctor_id,
                row.department_id,
                row.role == HEAD,
                row.is_primary,
                row.joined_on,
                row.left_on,
                row.row,
            )

    # The whole file --------------------------------------------------------------

    def finish(self) -> None:
        """The rules on every day, for the state after the file."""
        if self.rows_seen == 0:
            self.add(None, "", "The file has a header but no rows.")
            return
        if self.problem_count or not self.spans:
            # The file is refused already; stored periods would be compared
            # with rows that are not what their authors meant.
            return
        state = self._state_after()
        pairs = {key[:2] for key in self.spans}
        self._check_groups(
            (s for s in state if (s.doctor_id, s.department_id) in pairs),
            key=lambda span: (span.doctor_id, span.department_id),
            column="joined_on",
            words=self._overlap_words,
        )
        head_departments = {s.department_id for s in self.spans.values() if s.is_head}
        self._check_groups(
            (s for s in state if s.is_head and s.department_id in head_departments),
            key=lambda span: span.department_id,
            column="role",
            words=self._head_words,
        )
        primary_doctors = {s.doctor_id for s in self.spans.values() if s.is_primary}
        self._check_groups(
            (s for s in state if s.is_primary and s.doctor_id in primary_doctors),
            key=lambda span: span.doctor_id,
            column="primary",
            words=self._primary_words,
        )

    def _state_after(self) -> list[Span]:
        """The file's periods over the stored periods they could meet: every
        period of the file's doctors, and the heads of the departments the
        file gives a head. A stored period the file names is the file's row."""
        columns = (
            "doctor_id",
            "department_id",
            "role",
            "is_primary",
            "joined_on",
            "left_on",
            "doctor__license_number",
        )
        in_file = set(self.licenses)
        state = list(self.spans.values())

        def keep(values: tuple) -> None:
            doctor_id, dept_id, role, primary, joined, left, license_number = values
            if (doctor_id, dept_id, joined) in self.spans:
                return
            self.licenses.setdefault(doctor_id, license_number)
            state.append(
                Span(doctor_id, dept_id, role == HEAD, primary, joined, left, None)
            )

        doctor_ids = sorted(in_file)
        for start in range(0, len(doctor_ids), LOOKUP_CHUNK):
            part = doctor_ids[start : start + LOOKUP_CHUNK]
            for values in (
                Membership.objects.filter(doctor_id__any_of=part)
                .order_by()
                .values_list(*columns)
                .iterator(chunk_size=LOOKUP_CHUNK)
            ):
                keep(values)
        head_departments = sorted(
            {s.department_id for s in self.spans.values() if s.is_head}
        )
        if head_departments:
            for values in (
                Membership.objects.filter(
                    department_id__any_of=head_departments, role=HEAD
                )
                .order_by()
                .values_list(*columns)
            ):
                if values[0] not in in_file:  # read with their doctor above
                    keep(values)
        return state

    def _check_groups(self, spans: Iterable[Span], *, key, column: str, words) -> None:
        groups: dict[object, list[Span]] = {}
        for span in spans:
            groups.setdefault(key(span), []).append(span)
        for group in groups.values():
            for span, other in _overlaps(group):
                # Report at a row of the file; at the later of two rows.
                if span.row is None:
                    span, other = other, span
                elif other.row is not None and other.row > span.row:
                    span, other = other, span
                self.add(span.row, column, words(span, other))

    # Words -------------------------------------------------------------------

    def _doctor(self, span: Span) -> str:
        return f"doctor {self.licenses.get(span.doctor_id, span.doctor_id)}"

    def _other(self, other: Span) -> str:
        when = periods.describe(other.joined_on, other.left_on)
        if other.row is not None:
            return f"row {other.row} ({when})"
        return f"the stored period {when}, which this file leaves as it is"

    def _overlap_words(self, span: Span, other: Span) -> str:
        return (
            f"{self._doctor(span)} would be in "
            f"{self.codes.get(span.department_id, '?')} twice on some days: this "
            f"period ({periods.describe(span.joined_on, span.left_on)}) overlaps "
            f"{self._other(other)}"
        )

    def _head_words(self, span: Span, other: Span) -> str:
        return (
            f"{self.codes.get(span.department_id, '?')} would have two heads on "
            f"some days: this period ({periods.describe(span.joined_on, span.left_on)})"
            f" overlaps {self._doctor(other)}'s as head, {self._other(other)}"
        )

    def _primary_words(self, span: Span, other: Span) -> str:
        return (
            f"{self._doctor(span)} would have two primary departments on some days: "
            f"this period in {self.codes.get(span.department_id, '?')} "
            f"({periods.describe(span.joined_on, span.left_on)}) overlaps the one in "
            f"{self.codes.get(other.department_id, '?')}, {self._other(other)}"
        )


def _overlaps(group: list[Span]) -> Iterator[tuple[Span, Span]]:
    """Pairs of periods of `group` that share a day, each period met at most
    once as the later one: sorted by first day, each is compared with the
    period reaching furthest among those before it."""
    group.sort(key=lambda span: (span.joined_on, span.row or 0))
    reach: Span | None = None
    for span in group:
        if reach is not None and (
            reach.left_on is None or reach.left_on >= span.joined_on
        ):
            if reach.row is not None or span.row is not None:
                yield span, reach
        if reach is None or (
            reach.left_on is not None
            and (span.left_on is None or span.left_on > reach.left_on)
        ):
            reach = span
