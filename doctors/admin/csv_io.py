"""Import and export pages of the Doctor and Department changelists (CSV, TSV,
JSON, Excel .xlsx and OpenDocument .ods; see doctors.importing.readers and
doctors.admin.exports).

Built on the project's own importer rather than django-import-export's admin
views: those save row by row (seconds per thousand rows), fire real signals
during the dry run, drop unknown department codes silently and let staff
without a permission on the model import. Here:

- import: upload -> preview (a dry run: counts, the first problems with row
  and column, the first per-row changes, a page at a time; nothing written, no
  signal, no task) -> confirm, which imports exactly the previewed bytes (kept
  on the ImportRun) and only if no row they touch changed since the preview.
  Above settings.IMPORT_BACKGROUND_ROWS rows both the preview and the import
  run in the task worker while the run's page shows the progress. The run's
  life is doctors.runs.imports'; these views only call it. Who sees which
  runs, and who may import or confirm, is doctors.runs.access';
- export: a page to choose the format and columns, for the changelist's
  current filters and search or the rows of the "Export selected" action;
- each needs its own permission (doctors.import_doctor, doctors.export_doctor,
  ...), and import also the model's change permission; without them the pages
  answer 403.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.http import (
    HttpResponseBadRequest,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats
from django.utils.html import format_html
from django.utils.text import Truncator
from django.views.decorators.http import require_POST

from ..activity import field_label, value_label
from ..models import Department, Doctor, ImportRun, Membership
from ..resources import RESOURCES
from ..runs import access
from ..runs import imports as service
from ..runs.imports import ENCODING_CHOICES, FORMAT_CHOICES, ImportFileError, check_size
from .exports import EXPORT_PARAMS, ExportForm, download, export_page, export_selected
from .readonly import ReadOnlyAdminMixin
from .undo import ImportRunUndoMixin

# Rows of a run's changes or problems shown on one page.
PAGE_SIZE = 50


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
    csv_kind = None  # doctors.runs.imports.DOCTORS, DEPARTMENTS or MEMBERSHIPS
    import_form_class = ImportForm

    # Permissions -------------------------------------------------------------

    def has_import_permission(self, request) -> bool:
        """See doctors.runs.access."""
        return access.may_import(request.user, self.model)

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
                "import/<int:run_id>/preview-again/",
                wrap(require_POST(self.import_preview_again_view)),
                name="{}_{}_import_preview_again".format(*info),
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
        form = self.import_form_class(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            run = service.start_preview(
                self.csv_kind,
                content=upload.read(),
                file_name=upload.name,
                encoding=form.cleaned_data["encoding"],
                file_format=form.cleaned_data["file_format"],
                user=request.user,
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
                max_megabytes=settings.IMPORT_MAX_UPLOAD_BYTES // 1_048_576,
                **self.import_page_context(),
            ),
        )

    def import_page_context(self) -> dict:
        """What the upload page says of the file: each column's help, and what
        a row is matched by."""
        return {
            "column_help": RESOURCES[self.opts.model_name].COLUMN_HELP,
            "matched_by": "license number"
            if self.opts.model_name == "doctor"
            else "code",
        }

    def _run_for(self, request, run_id: int) -> ImportRun:
        """The run, if this user may see it (doctors.runs.access); its stored
        bytes are read only when needed."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        runs = (
            access.visible_runs(request.user)
            .defer("content", "seen")
            .annotate(
                has_content=ExpressionWrapper(
                    ~Q(content=b""), output_field=BooleanField()
                )
            )
        )
        return get_object_or_404(runs, pk=run_id, kind=self.csv_kind.name)

    def import_confirm_view(self, request, run_id: int):
        """Import the previewed file: here, or in the worker when it is large."""
        run = self._run_for(request, run_id)
        outcome = service.confirm(
            run, request.user, reason=request.POST.get("change_reason", "")
        )
        if outcome.refusal:
            messages.error(request, outcome.refusal)
            return HttpResponseRedirect(self._url("import_run", run.pk))
        if outcome.queued:
            return HttpResponseRedirect(self._url("import_run", run.pk))
        result = outcome.result
        if result.ok:
            run_url = _run_url(self, run)
            self.message_user(
                request,
                format_html(
                    '{} <a href="{}">See what it changed, or undo it</a>.',
                    result.summary(),
                    run_url,
                ),
                messages.SUCCESS,
            )
            return HttpResponseRedirect(run_url)
        if result.stale_rows:
            self.message_user(
                request,
                f"Nothing was imported: {result.stale_rows} row(s) of "
                f"{run.file_name} changed in the database since the preview. "
                "Preview the file again to see what the import would do now.",
                messages.ERROR,
            )
        else:
            self.message_user(request, result.summary(), messages.ERROR)
        return HttpResponseRedirect(self._url("import_run", run.pk))

    def import_preview_again_view(self, request, run_id: int):
        """A new preview of a file whose confirm found rows changed meanwhile."""
        run = self._run_for(request, run_id)
        again = service.preview_again(run, request.user)
        if again is None:
            messages.error(
                request,
                f"The stored copy of {run.file_name} is gone; upload the file again.",
            )
            return HttpResponseRedirect(self._url("import"))
        return HttpResponseRedirect(self._url("import_run", again.pk))

    def import_run_view(self, request, run_id: int):
        """A run's page: progress while the worker has it, then the preview
        (with Confirm) or the import's summary, with the problems found; both
        lists are the first ones stored, a page at a time."""
        run = self._run_for(request, run_id)
        problems = _page(request, "problems", run.errors)
        context = self._context(
            request,
            f"{'Preview' if run.dry_run else 'Import'} of {run.file_name}",
            run=run,
            finished=run.status in service.FINISHED,
            problems=[
                {"row": row, "column": column, "message": message}
                for row, column, message in problems
            ],
            problem_page=problems,
            hidden_problems=max(run.error_count - len(run.errors), 0),
            can_preview_again=bool(
                run.status == ImportRun.Status.FAILED
                and run.counts.get("changed_since_preview")
                and run.has_content
                and access.may_confirm(request.user, run)
            ),
            preview_again_url=self._url("import_preview_again", run.pk),
        )
        if run.status == ImportRun.Status.PREVIEWED:
            changes = _page(request, "changes", run.preview)
            context.update(
                title=f"Preview: import {self.opts.verbose_name_plural}",
                changes=[
                    {
                        "row": row,
                        "key": key,
                        "action": action,
                        "changes": {
                            field_label(self.model, name): _values_text(
                                self.model, name, values
                            )
                            for name, values in fields.items()
                        },
                    }
                    for row, key, action, fields in changes
                ],
                change_page=changes,
                stored_changes=len(run.preview),
                key_label=KEY_LABELS[run.kind],
                can_confirm=bool(
                    access.may_confirm(request.user, run)
                    and run.has_content
                    and not run.error_count
                    and (run.created or run.updated)
                ),
                in_background=service.runs_in_background(run.total_rows),
                confirm_url=self._url("import_confirm", run.pk),
                form=self.import_form_class(),
            )
            return TemplateResponse(
                request, "admin/doctors/import_preview.html", context
            )
        if context["finished"] and not context["can_preview_again"]:
            # A finished import has one page: the import log's.
            return HttpResponseRedirect(_run_url(self, run))
        context.update(
            progress=service.progress_of(run),
            progress_url=self._url("import_progress", run.pk),
            undo_url=(
                reverse("admin:doctors_importrun_undo", args=[run.pk])
                if run.change_set_id and access.may_undo(request.user, run)
                else ""
            ),
        )
        return TemplateResponse(request, "admin/doctors/import_run.html", context)

    def import_progress_view(self, request, run_id: int):
        """The run's progress as JSON, for the page's script to poll."""
        return JsonResponse(service.progress_of(self._run_for(request, run_id)))

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
            # The error quotes the query string: escape it like any page would.
            return HttpResponseBadRequest(
                format_html("<p>These list filters are not valid: {}</p>", error)
            )
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


