"""CSV export of doctors and departments, in exactly the import's formats.

Rows are produced chunk by chunk (two queries per chunk), so a large export
streams to the browser or a file without holding every doctor in memory.
Every cell goes through `neutralize`: a spreadsheet opening the file runs no
formula, and importing the file again restores every value.
"""

import codecs
import csv
from collections.abc import Iterable, Iterator
from typing import TextIO

from django.db.models import QuerySet

from .importing.formats import (
    DEPARTMENT_COLUMNS,
    DOCTOR_COLUMNS,
    format_bool,
    format_departments,
    neutralize,
)
from .models import Department, Doctor, Membership

CHUNK_SIZE = 2000
# Excel reads a CSV file as UTF-8 only when it starts with a byte order mark;
# the importer accepts files with or without one.
BOM = codecs.BOM_UTF8.decode()


def doctor_rows(queryset: QuerySet[Doctor]) -> Iterator[list[str]]:
    """The header, then one row per doctor of `queryset`, in its order."""
    yield list(DOCTOR_COLUMNS)
    ids = list(queryset.values_list("pk", flat=True))
    for start in range(0, len(ids), CHUNK_SIZE):
        chunk = ids[start : start + CHUNK_SIZE]
        doctors = {
            values[0]: values
            for values in Doctor.objects.filter(pk__in=chunk).values_list(
                "pk",
                "license_number",
                "first_name",
                "last_name",
                "email",
                "phone",
                "specialty",
                "is_active",
            )
        }
        departments: dict[int, list[tuple[bool, str, bool]]] = {}
        for doctor_id, code, is_primary, role in Membership.objects.filter(
            doctor_id__in=chunk
        ).values_list("doctor_id", "department__code", "is_primary", "role"):
            departments.setdefault(doctor_id, []).append(
                (not is_primary, code, role == Membership.Role.HEAD)
            )
        for pk in chunk:
            values = doctors.get(pk)
            if values is None:  # deleted since the list was read
                continue
            _, license_number, first, last, email, phone, specialty, active = values
            entries = sorted(departments.get(pk, []))
            yield [
                neutralize(license_number),
                neutralize(first),
                neutralize(last),
                neutralize(email),
                neutralize(phone),
                specialty,
                neutralize(
                    format_departments(
                        [(code, head) for _, code, head in entries],
                        has_primary=any(not other for other, _, _ in entries),
                    )
                ),
                format_bool(active),
            ]


def department_rows(queryset: QuerySet[Department]) -> Iterator[list[str]]:
    yield list(DEPARTMENT_COLUMNS)
    for code, name, description, is_active in queryset.values_list(
        "code", "name", "description", "is_active"
    ).iterator(chunk_size=CHUNK_SIZE):
        yield [
            neutralize(code),
            neutralize(name),
            neutralize(description),
            format_bool(is_active),
        ]


MEMBER_COLUMNS = ("license_number", "name", "role", "primary")


def member_rows(members: Iterable) -> Iterator[list[str]]:
    """The header, then one row per member of a department on a date
    (doctors.timetravel.moments.MemberOnDate)."""
    yield list(MEMBER_COLUMNS)
    for member in members:
        yield [
            neutralize(member.license_number),
            neutralize(member.name),
            member.role,
            format_bool(member.is_primary),
        ]


class _Line:
    """A file-like object whose write() returns what was written: lets
    csv.writer produce one encoded line at a time for streaming."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[list[str]]) -> Iterator[str]:
    """CSV text, line by line, starting with the byte order mark."""
    writer = csv.writer(_Line())
    first = True
    for row in rows:
        line = writer.writerow(row)
        if first:
            line = BOM + line
            first = False
        yield line


def write_csv(rows: Iterable[list[str]], stream: TextIO) -> int:
    """Write `rows` as CSV to `stream`; return the number of data rows."""
    count = -1
    for line in csv_lines(rows):
        stream.write(line)
        count += 1
    return max(count, 0)
