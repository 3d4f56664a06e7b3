from doctors.importing.memberships.exporting import membership_rows
from doctors.importing.memberships.values import MEMBERSHIP_COLUMNS
from doctors.management.exporting import ExportCommand
from doctors.models import Membership


class Command(ExportCommand):
    help = (
        "Export every membership period (ended ones too) with the columns "
        f"{','.join(MEMBERSHIP_COLUMNS)}, in a format import_memberships reads: "
        "CSV (the default), TSV, JSON, Excel (.xlsx) or OpenDocument (.ods); the "
        "format comes from --format or the --output file's name. To standard "
        "output (text formats only), or to --output FILE."
    )
    model = Membership
    noun = "periods"

    def handle(self, *args, output, file_format, **options):
        self.export(membership_rows(), output=output, file_format=file_format)