def _run_url(model_admin, run: ImportRun) -> str:
    """The one page of a run: the import log's."""
    return reverse(
        "admin:doctors_importrun_change",
        args=[run.pk],
        current_app=model_admin.admin_site.name,
    )


def _page(request, name: str, items: list):
    """One page of a stored list (at most PAGE_SIZE items), from ?<name>=N."""
    return Paginator(items, PAGE_SIZE).get_page(request.GET.get(name))


ACTION_WORDS = {"new": "added", "updated": "changed"}
# What a run's rows are, and the column that names each row on its page.
RUN_MODELS = {
    ImportRun.Kind.DOCTORS: Doctor,
    ImportRun.Kind.DEPARTMENTS: Department,
    ImportRun.Kind.MEMBERSHIPS: Membership,
}
KEY_LABELS = {
    ImportRun.Kind.DOCTORS: field_label(Doctor, "license_number"),
    ImportRun.Kind.DEPARTMENTS: field_label(Department, "code"),
    ImportRun.Kind.MEMBERSHIPS: "Period",
}


def _values_text(model, name: str, values: list) -> tuple[str | None, str]:
    """A stored (old, new) pair of a preview as staff read it: choice labels,
    yes/no; no old value for a new row."""
    old, new = values
    return (None if old is None else value_label(model, name, old)), value_label(
        model, name, new
    )


