from doctors.importing.memberships.values import MEMBERSHIP_COLUMNS
from doctors.management.importing import ImportCommand
from doctors.runs.imports import MEMBERSHIPS


class Command(ImportCommand):
    help = (
        "Import membership periods from a CSV, TSV, JSON, Excel (.xlsx) or "
        "OpenDocument (.ods) file with the columns "
        f"{','.join(MEMBERSHIP_COLUMNS)}. A row is matched to a stored period by "
        "license number, department and first day (joined_on) and corrects it, "
        "or else starts a new period; periods the file does not name are kept. "
        "A period's first day is corrected in the admin. If any row has a "
        "problem, or the periods after the file would break a rule (overlapping "
        "periods, two heads or two primary departments on a day), nothing is "
        "written."
    )
    kind = MEMBERSHIPS
