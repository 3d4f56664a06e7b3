"""Undo (and redo) of an import run, from the run's page.

GET shows the preview: what the undo would change (counts, the first rows
with their fields) and the records changed since by other change-sets, which
refuse the undo unless the user ticks "only the untouched records". POST
confirms that preview. The undo's life (its status row, the claim that makes
a second submission do nothing, here or in the worker, who may) is
doctors.runs.undos'; this view only calls it and shows what it says.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from ..activity import field_label, value_label
from ..models import Department, Doctor, ImportRun, Membership, Run
from ..runs import access, undos
from .changesets import reason_field


class UndoForm(forms.Form):
    change_reason = reason_field()
    untouched_only = forms.BooleanField(
        label="Undo only the untouched records",
        required=False,
        help_text="Leave the records changed since as they are now.",
    )
    # The status row of the preview this form confirms (doctors.runs.undos).
    attempt = forms.IntegerField(required=False, widget=forms.HiddenInput)


MODELS = {"doctor": Doctor, "department": Department, "membership": Membership}
ACTIONS = {"delete": "Delete", "update": "Restore", "recreate": "Create again"}


def _shown_row(row) -> dict:
    """One record of the preview as staff read it: named, with the fields'
    verbose names."""
    model = MODELS.get(row.model)
    return {
        "model": model._meta.verbose_name if model else row.model,
        "text": row.text,
        "action": ACTIONS.get(row.action, row.action),
        "changes": [
            (
                field_label(model, name) if model else name,
                [_shown_value(model, name, value) for value in values],
            )
            for name, values in row.changes.items()
        ],
    }


def _shown_value(model, name: str, value) -> str:
    """A stored value as staff read it (activity.value_label), with Yes/No
    capitalised as the preview's table shows them."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if model is None:
        return "—" if value is None or value == "" else str(value)
    return value_label(model, name, value)


def undo_label(run: ImportRun) -> str:
    return "Redo this import" if undos.is_undone(run) else "Undo this import"


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

    @admin.display(description="change-set")
    def change_set_link(self, run):
        """The change-set the import wrote, by what it did."""
        change_set = run.change_set
        if change_set is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:doctors_changeset_change", args=[change_set.pk]),
            change_set.description or "The import's changes",
        )

    @admin.display(description="undone")
    def undo_state(self, run):
        if run.change_set_id is None:
            return "—"
        target, redo = undos.chain_end(run)
        if target.pk == run.change_set_id:
            return "No"
        state = "Undone" if redo else "Redone"
        return format_html(
            '{} (<a href="{}">{}</a>)',
            state,
            reverse("admin:doctors_changeset_change", args=[target.pk]),
            target.description or "the changes",
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {**(extra_context or {})}
        run = (
            ImportRun.objects.filter(pk=object_id).first()
            if object_id and str(object_id).isdigit()
            else None
        )
        if run is not None and run.change_set_id and access.may_undo(request.user, run):
            extra["undo_url"] = reverse(
                "admin:doctors_importrun_undo",
                args=[run.pk],
                current_app=self.admin_site.name,
            )
            extra["undo_label"] = undo_label(run)
        return super().change_view(request, object_id, form_url, extra)

    def _undoable_run(self, request, run_id: int) -> ImportRun:
        run = get_object_or_404(ImportRun, pk=run_id)
        if not access.may_undo(request.user, run):
            raise PermissionDenied
        return run

    def undo_view(self, request, run_id: int):
        run = self._undoable_run(request, run_id)
        run_url = reverse(
            "admin:doctors_importrun_change",
            args=[run.pk],
            current_app=self.admin_site.name,
        )
        if run.change_set_id is None:
            self.message_user(
                request, "This run wrote nothing that can be undone.", messages.ERROR
            )
            return HttpResponseRedirect(run_url)
        form = UndoForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            outcome = undos.confirm(
                run,
                request.user,
                attempt_id=form.cleaned_data["attempt"],
                untouched_only=form.cleaned_data["untouched_only"],
                reason=form.cleaned_data["change_reason"],
            )
            if outcome.queued:
                return HttpResponseRedirect(request.path)
            if outcome.result is not None and not outcome.result.refused:
                self.message_user(request, outcome.result.summary(), messages.SUCCESS)
                return HttpResponseRedirect(run_url)
            if outcome.already_done:
                # This page was confirmed already, or another undo came first:
                # the message says what happened; the run's page shows it.
                self.message_user(request, outcome.refusal, messages.WARNING)
                return HttpResponseRedirect(run_url)
            self.message_user(request, outcome.refusal, messages.ERROR)
        active = undos.active(run)
        if active is not None:
            return self._progress_page(request, run, active)
        shown = undos.take_outcome(run, request.user)
        if shown is not None:
            # The outcome of a background undo, once.
            level = (
                messages.SUCCESS
                if shown.status == Run.Status.SUCCEEDED
                else messages.ERROR
            )
            self.message_user(request, shown.outcome, level)
            return HttpResponseRedirect(run_url)
        attempt, preview = undos.prepare(run, request.user)
        if request.method == "POST" and form.is_valid():
            # A refusal: the conflicts listed are those of this new preview.
            form = UndoForm(
                initial={
                    **form.cleaned_data,
                    "attempt": attempt.pk,
                }
            )
        else:
            form = UndoForm(initial={"attempt": attempt.pk})
        return TemplateResponse(
            request,
            "admin/doctors/undo_preview.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": (
                    f"{'Redo' if preview.redo else 'Undo'} the import of "
                    f"{run.file_name}"
                ),
                "run": run,
                "run_url": run_url,
                "preview": preview,
                "rows": [_shown_row(row) for row in preview.rows],
                "welcome_emails": undos.welcome_emails_sent(preview),
                "form": form,
                "attempt": attempt,
                "in_background": undos.in_background(run),
            },
        )

    def _progress_page(self, request, run, attempt):
        return TemplateResponse(
            request,
            "admin/doctors/undo_progress.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": f"{attempt.get_kind_display()} of import #{run.pk}",
                "run": run,
                "progress": undos.progress_of(attempt),
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
        attempt = run.undo_runs.exclude(status=Run.Status.PREVIEWED).first()
        if attempt is None:
            return JsonResponse({"status": "", "finished": True, "done": 0, "total": 0})
        return JsonResponse(undos.progress_of(attempt))