def run_page_context(request, run: ImportRun) -> dict:
    """The rows a run changed (or would) and its problems, a page each."""
    model = RUN_MODELS[run.kind]
    problems = _page(request, "problems", run.errors)
    changes = _page(request, "changes", run.preview)
    return {
        "run": run,
        "problems": [
            {"row": row, "column": column, "message": message}
            for row, column, message in problems
        ],
        "problem_page": problems,
        "hidden_problems": max(run.error_count - len(run.errors), 0),
        "changes": [
            {
                "row": row,
                "key": key,
                "action": ACTION_WORDS.get(action, action),
                "changes": [
                    (field_label(model, name), _values_text(model, name, values))
                    for name, values in fields.items()
                ],
            }
            for row, key, action, fields in changes
        ],
        "change_page": changes,
        "stored_changes": len(run.preview),
        "key_label": KEY_LABELS[run.kind],
    }


@admin.register(ImportRun)
class ImportRunAdmin(ImportRunUndoMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The import log: read-only, for whoever may import doctors or departments."""

    # What a person scans the log for; the counts, the source and the duration
    # are on each run's page, the file name cut here (whole there).
    list_display = [
        "started_at",
        "kind",
        "file_column",
        "user",
        "status",
        "total_rows",
        "error_count",
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
        "file_format",
        "encoding",
        "started_at",
        "finished_at",
        "duration",
        "total_rows",
        "outcome",
        "reason",
        "problem_count",
    ]
    readonly_fields = fields
    # The rows it changed and the problems found, a page at a time, follow
    # the fields (ImportRunUndoMixin's doctors/importrun/change_form.html).

    @admin.display(description="problems")
    def problem_count(self, run):
        return formats.number_format(run.error_count, force_grouping=True)

    @admin.display(description="what it did")
    def outcome(self, run):
        if run.status not in service.FINISHED or (
            run.status == ImportRun.Status.FAILED and not run.created
        ):
            return "—" if run.status in service.FINISHED else "Not finished yet"
        return service.counts_text(run)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The one page of an import run: its fields, what it did in words,
        the rows it changed and the problems found (a page at a time), its
        change-set and the undo or redo button."""
        run = (
            self.get_queryset(request).defer(None).filter(pk=object_id).first()
            if str(object_id).isdigit()
            else None
        )
        extra = {**(extra_context or {})}
        if run is not None:
            extra.update(run_page_context(request, run))
        return super().change_view(request, object_id, form_url, extra)

    @admin.display(description="file", ordering="file_name")
    def file_column(self, run):
        return Truncator(run.file_name).chars(40)

    def get_queryset(self, request):
        """The runs this user may see (doctors.runs.access)."""
        # The stored file and the preview are not shown; the problems only on
        # one run's page (loaded there when needed).
        runs = (
            super().get_queryset(request).defer("content", "seen", "preview", "errors")
        )
        if access.sees_every_run(request.user):
            return runs
        return runs.filter(user_id=request.user.pk)

    def has_view_permission(self, request, obj=None):
        """Who may view the import log, or import doctors or departments."""
        user = request.user
        return access.sees_every_run(user) or access.may_import_anything(user)
