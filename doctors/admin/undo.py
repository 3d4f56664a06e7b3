"""Undo (and redo) of an import run, from the run's page.

GET shows the preview: what the undo would change (counts, the first rows
with their fields) and the records changed since by other change-sets, which
refuse the undo unless the user ticks "only the untouched records". POST
undoes: here for small runs, in the task worker with a progress page for
large ones. Who may: doctors.undo_importrun, for one's own runs (superusers:
every run).
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from .. import undo
from ..models import ActivityEvent, ImportRun
from .changesets import change_set_id_link, reason_field

UNDO_ACTIVE_PHASES = {"queued", undo.CHECKING, undo.WRITING}


class UndoForm(forms.Form):
    change_reason = reason_field()
    untouched_only = forms.BooleanField(
        label="Undo only the untouched records",
        required=False,
        help_text="Leave the records changed since as they are now.",
    )


def undo_label(run: ImportRun) -> str:
    return "Redo this import" if undo.is_undone(run) else "Undo this import"


class ImportRunUndoMixin:
    """Adds the undo pages to the import log's admin."""

    change_form_template = "admin/doctors/importrun/change_form.html"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:run_id>/undo/",
                wrap(self.undo_view),
                name="doctors_importrun_undo",
            ),
            path(
                "<int:run_id>/undo/progress/",
                wrap(self.undo_progress_view),
                name="doctors_importrun_undo_progress",
            ),
            *super().get_urls(),
        ]

    def get_fields(self, request, obj=None):
        return [*super().get_fields(request, obj), "change_set_link", "undo_state"]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "change_set_link", "undo_state"]

    @staticmethod
    def change_set_link(run):
        return change_set_id_link(run.change_set_id)

    change_set_link.short_description = "change-set"

    @staticmethod
    def undo_state(run):
        if run.change_set_id is None:
            return "—"
        target, redo = undo.chain_end(run)
        if target.pk == run.change_set_id:
            return "Not undone"
        state = "Undone" if redo else "Redone"
        return format_html("{} by change-set {}", state, change_set_id_link(target.pk))

    undo_state.short_description = "undo"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {**(extra_context or {})}
        run = (
            ImportRun.objects.filter(pk=object_id).first()
            if object_id and str(object_id).isdigit()
            else None
        )
        if run is not None and run.change_set_id and undo.can_undo(request.user, run):
            extra["undo_url"] = reverse(
                "admin:doctors_importrun_undo",
                args=[run.pk],
                current_app=self.admin_site.name,
            )
            extra["undo_label"] = undo_label(run)
        return super().change_view(request, object_id, form_url, extra)

    def _undoable_run(self, request, run_id: int) -> ImportRun:
        run = get_object_or_404(ImportRun, pk=run_id)
        if not undo.can_undo(request.user, run):
            raise PermissionDenied
        return run

    def undo_view(self, request, run_id: int):
        run = self._undoable_run(request, run_id)
        run_url = reverse(
            "admin:doctors_importrun_change",
            args=[run.pk],
            current_app=self.admin_site.name,
        )
        progress = undo.read_progress(run.pk) or {}
        if progress.get("phase") in UNDO_ACTIVE_PHASES:
            return self._progress_page(request, run, progress)
        if progress.get("message"):
            # The outcome of a background undo, once.
            level = messages.SUCCESS if progress["phase"] == "done" else messages.ERROR
            self.message_user(request, progress["message"], level)
            undo.clear_progress(run.pk)
            return HttpResponseRedirect(run_url)
        if run.change_set_id is None:
            self.message_user(
                request, "This run wrote nothing that can be undone.", messages.ERROR
            )
            return HttpResponseRedirect(run_url)
        form = UndoForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["change_reason"]
            untouched_only = form.cleaned_data["untouched_only"]
            if run.total_rows > settings.IMPORT_BACKGROUND_ROWS:
                undo.set_progress(run.pk, phase="queued", done=0, total=None)
                undo.run_queued_undo.enqueue(
                    run.pk, request.user.pk, untouched_only, reason
                )
                return HttpResponseRedirect(request.path)
            result = undo.undo_import(
                run,
                user=request.user,
                source=ActivityEvent.Source.ADMIN,
                untouched_only=untouched_only,
                reason=reason,
            )
            if not result.refused:
                self.message_user(request, result.summary(), messages.SUCCESS)
                return HttpResponseRedirect(run_url)
            self.message_user(request, result.summary(), messages.ERROR)
            preview = result
        else:
            preview = undo.preview_undo(run)
        return TemplateResponse(
            request,
            "admin/doctors/undo_preview.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": f"{'Redo' if preview.redo else 'Undo'} import #{run.pk}",
                "run": run,
                "run_url": run_url,
                "preview": preview,
                "form": form,
                "in_background": run.total_rows > settings.IMPORT_BACKGROUND_ROWS,
            },
        )

    def _progress_page(self, request, run, progress):
        return TemplateResponse(
            request,
            "admin/doctors/undo_progress.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": f"Undo of import #{run.pk}",
                "run": run,
                "progress": progress,
                "progress_url": reverse(
                    "admin:doctors_importrun_undo_progress",
                    args=[run.pk],
                    current_app=self.admin_site.name,
                ),
            },
        )

    def undo_progress_view(self, request, run_id: int):
        """The background undo's progress as JSON, for the page's script."""
        run = self._undoable_run(request, run_id)
        progress = undo.read_progress(run.pk) or {}
        phase = progress.get("phase", "")
        return JsonResponse(
            {
                "status": phase,
                "status_text": "Waiting for the worker"
                if phase == "queued"
                else "Undoing",
                "finished": phase not in UNDO_ACTIVE_PHASES,
                "phase": "" if phase == "queued" else phase,
                "done": progress.get("done") or 0,
                "total": progress.get("total") or 0,
            }
        )
