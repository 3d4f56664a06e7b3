"""Checking rows: every problem is collected with its row, column and message.

A checker keeps only what checks across the whole file need (license numbers
and emails seen so far, head claims), not the rows themselves. Checks against
the database run once per chunk of rows.
"""

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models.functions import Lower

from ..models import HEAD_RULE, RULE_WORDS, Department, Doctor, Membership
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
        """Emails that belong to another doctor (by license number) in the database."""
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

    def finish(self) -> None:
        """Checks that need the whole file: heads, and a file without rows."""
        if self.rows_seen == 0:
            self.add(None, "", "The file has a header but no rows.")
            return
        if not self.head_claims and not self.licenses:
            return
        current_heads = Membership.objects.filter(
            role=Membership.Role.HEAD
        ).values_list(
            "pk", "department_id", "department__code", "doctor__license_number"
        )
        for membership_id, department_id, code, holder in current_heads:
            claim = self.head_claims.get(department_id)
            if holder in self.licenses:
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
