from doctors.management.importing import ImportCommand
from doctors.resources import DEPARTMENT_COLUMNS
from doctors.runs.imports import DEPARTMENTS


class Command(ImportCommand):
    help = (
        "Import departments from a CSV, TSV, JSON, Excel (.xlsx) or OpenDocument "
        f"(.ods) file with the columns {','.join(DEPARTMENT_COLUMNS)}. Rows are "
        "matched by code; if any row has a problem nothing is written."
    )
    kind = DEPARTMENTS
