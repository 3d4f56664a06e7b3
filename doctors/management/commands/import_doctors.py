from doctors.importing.runner import DOCTORS
from doctors.management.importing import ImportCommand


class Command(ImportCommand):
    help = (
        "Import doctors from a CSV file (license_number,first_name,last_name,email,"
        "phone,specialty,departments,is_active). Rows are matched by license "
        "number; if any row has a problem nothing is written."
    )
    kind = DOCTORS
