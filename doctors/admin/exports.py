"""Export from the Doctor and Department changelists, as django-import-export's
admin offers it: a page to choose the file format and the columns, for the
list's current filters and search, or for the rows picked with the
"Export selected" action.

The page posts back to the export URL, which keeps the changelist's query
string; the picked rows travel as one comma-separated field (so selecting
thousands of rows stays within DATA_UPLOAD_MAX_NUMBER_FIELDS). Spreadsheets
are built in a temporary file and then streamed; text formats stream as they
are produced.
"""

import tempfile

from django import forms
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import FileResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from .. import activity, exporting, sheets
from ..resources import RESOURCES, export_fields

# Parameters of the export page that are not changelist filters.
EXPORT_PARAMS = ("file_format", "columns", "ids", "action", "select_across")


class FormatForm(forms.Form):
    """The file format alone (the memberships export has no other choice)."""

    file_format = forms.ChoiceField(
        label="Format", choices=sheets.EXPORT_CHOICES, initial="xlsx"
    )


class ExportForm(FormatForm):
    columns = forms.MultipleChoiceField(
        label="Columns",
        widget=forms.CheckboxSelectMultiple,
        help_text="A file with every column imports back; one with fewer does not.",
    )
    ids = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, model_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        resource = RESOURCES[model_name]
        names = list(export_fields(resource))
        model = resource._meta.model
        self.fields["columns"].choices = [
            (name, activity.field_label(model, name)) for name in names
        ]
        self.fields["columns"].initial = names
        self.column_help = resource.COLUMN_HELP

    def clean_ids(self):
        text = self.cleaned_data["ids"].strip()
        if not text:
            return None
        try:
            return [int(part) for part in text.split(",")]
        except ValueError:
            raise forms.ValidationError("The picked rows are not valid.") from None


def export_page(modeladmin, request, form: ExportForm, *, count: int, picked: bool):
    query = request.GET.copy()
    for name in EXPORT_PARAMS:
        query.pop(name, None)
    action = modeladmin._url("export") + (f"?{query.urlencode()}" if query else "")
    return TemplateResponse(
        request,
        "admin/doctors/export_form.html",
        modeladmin._context(
            request,
            f"Export {modeladmin.opts.verbose_name_plural}",
            form=form,
            action_url=action,
            count=count,
            picked=picked,
        ),
    )


def export_selected(modeladmin, request, queryset):
    """The admin action: the export page for the picked rows."""
    select_across = request.POST.get("select_across") == "1"
    ids = (
        ""
        if select_across
        else ",".join(str(pk) for pk in request.POST.getlist(ACTION_CHECKBOX_NAME))
    )
    form = ExportForm(model_name=modeladmin.opts.model_name, initial={"ids": ids})
    return export_page(
        modeladmin, request, form, count=queryset.count(), picked=bool(ids)
    )


def download(modeladmin, queryset, file_format: str, columns: list[str]):
    """The rows of `queryset` as a file download in `file_format`."""
    model = modeladmin.model
    rows = (
        exporting.doctor_rows(queryset, columns)
        if model._meta.model_name == "doctor"
        else exporting.department_rows(queryset, columns)
    )
    return file_response(file_format, rows, model=model)


def file_response(file_format: str, rows, *, model):
    """`rows` (header first) as a download named after `model`
    (memberships-20250301-0930.xlsx): written to a temporary file first for
    spreadsheets, streamed for text formats."""
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    file_name = f"{model._meta.model_name}s-{stamp}.{sheets.extension(file_format)}"
    if file_format in sheets.BINARY:
        spool = tempfile.TemporaryFile()
        exporting.write(file_format, rows, spool, model=model)
        spool.seek(0)
        return FileResponse(
            spool,
            as_attachment=True,
            filename=file_name,
            content_type=sheets.content_type(file_format),
        )
    response = StreamingHttpResponse(
        sheets.text_chunks(file_format, rows),
        content_type=sheets.content_type(file_format),
    )
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return response
