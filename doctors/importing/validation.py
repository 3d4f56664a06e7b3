"""Checking rows: every problem is collected with its row, column and message.

A checker keeps only what checks across the whole file need (license numbers
and emails seen so far, head claims), not the rows themselves. Checks against
the database run once per chunk of rows.
"""

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models.functions import Lower

from .. import periods
from ..models import (
    HEAD_RULE,
    RULE_WORDS,
    Department,
    Doctor,
    Membership,
)
from ..validators import SingleLineValidator
from .parsing import Row
from .text import quoted, shorten
from .values import (
    DEPARTMENT_SEPARATOR,
    HEAD_MARKER,
    SPECIALTY_LOOKUP,
    parse_bool,
)

# Fields a row sets besides its key, in the Resources' column order: the order
# of DoctorRow.values and DepartmentRow.values.

# However hostile the file, the problem list stays small: the first
# MAX_PROBLEMS problems are kept (the rest only counted), each message at most
# MESSAGE_LIMIT characters (values quoted in one are shortened, see text.py).
MAX_PROBLEMS = 1000
MESSAGE_LIMIT = 300


@dataclass(frozen=True, slots=True)
class Problem:
    row: int | None
    column: str
    message: str

    def __str__(self) -> str:
        where = f"Row {self.row}" if self.row is not None else "File"
        if self.column:
            where = f"{where}, column {self.column}"
        return f"{where}: {self.message}"

    def as_list(self) -> list[Any]:
        return [self.row, self.column, self.message]


@dataclass(slots=True)
class DoctorRow:
    row: int
    license_number: str
    values: tuple  # in DOCTOR_FIELDS order
    # (department id, is head), the primary department first.
    departments: tuple[tuple[int, bool], ...]
    # False when the cell starts with "|": none of the departments is primary.
    has_primary: bool = True


@dataclass(slots=True)
class DepartmentRow:
    row: int
    code: str
    values: tuple  # in DEPARTMENT_FIELDS order


def field_validators(model, column: str) -> list:
    """The model field's own validators, the single-line rule first (its
    message is the clearest about a line break or a tab)."""
    return sorted(
        model._meta.get_field(column).validators,
        key=lambda validator: not isinstance(validator, SingleLineValidator),
    )


@dataclass
class Checker:
    # The first MAX_PROBLEMS problems, in the order found.
    problems: list[Problem] = field(default_factory=list)
    # Every problem found, kept or not.
    problem_count: int = 0
    rows_seen: int = 0
    validators: dict[str, list] = field(default_factory=dict)

    def add(
        self, row: int | None, column: str, message: str, *, always: bool = False
    ) -> None:
        """Record a problem; past MAX_PROBLEMS it is only counted, unless
        `always` (the one error that stops reading the file)."""
        self.problem_count += 1
        if always or len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(row, column, shorten(message, MESSAGE_LIMIT)))

    def _text(
        self,
        row: Row,
        model,
        column: str,
        *,
        required: bool,
    ) -> str | None:
        value = row.cells[column]
        if not value:
            if required:
                self.add(row.number, column, "required, but empty")
                return None
            return value
        max_length = model._meta.get_field(column).max_length
        if max_length is not None and len(value) > max_length:
            self.add(
                row.number,
                column,
                f"{len(value)} characters; at most {max_length} are allowed",
            )
            return None
        validators = self.validators.get(column)
        if validators is None:
            validators = self.validators[column] = field_validators(model, column)
        for validator in validators:
            try:
                validator(value)
            except ValidationError as error:
                self.add(row.number, column, " ".join(error.messages))
                return None
        return value

    def _bool(self, row: Row, column: str) -> bool | None:
        value = parse_bool(row.cells[column])
        if value is None:
            self.add(
                row.number,
                column,
                f"{quoted(row.cells[column])} is not one of true/false, yes/no, 1/0 "
                "(empty means true)",
            )
        return value


