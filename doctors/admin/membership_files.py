"""Import and export of membership periods, on the membership list.

The import is the doctors import's pages (csv_io.CsvImportExportMixin: upload,
preview, confirm, the run's page, undo) for a memberships file; only what the
upload page says differs. The export writes every period, ended ones too, in
the columns the import reads, whatever the list's filters: a file to correct
and import back, not a view of the page.
"""

from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from ..importing.memberships import exporting
from ..importing.memberships.values import COLUMN_HELP
from ..models import Membership
from ..runs import access
from ..runs.imports import MEMBERSHIPS
from .csv_io import CsvImportExportMixin, ImportForm
from .exports import FormatForm, file_response

START_DATES = (
    "A row corrects the stored period with the same doctor, department and "
    "first day, or else starts a new period; periods the file does not name are "
    "kept. To correct a period's first day, edit the period in the admin."
)


class MembershipImportForm(ImportForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = (
            "A CSV, TSV, JSON, Excel (.xlsx) or OpenDocument (.ods) file with the "
            "columns an export of memberships writes. A period's first day is "
            "corrected in the admin, not by a file."
        )


class MembershipFilesMixin(CsvImportExportMixin):
    """Import and Export on the membership list (its own template keeps its
    links: admin/doctors/membership_change_list.html)."""

    csv_kind = MEMBERSHIPS
    import_form_class = MembershipImportForm

    def has_import_permission(self, request) -> bool:
        return access.may_import_memberships(request.user)

    def has_export_permission(self, request) -> bool:
        return request.user.has_perms(
            ("doctors.export_doctor", "doctors.view_membership")
        )

    def import_page_context(self) -> dict:
        return {
            "column_help": COLUMN_HELP,
            "matched_by": "license number, department and first day (joined_on)",
            "import_note": START_DATES,
        }

    def export_view(self, request):
        """GET: the page to choose the format; with ?file_format=... (or the
        page's POST) the file of every period."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else None
        if data is None and "file_format" in request.GET:
            data = request.GET
        form = FormatForm(data)
        if data is not None and form.is_valid():
            return file_response(
                form.cleaned_data["file_format"],
                exporting.membership_rows(),
                model=Membership,
            )
        return TemplateResponse(
            request,
            "admin/doctors/membership_export_form.html",
            self._context(request, "Export membership periods", form=form),
        )
