"""The columns of doctors and departments, declared once, as django-import-export
Resources.

`DoctorResource` and `DepartmentResource` say which columns a file has, in
which order, what each holds (`COLUMN_HELP`) and how each value is rendered
for a file and parsed from one (their widgets). Export (doctors.exporting),
the import's header check (doctors.importing.runner), the admin's help text
and export column choice, the demo data and the benchmarks all take the
columns from here.

Each column is declared once, as a `Column` with its help text; the order
of the declarations is the order of the columns. Values are rendered typed:
text as text, `is_active` as a boolean. Each file format then writes them its
way (see doctors.sheets): "true"/"false" and formula-safe text in CSV, boolean
and text cells in a workbook, true/false in JSON.

Files are read back by the importer (doctors.importing: its values module
parses yes/no/1/0, a specialty by name or code, the departments cell
`CARD:head|NEUR`), which checks every row and writes in bulk, far faster than
a Resource's row-by-row import; the Resources here only declare and render.
"""

from import_export import fields, resources, widgets

from .importing.values import format_departments
from .models import Department, Doctor, Membership


class TextWidget(widgets.CharWidget):
    """Text; never None."""

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class FlagWidget(widgets.BooleanWidget):
    """A boolean, rendered typed (each file format writes it its way)."""

    def __init__(self):
        super().__init__(coerce_to_string=False)

    def render(self, value, obj=None, **kwargs):
        return bool(value)


class DepartmentsWidget(widgets.Widget):
    """A doctor's memberships in one cell: codes separated by "|", the primary
    first, ":head" after a department the doctor heads, a leading "|" when none
    is primary (see doctors.importing.values, which reads it back).

    Renders (entries, has_primary), entries being (code, is_head) pairs with
    the primary first.
    """

    def render(self, value, obj=None, **kwargs):
        if not value:
            return ""
        entries, has_primary = value
        return format_departments(list(entries), has_primary=has_primary)


def memberships_of(doctor: Doctor) -> tuple[list[tuple[str, bool]], bool]:
    """(entries, has_primary) of one doctor's current memberships (the
    periods covering today), as DepartmentsWidget renders them."""
    rows = sorted(
        (not membership.is_primary, membership.department.code, membership.role)
        for membership in Membership.objects.current()
        .filter(doctor=doctor)
        .select_related("department")
    )
    return department_entries(rows)


def department_entries(rows) -> tuple[list[tuple[str, bool]], bool]:
    """Sorted (not primary, code, role) triples -> (entries, has_primary)."""
    entries = [(code, role == Membership.Role.HEAD) for _, code, role in rows]
    return entries, any(not other for other, _, _ in rows)


class Column(fields.Field):
    """One column of a file: named as the attribute it holds, with a sentence
    for staff saying what goes in it (the upload and export pages show it)."""

    def __init__(self, name: str, widget=None, *, help: str):
        super().__init__(
            attribute=name, column_name=name, widget=widget or TextWidget()
        )
        self.help = help


FLAG_HELP = "true or false (also yes/no, 1/0; empty means true)."


class DoctorResource(resources.Resource):
    """The doctor columns, in their order."""

    license_number = Column(
        "license_number",
        help="The doctor's license number: identifies the row. "
        "Letters, digits, '-', '/', '.' or '_'.",
    )
    first_name = Column("first_name", help="Required.")
    last_name = Column("last_name", help="Required.")
    email = Column("email", help="Required; one doctor per email (any case).")
    phone = Column("phone", help="Optional.")
    specialty = Column(
        "specialty",
        help="A name such as Cardiology or its code such as cardiology.",
    )
    departments = Column(
        "departments",
        DepartmentsWidget(),
        help="Department codes separated by |, the primary department "
        "first; CARD:head makes the doctor head of CARD; a leading | "
        "(|CARD|NEUR) means none is primary. These are the doctor's current "
        "memberships: a department left out ends its membership yesterday, a "
        "new one starts today, a head or primary mark that changes does so "
        "from today.",
    )
    is_active = Column("is_active", FlagWidget(), help=FLAG_HELP)

    class Meta:
        model = Doctor

    def dehydrate_departments(self, doctor: Doctor) -> str:
        # import-export's own export (Resource.export) takes this value as is.
        return self.fields["departments"].widget.render(memberships_of(doctor))


class DepartmentResource(resources.Resource):
    """The department columns, in their order."""

    code = Column(
        "code",
        help="The department's code: identifies the row. Capital letters, "
        "digits, '-' or '_'.",
    )
    name = Column("name", help="Required; one department per name.")
    description = Column("description", help="Optional.")
    is_active = Column("is_active", FlagWidget(), help=FLAG_HELP)

    class Meta:
        model = Department


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
for _resource in RESOURCES.values():
    # Column name -> what goes in it, for the upload and export pages.
    _resource.COLUMN_HELP = {
        name: field.help for name, field in export_fields(_resource).items()
    }