class DoctorChecker(Checker):
    def __init__(self):
        super().__init__()
        self.departments = {
            code: pk for code, pk in Department.objects.values_list("code", "pk")
        }
        self.licenses: dict[str, int] = {}
        self.emails: dict[str, int] = {}
        # department id -> (row, license number) of the row that makes its head.
        self.head_claims: dict[int, tuple[int, str]] = {}
        self.released_heads: list[int] = []

    def check_row(self, row: Row) -> DoctorRow | None:
        """The row's clean values, or None when it has a problem (recorded)."""
        self.rows_seen += 1
        if row.error:
            self.add(row.number, "", row.error)
            return None
        before = self.problem_count
        license_number = self._text(row, Doctor, "license_number", required=True)
        if license_number is not None:
            first = self.licenses.setdefault(license_number, row.number)
            if first != row.number:
                self.add(
                    row.number,
                    "license_number",
                    f"{license_number} is also on row {first}",
                )
        first_name = self._text(row, Doctor, "first_name", required=True)
        last_name = self._text(row, Doctor, "last_name", required=True)
        email = self._text(row, Doctor, "email", required=True)
        if email is not None:
            first = self.emails.setdefault(email.lower(), row.number)
            if first != row.number:
                self.add(
                    row.number,
                    "email",
                    f"{email} is also on row {first} (emails are compared "
                    "without regard to case)",
                )
        phone = self._text(row, Doctor, "phone", required=False)
        specialty = self._specialty(row)
        is_active = self._bool(row, "is_active")
        departments, has_primary = self._departments(row, license_number)
        if self.problem_count > before:
            return None
        return DoctorRow(
            row=row.number,
            license_number=license_number,
            values=(first_name, last_name, email, phone, specialty, is_active),
            departments=departments,
            has_primary=has_primary,
        )

    def _specialty(self, row: Row) -> str | None:
        text = row.cells["specialty"]
        if not text:
            self.add(row.number, "specialty", "required, but empty")
            return None
        value = SPECIALTY_LOOKUP.get(text.lower())
        if value is None:
            self.add(
                row.number,
                "specialty",
                f"unknown specialty {quoted(text)} (use a name such as Cardiology or "
                "its code such as cardiology)",
            )
        return value

    def _departments(
        self, row: Row, license_number: str | None
    ) -> tuple[tuple[tuple[int, bool], ...], bool]:
        text = row.cells["departments"]
        if not text:
            return (), True
        entries: list[tuple[int, bool]] = []
        seen: set[str] = set()
        has_primary = not text.startswith(DEPARTMENT_SEPARATOR)
        listed = text.count(DEPARTMENT_SEPARATOR) + (1 if has_primary else 0)
        if listed > len(self.departments):
            # Each department may be listed once: more entries cannot all be
            # right, and one problem says so better than one per entry.
            self.add(
                row.number,
                "departments",
                f"{listed} entries, but there are only {len(self.departments)} "
                "departments (each may be listed once)",
            )
            return (), has_primary
        parts = text.split(DEPARTMENT_SEPARATOR)
        for part in parts if has_primary else parts[1:]:
            entry = part.strip()
            if not entry:
                self.add(row.number, "departments", f"empty entry in {quoted(text)}")
                continue
            code, marker, role = entry.partition(":")
            code = code.strip().upper()
            is_head = bool(marker)
            if is_head and role.strip().lower() != HEAD_MARKER[1:]:
                self.add(
                    row.number,
                    "departments",
                    f"{quoted(entry)}: after ':' only 'head' may follow "
                    "(CODE or CODE:head)",
                )
                continue
            if code in seen:
                self.add(row.number, "departments", f"{code} is listed twice")
                continue
            seen.add(code)
            department_id = self.departments.get(code)
            if department_id is None:
                self.add(row.number, "departments", f"unknown department code {code}")
                continue
            if is_head and license_number is not None:
                claim = self.head_claims.setdefault(
                    department_id, (row.number, license_number)
                )
                if claim[0] != row.number:
                    self.add(
                        row.number,
                        "departments",
                        RULE_WORDS[HEAD_RULE].twice.format(owner=code).rstrip(".")
                        + f" (row {claim[0]} already makes another doctor its head)",
                    )
                    continue
            entries.append((department_id, is_head))
        return tuple(entries), has_primary

    def check_against_database(self, rows: list[DoctorRow]) -> None:
        """Emails that belong to another doctor (by license number) in the
        database, and the rows that would break a rule on a later day."""
        by_email = {row.values[2].lower(): row for row in rows}
        if not by_email:
            return
        holders = (
            Doctor.objects.annotate(email_ci=Lower("email"))
            .filter(email_ci__any_of=list(by_email))
            .order_by()
            .values_list("email_ci", "license_number")
        )
        for email_ci, holder in holders:
            row = by_email[email_ci]
            if holder != row.license_number:
                self.add(
                    row.row,
                    "email",
                    f"{row.values[2]} already belongs to doctor {holder} in the "
                    "database (emails are compared without regard to case)",
                )
        self._check_later_periods(rows)

    def _check_later_periods(self, rows: list[DoctorRow]) -> None:
        """The `departments` cell lists current memberships, which the import
        changes from today; periods that start later are the doctor page's
        (or a memberships file's) to change. So a department listed where the
        doctor has only a later period is refused, naming it, and so is a
        primary department from today that would overlap a later primary
        period the import keeps. One query per chunk: the later periods of
        its doctors (few), then the current ones of the doctors that have any.
        """
        today = periods.today()
        later: dict[str, list[tuple]] = {}
        for values in (
            Membership.objects.filter(
                joined_on__gt=today,
                doctor__license_number__any_of=[row.license_number for row in rows],
            )
            .order_by("joined_on")
            .values_list(
                "doctor__license_number",
                "doctor_id",
                "department_id",
                "department__code",
                "is_primary",
                "joined_on",
                "left_on",
            )
        ):
            later.setdefault(values[0], []).append(values)
        if not later:
            return
        current: dict[int, dict[int, tuple]] = {}
        for doctor_id, department_id, is_primary, left_on in (
            Membership.objects.current()
            .filter(
                doctor_id__in={
                    values[1] for found in later.values() for values in found
                }
            )
            .values_list("doctor_id", "department_id", "is_primary", "left_on")
        ):
            current.setdefault(doctor_id, {})[department_id] = (is_primary, left_on)
        for row in rows:
            found = later.get(row.license_number)
            if found:
                self._check_doctor_later(row, found, current.get(found[0][1], {}))

    def _check_doctor_later(
        self, row: DoctorRow, found: list[tuple], current: dict[int, tuple]
    ) -> None:
        listed = {department_id for department_id, _ in row.departments}
        for _, _, department_id, code, _, joined_on, left_on in found:
            if department_id in listed and department_id not in current:
                self.add(
                    row.row,
                    "departments",
                    f"{code}: the doctor's membership there starts later "
                    f"({periods.describe(joined_on, left_on)}); this column lists "
                    f"current memberships, so leave {code} out and change that "
                    "period on the doctor's page",
                )
                listed.discard(department_id)
        if not row.departments or not row.has_primary:
            return
        primary_id = row.departments[0][0]
        now = current.get(primary_id)
        if now is not None and now[0]:
            return  # already primary there: nothing starts today
        last = now[1] if now is not None else None
        primary_code = next(
            code for code, pk in self.departments.items() if pk == primary_id
        )
        for _, _, department_id, code, is_primary, joined_on, left_on in found:
            # Later periods of a department dropped from the cell are cancelled.
            kept = department_id in listed or department_id not in current
            if (
                is_primary
                and kept
                and department_id != primary_id
                and (last is None or joined_on <= last)
            ):
                self.add(
                    row.row,
                    "departments",
                    f"{primary_code} cannot be the primary department from today: "
                    f"the doctor's primary department is {code} "
                    f"{periods.describe(joined_on, left_on)} (change that period "
                    "on the doctor's page, or list the doctor's departments "
                    "without a primary one)",
                )
                return

    def finish(self) -> None:
        """Checks that need the whole file: heads, and a file without rows."""
        if self.rows_seen == 0:
            self.add(None, "", "The file has a header but no rows.")
            return
        if not self.head_claims and not self.licenses:
            return
        today = periods.today()
        heads = (
            Membership.objects.filter(role=Membership.Role.HEAD)
            .filter(periods.not_ended(today))
            .order_by("joined_on")
            .values_list(
                "pk",
                "department_id",
                "department__code",
                "doctor__license_number",
                "joined_on",
                "left_on",
            )
        )
        later_heads = []
        for membership_id, department_id, code, holder, joined_on, left_on in heads:
            claim = self.head_claims.get(department_id)
            if joined_on > today:
                if claim is not None and claim[1] != holder:
                    later_heads.append((claim, code, holder, joined_on, left_on))
            elif holder in self.licenses:
                # The file has the holder's row, which says whether it stays head.
                if claim is None or claim[1] != holder:
                    self.released_heads.append(membership_id)
            elif claim is not None:
                self.add(
                    claim[0],
                    "departments",
                    RULE_WORDS[HEAD_RULE]
                    .held_by.format(owner=code, holder=f"doctor {holder}")
                    .rstrip(".")
                    + " in the database (to hand over, add that doctor's row "
                    f"without {HEAD_MARKER})",
                )
        if later_heads:
            self._check_later_heads(later_heads, today)

    def _check_later_heads(self, later_heads: list[tuple], today) -> None:
        """A head from today must not reach another doctor's later period as
        head: it lasts as long as the claimant's current period there (open
        when the claimant joins today)."""
        claimants = {claim[1] for claim, *_ in later_heads}
        ends = {
            (license_number, code): (role, left_on)
            for license_number, code, role, left_on in Membership.objects.current()
            .filter(doctor__license_number__in=claimants)
            .values_list(
                "doctor__license_number", "department__code", "role", "left_on"
            )
        }
        refused = set()
        for claim, code, holder, joined_on, left_on in later_heads:
            role, last = ends.get((claim[1], code), (None, None))
            if role == Membership.Role.HEAD or claim[0] in refused:
                continue  # already head today: nothing new starts
            if last is None or joined_on <= last:
                refused.add(claim[0])
                self.add(
                    claim[0],
                    "departments",
                    RULE_WORDS[HEAD_RULE]
                    .held_by.format(owner=code, holder=f"doctor {holder}")
                    .rstrip(".")
                    + f" {periods.describe(joined_on, left_on)} (a head from today "
                    "would overlap it; change that period on the department's "
                    "page)",
                )


