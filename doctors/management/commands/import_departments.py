from doctors.importing.runner import DEPARTMENTS
from doctors.management.importing import ImportCommand


class Command(ImportCommand):
    help = (
        "Import departments from a CSV file (code,name,description,is_active). "
        "Rows are matched by code; if any row has a problem nothing is written."
    )
    kind = DEPARTMENTS
