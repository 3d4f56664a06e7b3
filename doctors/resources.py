"""The columns of doctors and departments, declared once, as django-import-export
Resources.

`DoctorResource` and `DepartmentResource` say which columns a file has, in
which order, what each holds (`COLUMN_HELP`) and how each value is rendered
for a file and parsed from one (their widgets). Export (doctors.exporting),
the import's header check (doctors.importing.runner), the admin's help text
and export column choice, the demo data and the benchmarks all take the
columns from here.

Values are rendered typed: text as text, `is_active` as a boolean. Each file
format then writes them its way (see doctors.sheets): "true"/"false" and
formula-safe text in CSV, boolean and text cells in a workbook, true/false in
JSON. Parsing goes through the same rules the importer's checks use
(doctors.importing.formats): yes/no/1/0, a specialty by name or code, the
departments cell `CARD:head|NEUR`.

The importer itself (doctors.importing) stays the engine: it checks every row
and writes in bulk, far faster than a Resource's row-by-row import.
"""

from import_export import fields, resources, widgets

from .importing.formats import (
    DEPARTMENT_SEPARATOR,
    HEAD_MARKER,
    SPECIALTY_LOOKUP,
    format_departments,
    parse_bool,
)
from .models import Department, Doctor, Membership


class TextWidget(widgets.CharWidget):
    """Text, trimmed; never None."""

    def clean(self, value, row=None, **kwargs):
        return "" if value is None else str(value).strip()

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class FlagWidget(widgets.BooleanWidget):
    """A boolean, rendered typed; parsed from true/false, yes/no, 1/0 (empty
    means true), as the importer reads it."""

    def __init__(self):
        super().__init__(coerce_to_string=False)

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, bool):
            return value
        parsed = parse_bool("" if value is None else str(value))
        if parsed is None:
            raise ValueError(f"{value!r} is not one of true/false, yes/no, 1/0")
        return parsed

    def render(self, value, obj=None, **kwargs):
        return bool(value)


class SpecialtyWidget(TextWidget):
    """A specialty: written as its code, read by code or name in any case."""

    def clean(self, value, row=None, **kwargs):
        text = super().clean(value)
        try:
            return SPECIALTY_LOOKUP[text.lower()]
        except KeyError:
            raise ValueError(f"unknown specialty {text!r}") from None


class DepartmentsWidget(widgets.Widget):
    """A doctor's memberships in one cell: codes separated by "|", the primary
    first, ":head" after a department the doctor heads, a leading "|" when none
    is primary (see doctors.importing.formats).

    Renders (entries, has_primary), entries being (code, is_head) pairs with
    the primary first; parses a cell back to the same.
    """

    def render(self, value, obj=None, **kwargs):
        if not value:
            return ""
        entries, has_primary = value
        return format_departments(list(entries), has_primary=has_primary)

    def clean(self, value, row=None, **kwargs):
        text = "" if value is None else str(value).strip()
        if not text:
            return [], True
        has_primary = not text.startswith(DEPARTMENT_SEPARATOR)
        parts = text.split(DEPARTMENT_SEPARATOR)
        entries = []
        for part in parts if has_primary else parts[1:]:
            code, marker, _ = part.strip().partition(HEAD_MARKER[0])
            entries.append((code.strip().upper(), bool(marker)))
        return entries, has_primary


def memberships_of(doctor: Doctor) -> tuple[list[tuple[str, bool]], bool]:
    """(entries, has_primary) of one doctor, as DepartmentsWidget renders them."""
    rows = sorted(
        (not membership.is_primary, membership.department.code, membership.role)
        for membership in doctor.memberships.select_related("department")
    )
    return department_entries(rows)


def department_entries(rows) -> tuple[list[tuple[str, bool]], bool]:
    """Sorted (not primary, code, role) triples -> (entries, has_primary)."""
    entries = [(code, role == Membership.Role.HEAD) for _, code, role in rows]
    return entries, any(not other for other, _, _ in rows)


def _field(name: str, widget=None) -> fields.Field:
    return fields.Field(attribute=name, column_name=name, widget=widget or TextWidget())


class DoctorResource(resources.ModelResource):
    license_number = _field("license_number")
    first_name = _field("first_name")
    last_name = _field("last_name")
    email = _field("email")
    phone = _field("phone")
    specialty = _field("specialty", SpecialtyWidget())
    departments = fields.Field(
        attribute="departments", column_name="departments", widget=DepartmentsWidget()
    )
    is_active = _field("is_active", FlagWidget())

    COLUMN_HELP = {
        "license_number": "The doctor's license number: identifies the row. "
        "Letters, digits, '-', '/', '.' or '_'.",
        "first_name": "Required.",
        "last_name": "Required.",
        "email": "Required; one doctor per email (any case).",
        "phone": "Optional.",
        "specialty": "A name such as Cardiology or its code such as cardiology.",
        "departments": "Department codes separated by |, the primary department "
        "first; CARD:head makes the doctor head of CARD; a leading | "
        "(|CARD|NEUR) means none is primary. The doctor's memberships become "
        "exactly these.",
        "is_active": "true or false (also yes/no, 1/0; empty means true).",
    }

    class Meta:
        model = Doctor
        fields = (
            "license_number",
            "first_name",
            "last_name",
            "email",
            "phone",
            "specialty",
            "departments",
            "is_active",
        )
        export_order = fields
        import_id_fields = ("license_number",)

    def dehydrate_departments(self, doctor: Doctor) -> str:
        # import-export's own export (Resource.export) takes this value as is.
        return self.fields["departments"].widget.render(memberships_of(doctor))


class DepartmentResource(resources.ModelResource):
    code = _field("code")
    name = _field("name")
    description = _field("description")
    is_active = _field("is_active", FlagWidget())

    COLUMN_HELP = {
        "code": "The department's code: identifies the row. Capital letters, "
        "digits, '-' or '_'.",
        "name": "Required; one department per name.",
        "description": "Optional.",
        "is_active": "true or false (also yes/no, 1/0; empty means true).",
    }

    class Meta:
        model = Department
        fields = ("code", "name", "description", "is_active")
        export_order = fields
        import_id_fields = ("code",)


def columns(resource_class) -> tuple[str, ...]:
    """The column names of a Resource, in their order."""
    return tuple(field.column_name for field in resource_class().get_export_fields())


def export_fields(resource_class) -> dict:
    """Column name -> the Resource's Field, in the columns' order."""
    return {field.column_name: field for field in resource_class().get_export_fields()}


DOCTOR_COLUMNS = columns(DoctorResource)
DEPARTMENT_COLUMNS = columns(DepartmentResource)
# A doctor's and a department's own values: the columns after the key, less
# the memberships.
DOCTOR_FIELDS = tuple(c for c in DOCTOR_COLUMNS[1:] if c != "departments")
DEPARTMENT_FIELDS = DEPARTMENT_COLUMNS[1:]
RESOURCES = {"doctor": DoctorResource, "department": DepartmentResource}