class DepartmentChecker(Checker):
    def __init__(self):
        super().__init__()
        self.codes: dict[str, int] = {}
        self.names: dict[str, int] = {}

    def check_row(self, row: Row) -> DepartmentRow | None:
        self.rows_seen += 1
        if row.error:
            self.add(row.number, "", row.error)
            return None
        before = self.problem_count
        row.cells["code"] = row.cells["code"].upper()
        code = self._text(row, Department, "code", required=True)
        if code is not None:
            first = self.codes.setdefault(code, row.number)
            if first != row.number:
                self.add(row.number, "code", f"{code} is also on row {first}")
        name = self._text(row, Department, "name", required=True)
        if name is not None:
            first = self.names.setdefault(name, row.number)
            if first != row.number:
                self.add(row.number, "name", f"{quoted(name)} is also on row {first}")
        description = self._text(row, Department, "description", required=False)
        is_active = self._bool(row, "is_active")
        if self.problem_count > before:
            return None
        return DepartmentRow(row.number, code, (name, description, is_active))

    def check_against_database(self, rows: list[DepartmentRow]) -> None:
        by_name = {row.values[0]: row for row in rows}
        holders = Department.objects.filter(name__in=list(by_name)).values_list(
            "name", "code"
        )
        for name, holder in holders:
            row = by_name[name]
            if holder != row.code:
                self.add(
                    row.row,
                    "name",
                    f"{quoted(name)} is the name of department {holder} in the "
                    "database",
                )

    def finish(self) -> None:
        if self.rows_seen == 0:
            self.add(None, "", "The file has a header but no rows.")
