from doctors.management.importing import ImportCommand
from doctors.resources import DOCTOR_COLUMNS
from doctors.runs.imports import DOCTORS


class Command(ImportCommand):
    help = (
        "Import doctors from a CSV, TSV, JSON, Excel (.xlsx) or OpenDocument (.ods) "
        f"file with the columns {','.join(DOCTOR_COLUMNS)}. Rows are matched by "
        "license number; if any row has a problem nothing is written."
    )
    kind = DOCTORS
