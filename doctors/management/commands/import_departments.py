from doctors.importing.runner import import_departments
from doctors.management.importing import ImportCommand


class Command(ImportCommand):
    help = (
        "Import departments from a CSV file (code,name,description,is_active). "
        "Rows are matched by code; if any row has a problem nothing is written."
    )
    importer = staticmethod(import_departments)
