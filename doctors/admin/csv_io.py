"""Import and export pages of the Doctor and Department changelists (CSV, TSV,
JSON, Excel .xlsx and OpenDocument .ods; see doctors.importing.sources and
doctors.admin.exports).

Built on the project's own importer rather than django-import-export's admin
views: those save row by row (seconds per thousand rows), fire real signals
during the dry run, drop unknown department codes silently and let staff
without a permission on the model import. Here:

- import: upload -> preview (a dry run: counts, every problem with row and
  column, per-row changes; nothing written, no signal, no task) -> confirm,
  which imports exactly the previewed bytes (kept on the ImportRun). Above
  settings.IMPORT_BACKGROUND_ROWS rows both the preview and the import run in
  the task worker while the run's page shows the progress;
- export: a page to choose the format and columns, for the changelist's
  current filters and search or the rows of the "Export selected" action;
- each needs its own permission (doctors.import_doctor, doctors.export_doctor,
  ...); without it the pages answer 403.
"""

import datetime
import io

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import (
    HttpResponseBadRequest,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.views.decorators.http import require_POST

from ..importing import progress as import_progress
from ..importing.parsing import ENCODING_CHOICES, ImportFileError, check_size
from ..importing.runner import run_import
from ..importing.sources import FORMAT_CHOICES, estimate_rows
from ..importing.tasks import run_queued_import
from ..importing.validation import Problem
from ..models import ActivityEvent, ImportRun
from ..resources import RESOURCES
from .exports import EXPORT_PARAMS, ExportForm, download, export_page, export_selected
from .readonly import ReadOnlyAdminMixin

FINISHED = {
    ImportRun.Status.PREVIEWED,
    ImportRun.Status.SUCCEEDED,
    ImportRun.Status.FAILED,
}


class ImportForm(forms.Form):
    file = forms.FileField(
        label="File",
        help_text="A CSV, TSV, JSON, Excel (.xlsx) or OpenDocument (.ods) file, "
        "with the columns an export writes.",
    )
    file_format = forms.ChoiceField(
        label="Format",
        choices=FORMAT_CHOICES,
        required=False,
        help_text="Leave on automatic: the format is seen from the file.",
    )
    encoding = forms.ChoiceField(
        choices=ENCODING_CHOICES,
        required=False,
        help_text="Leave on automatic unless accented letters come out wrong.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        try:
            check_size(upload.size, settings.IMPORT_MAX_UPLOAD_BYTES)
        except ImportFileError as error:
            raise forms.ValidationError(error.message) from None
        return upload


class CsvImportExportMixin:
    """Adds Import and Export to a ModelAdmin's changelist."""

    change_list_template = "admin/doctors/csv_change_list.html"
    csv_kind = None  # runner.DOCTORS or runner.DEPARTMENTS

    # Permissions -------------------------------------------------------------

    def has_import_permission(self, request) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.import_{opts.model_name}")

    def has_export_permission(self, request) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.export_{opts.model_name}")

    # URLs ----------------------------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path(
                "import/",
                wrap(self.import_view),
                name="{}_{}_import".format(*info),
            ),
            path(
                "import/<int:run_id>/",
                wrap(self.import_run_view),
                name="{}_{}_import_run".format(*info),
            ),
            path(
                "import/<int:run_id>/confirm/",
                wrap(require_POST(self.import_confirm_view)),
                name="{}_{}_import_confirm".format(*info),
            ),
            path(
                "import/<int:run_id>/progress/",
                wrap(self.import_progress_view),
                name="{}_{}_import_progress".format(*info),
            ),
            path(
                "export/",
                wrap(self.export_view),
                name="{}_{}_export".format(*info),
            ),
            *super().get_urls(),
        ]

    def _url(self, name: str, *args) -> str:
        opts = self.opts
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_{name}",
            args=args,
            current_app=self.admin_site.name,
        )

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            "has_import_permission": self.has_import_permission(request),
            "has_export_permission": self.has_export_permission(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    # Import --------------------------------------------------------------------

    def _context(self, request, title: str, **extra):
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "changelist_url": self._url("changelist"),
            "import_url": self._url("import"),
            **extra,
        }

    def import_view(self, request):
        """GET: the upload form. POST: store the upload and preview it (a dry
        run): here for small files, in the worker for large ones."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            content = upload.read()
            # An upper bound on the rows, good enough to decide where the work runs.
            file_format = form.cleaned_data["file_format"]
            large = (
                estimate_rows(content, upload.name or "", file_format)
                > settings.IMPORT_BACKGROUND_ROWS
            )
            run = ImportRun.objects.create(
                kind=self.csv_kind.name,
                status=ImportRun.Status.QUEUED if large else ImportRun.Status.RUNNING,
                user=request.user,
                source=ActivityEvent.Source.ADMIN,
                file_name=(upload.name or "upload.csv")[:255],
                encoding=form.cleaned_data["encoding"],
                file_format=file_format,
                dry_run=True,
                content=content,
            )
            _forget_stale_previews()
            if large:
                run_queued_import.enqueue(run.pk)
            else:
                run_import(
                    self.csv_kind,
                    io.BytesIO(run.content),
                    file_name=run.file_name,
                    user=request.user,
                    dry_run=True,
                    encoding=run.encoding or None,
                    file_format=run.file_format or None,
                    run=run,
                    source=ActivityEvent.Source.ADMIN,
                )
            return HttpResponseRedirect(self._url("import_run", run.pk))
        return TemplateResponse(
            request,
            "admin/doctors/import_form.html",
            self._context(
                request,
                f"Import {self.opts.verbose_name_plural}",
                form=form,
                columns=", ".join(self.csv_kind.columns),
                column_help=RESOURCES[self.opts.model_name].COLUMN_HELP,
                max_megabytes=settings.IMPORT_MAX_UPLOAD_BYTES // 1_048_576,
            ),
        )

    def _run_for(self, request, run_id: int) -> ImportRun:
        if not self.has_import_permission(request):
            raise PermissionDenied
        return get_object_or_404(ImportRun, pk=run_id, kind=self.csv_kind.name)

    def import_confirm_view(self, request, run_id: int):
        """Import the previewed file: here, or in the worker when it is large."""
        run = self._run_for(request, run_id)
        if run.user_id != request.user.pk:
            raise PermissionDenied
        if run.status != ImportRun.Status.PREVIEWED or not run.content:
            messages.error(
                request,
                f"{run.file_name} was already imported or its preview expired; "
                "upload the file again.",
            )
            return HttpResponseRedirect(self._url("import"))
        if run.error_count:
            messages.error(
                request,
                f"{run.file_name} has problems; correct them and upload it again.",
            )
            return HttpResponseRedirect(self._url("import_run", run.pk))
        if run.total_rows > settings.IMPORT_BACKGROUND_ROWS:
            run.status = ImportRun.Status.QUEUED
            run.dry_run = False
            run.save(update_fields=["status", "dry_run"])
            run_queued_import.enqueue(run.pk)
            return HttpResponseRedirect(self._url("import_run", run.pk))
        result = run_import(
            self.csv_kind,
            io.BytesIO(run.content),
            file_name=run.file_name,
            user=request.user,
            encoding=run.encoding or None,
            file_format=run.file_format or None,
            run=run,
            source=ActivityEvent.Source.ADMIN,
        )
        if result.ok:
            self.message_user(request, result.summary(), messages.SUCCESS)
            return HttpResponseRedirect(self._url("changelist"))
        self.message_user(request, result.summary(), messages.ERROR)
        return HttpResponseRedirect(self._url("import_run", run.pk))

    def import_run_view(self, request, run_id: int):
        """A run's page: progress while the worker has it, then the preview
        (with Confirm) or the import's summary, with every problem found."""
        run = self._run_for(request, run_id)
        context = self._context(
            request,
            f"{'Preview' if run.dry_run else 'Import'} of {run.file_name}",
            run=run,
            finished=run.status in FINISHED,
            problems=[
                {"row": row, "column": column, "message": message}
                for row, column, message in run.errors
            ],
            hidden_problems=max(run.error_count - len(run.errors), 0),
        )
        if run.status == ImportRun.Status.PREVIEWED:
            context.update(
                title=f"Preview: import {self.opts.verbose_name_plural}",
                changes=[
                    {"row": row, "key": key, "action": action, "changes": changes}
                    for row, key, action, changes in run.preview
                ],
                can_confirm=bool(
                    run.user_id == request.user.pk
                    and run.content
                    and not run.error_count
                    and (run.created or run.updated)
                ),
                in_background=run.total_rows > settings.IMPORT_BACKGROUND_ROWS,
                confirm_url=self._url("import_confirm", run.pk),
                form=ImportForm(),
            )
            return TemplateResponse(
                request, "admin/doctors/import_preview.html", context
            )
        context.update(
            progress=import_progress.read(run.pk),
            progress_url=self._url("import_progress", run.pk),
        )
        return TemplateResponse(request, "admin/doctors/import_run.html", context)

    def import_progress_view(self, request, run_id: int):
        """The run's progress as JSON, for the page's script to poll."""
        run = self._run_for(request, run_id)
        progress = import_progress.read(run.pk) or {}
        return JsonResponse(
            {
                "status": run.status,
                "status_text": run.get_status_display(),
                "finished": run.status in FINISHED,
                "phase": progress.get("phase", ""),
                "done": progress.get("done", 0),
                "total": progress.get("total") or run.total_rows,
            }
        )

    # Export --------------------------------------------------------------------

    @admin.action(
        permissions=["export"], description="Export selected %(verbose_name_plural)s"
    )
    def export_selected(self, request, queryset):
        """The export page (format, columns) for the picked rows."""
        return export_selected(self, request, queryset)

    def export_view(self, request):
        """GET: the page to choose format and columns for the changelist's rows
        (its filters and search); with ?file_format=... the file straight away.
        POST (from that page): the file."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else None
        if data is None and "file_format" in request.GET:
            data = request.GET.copy()
            if "columns" not in data:
                data.setlist("columns", list(self.csv_kind.columns))
            elif len(data.getlist("columns")) == 1:
                data.setlist("columns", data["columns"].split(","))
        query = request.GET.copy()
        for name in EXPORT_PARAMS:
            query.pop(name, None)
        request.GET = query
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters as error:
            return HttpResponseBadRequest(f"These list filters are not valid: {error}")
        queryset = changelist.get_queryset(request)
        form = ExportForm(data, model_name=self.opts.model_name)
        if data is not None and form.is_valid():
            ids = form.cleaned_data["ids"]
            if ids is not None:
                queryset = queryset.filter(pk__in=ids)
            return download(
                self,
                queryset,
                form.cleaned_data["file_format"],
                form.cleaned_data["columns"],
            )
        return export_page(self, request, form, count=queryset.count(), picked=False)


def _forget_stale_previews() -> None:
    """Drop the stored bytes of previews nobody confirmed within a day."""
    ImportRun.objects.filter(
        status=ImportRun.Status.PREVIEWED,
        started_at__lt=timezone.now() - datetime.timedelta(days=1),
    ).exclude(content=b"").update(content=b"")


@admin.register(ImportRun)
class ImportRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The import log: read-only, for whoever may import doctors or departments."""

    list_display = [
        "started_at",
        "kind",
        "file_name",
        "user",
        "source",
        "status",
        "total_rows",
        "created",
        "updated",
        "unchanged",
        "error_count",
        "duration",
    ]
    list_filter = ["kind", "status", "source", "started_at"]
    search_fields = ["file_name", "user__username"]
    date_hierarchy = "started_at"
    list_select_related = ["user"]
    fields = [
        "kind",
        "file_name",
        "user",
        "source",
        "status",
        "dry_run",
        "file_format",
        "encoding",
        "started_at",
        "finished_at",
        "duration",
        "total_rows",
        "created",
        "updated",
        "unchanged",
        "counts",
        "error_count",
        "problem_list",
    ]
    readonly_fields = fields

    @admin.display(description="problems")
    def problem_list(self, run):
        if not run.errors:
            return "—"
        lines = [
            str(Problem(row, column, message)) for row, column, message in run.errors
        ]
        if run.error_count > len(lines):
            lines.append(f"… and {run.error_count - len(lines)} more")
        return format_html_join("\n", "<div>{}</div>", ((line,) for line in lines))

    def has_view_permission(self, request, obj=None):
        user = request.user
        return (
            user.has_perm("doctors.view_importrun")
            or user.has_perm("doctors.import_doctor")
            or user.has_perm("doctors.import_department")
        )
