"""Import and export of membership periods, on the membership list.

The import is the doctors import's pages (csv_io.CsvImportExportMixin: upload,
preview, confirm, the run's page, undo) for a memberships file; only what the
upload page says differs. The export writes every period, ended ones too, in
the columns the import reads, whatever the list's filters: a file to correct
and import back, not a view of the page.
"""

import tempfile

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from .. import sheets
from ..importing.memberships import exporting
from ..importing.memberships.values import COLUMN_HELP
from ..runs import access
from ..runs.imports import MEMBERSHIPS
from .csv_io import CsvImportExportMixin, ImportForm

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


class MembershipExportForm(forms.Form):
    file_format = forms.ChoiceField(
        label="Format", choices=sheets.EXPORT_CHOICES, initial="xlsx"
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
        form = MembershipExportForm(data)
        if data is not None and form.is_valid():
            return _download(form.cleaned_data["file_format"])
        return TemplateResponse(
            request,
            "admin/doctors/membership_export_form.html",
            self._context(request, "Export membership periods", form=form),
        )


def _download(file_format: str):
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    file_name = f"memberships-{stamp}.{sheets.extension(file_format)}"
    if file_format in sheets.BINARY:
        spool = tempfile.TemporaryFile()
        exporting.write(file_format, spool)
        spool.seek(0)
        return FileResponse(
            spool,
            as_attachment=True,
            filename=file_name,
            content_type=sheets.content_type(file_format),
        )
    response = StreamingHttpResponse(
        sheets.text_chunks(file_format, exporting.membership_rows()),
        content_type=sheets.content_type(file_format),
    )
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return response
