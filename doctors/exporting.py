"""Export of doctors and departments, in exactly the import's formats.

The columns and how each value is rendered come from the Resources
(doctors.resources); doctors.sheets writes the rows as CSV, TSV, JSON, Excel
or OpenDocument. The doctors are read as a stream (a server-side cursor on
PostgreSQL), their memberships with one query per chunk of doctors, so a
large export streams to the browser or a file without holding every doctor
in memory. A file exported
here imports back with no change.
"""

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import BinaryIO, TextIO

from django.db.models import QuerySet

from . import sheets
from .models import Department, Doctor, Membership
from .resources import (
    DEPARTMENT_COLUMNS,
    DOCTOR_COLUMNS,
    DepartmentResource,
    DoctorResource,
    department_entries,
    export_fields,
)

CHUNK_SIZE = 2000


def _renderers(resource_class, columns: Sequence[str] | None):
    """(column, attribute, render) of the chosen columns, in the Resource's order."""
    fields = export_fields(resource_class)
    chosen = set(columns) if columns else set(fields)
    unknown = chosen - set(fields)
    if unknown:
        raise ValueError(f"unknown column(s): {', '.join(sorted(unknown))}")
    return [
        (name, field.attribute, field.widget.render)
        for name, field in fields.items()
        if name in chosen
    ]


def doctor_rows(
    queryset: QuerySet[Doctor], columns: Sequence[str] | None = None
) -> Iterator[list]:
    """The header, then one row of typed values per doctor of `queryset`, in
    its order. `columns`: a subset of the Resource's columns (default: all)."""
    renderers = _renderers(DoctorResource, columns)
    yield [name for name, _, _ in renderers]
    attributes = [a for a in DOCTOR_COLUMNS if a != "departments"]
    with_departments = any(name == "departments" for name, _, _ in renderers)
    # Where each rendered value comes from in a fetched row (pk first); the
    # departments are appended last.
    positions = [
        len(attributes) + 1
        if attribute == "departments"
        else attributes.index(attribute) + 1
        for _, attribute, _ in renderers
    ]
    plan = list(zip(positions, [render for _, _, render in renderers], strict=True))
    codes = (
        dict(Department.objects.values_list("pk", "code")) if with_departments else {}
    )
    doctors = queryset.values_list("pk", *attributes).iterator(chunk_size=CHUNK_SIZE)
    for chunk in itertools.batched(doctors, CHUNK_SIZE):
        memberships: dict[int, list[tuple[bool, str, str]]] = {}
        if with_departments:
            # The departments cell holds the current memberships.
            current = Membership.objects.current().filter(
                doctor_id__in=[values[0] for values in chunk]
            )
            for doctor_id, department_id, is_primary, role in current.values_list(
                "doctor_id", "department_id", "is_primary", "role"
            ):
                memberships.setdefault(doctor_id, []).append(
                    (not is_primary, codes[department_id], role)
                )
        for values in chunk:
            if with_departments:
                values = (
                    *values,
                    department_entries(sorted(memberships.get(values[0], []))),
                )
            yield [render(values[position]) for position, render in plan]


def department_rows(
    queryset: QuerySet[Department], columns: Sequence[str] | None = None
) -> Iterator[list]:
    renderers = _renderers(DepartmentResource, columns)
    yield [name for name, _, _ in renderers]
    for values in queryset.values_list(*DEPARTMENT_COLUMNS).iterator(
        chunk_size=CHUNK_SIZE
    ):
        record = dict(zip(DEPARTMENT_COLUMNS, values, strict=True))
        yield [render(record[attribute]) for _, attribute, render in renderers]


MEMBER_COLUMNS = (
    "license_number",
    "name",
    "role",
    "primary",
    "joined_on",
    "left_on",
)


def member_rows(members: Iterable) -> Iterator[list]:
    """The header, then one row of typed values per member of a department on a
    date (doctors.timetravel.moments.MemberOnDate); doctors.sheets renders them."""
    yield list(MEMBER_COLUMNS)
    for member in members:
        yield [
            member.license_number,
            member.name,
            member.role,
            member.is_primary,
            member.joined_on,
            member.left_on,
        ]


def usual_column_widths(model) -> dict[str, int]:
    """Usual widths of the columns, in characters, for spreadsheets."""
    widths = {"departments": 24, "is_active": 9, "description": 40, "email": 32}
    for field in model._meta.concrete_fields:
        if field.name not in widths and getattr(field, "max_length", None):
            widths[field.name] = min(field.max_length, 24)
    return widths


def write(
    file_format: str,
    rows: Iterator[list],
    stream: BinaryIO | TextIO,
    *,
    model,
) -> int:
    """Write `rows` in `file_format` (sheets.FORMATS) to `stream` (binary for
    .xlsx and .ods, text otherwise); return the number of data rows."""
    if file_format in sheets.BINARY:
        return sheets.write_binary(
            file_format,
            rows,
            stream,
            sheet=str(model._meta.verbose_name_plural).capitalize(),
            widths=usual_column_widths(model),
        )
    return sheets.write_text(file_format, rows, stream)


# CSV helpers under their former names.
csv_lines = sheets.csv_lines


def write_csv(rows, stream: TextIO) -> int:
    """Write `rows` as CSV to `stream`; return the number of data rows."""
    return sheets.write_text("csv", rows, stream)
