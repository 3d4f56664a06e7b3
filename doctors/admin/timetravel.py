"""Time travel in the admin: revert with a preview, the historic view with the
memberships of its time, a doctor's membership timeline, and a department's
members on a date.

simple-history's own Revert button saves the old fields only and keeps
today's memberships (its issue #1063), so it is turned off here: every revert
goes through doctors.timetravel.revert, which restores both.
"""

import datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import urlencode
from simple_history.models import SIMPLE_HISTORY_REVERSE_ATTR_NAME
from simple_history.template_utils import HistoricalRecordContextHelper

from .. import context, exporting, membership_sentences
from ..models import Doctor
from ..runs import access, reverts
from ..timetravel import moments, recorded_on, revert, timeline
from ..validators import date_range_problem, validate_date_in_range
from .changesets import change_set_link, take_reason


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def moment_param(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat()


def _local(moment: datetime.datetime) -> str:
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def parse_moment(text: str) -> datetime.datetime | None:
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if not timezone.is_aware(moment) or date_range_problem(moment.date()):
        # A moment outside the clinic's dates is no version of anything (and
        # near year 9999 converting it to another time zone overflows).
        return None
    return moment


NOTHING = "—"
# The people who may open a user's admin page; the others see the name only.
USER_PAGE_PERMISSIONS = ("auth.view_user", "auth.change_user")


def may_open_users(user) -> bool:
    return any(user.has_perm(permission) for permission in USER_PAGE_PERMISSIONS)


class ClinicHistoryContextHelper(HistoricalRecordContextHelper):
    """The "Changes" column in the clinic's words: a choice's label, not its
    stored value ("Internal medicine", not "internal_medicine"), yes/no for a
    flag, and "—" for nothing."""

    def prepare_delta_change_value(self, change, value):
        field = self.model._meta.get_field(change.field)
        if value is None or value == "":
            return NOTHING
        if field.choices:
            return dict(field.flatchoices).get(value, value)
        if isinstance(value, bool):
            return "yes" if value else "no"
        return super().prepare_delta_change_value(change, value)


class TimeTravelAdminMixin:
    """Revert to a point in the history, for a doctor's or a department's admin."""

    revert_template = "admin/doctors/revert.html"
    revert_steps_shown = 500
    object_history_form_template = "admin/doctors/object_history_form.html"

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/history/revert/",
                self.admin_site.admin_view(self.revert_view),
                name="{}_{}_revert".format(*info),
            ),
            *super().get_urls(),
        ]

    def revert_disabled(self, request, obj=None):
        # The revert of this page is revert_view (fields and memberships).
        return True

    def may_revert(self, request, obj) -> bool:
        return access.may_revert(request.user, obj)

    def revert_url(self, obj, moment: datetime.datetime) -> str:
        info = self.opts.app_label, self.opts.model_name
        url = reverse("admin:{}_{}_revert".format(*info), args=[obj.pk])
        return f"{url}?{urlencode({'at': moment_param(moment)})}"

    def history_view(self, request, object_id, extra_context=None):
        extra = dict(extra_context or {})
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.model is Doctor:
            found = timeline.doctor_periods(obj.pk)
            may_revert = self.may_revert(request, obj)
            for period in found:
                for record in period.records:
                    record.change_set_link = change_set_link(record.change_set)
                    record.revert_url = (
                        self.revert_url(obj, record.moment) if may_revert else ""
                    )
            extra["membership_timeline"] = found
        extra["may_open_users"] = may_open_users(request.user)
        return super().history_view(request, object_id, extra_context=extra)

    def get_history_queryset(self, request, history_manager, pk_name, object_id):
        # The Reason column reads the change-set's reason: one join, not a
        # query per row.
        return (
            super()
            .get_history_queryset(request, history_manager, pk_name, object_id)
            .select_related("change_set")
        )

    def get_historical_record_context_helper(self, request, historical_record):
        return ClinicHistoryContextHelper(self.model, historical_record)

    # A version's page shows the record as it was: every field read-only, the
    # fields the history does not keep left out, and the version's own time in
    # place of the last change (the history keeps no updated_at, so the record
    # would otherwise show today's).

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        version = getattr(request, "history_version", None)
        if version is None:
            return fieldsets
        kept = {field.name for field in type(version)._meta.fields}
        shown = []
        for name, options in fieldsets:
            fields = [
                "version_recorded_at" if field == "updated_at" else field
                for field in options["fields"]
                if field in kept or field == "updated_at"
            ]
            if fields:
                shown.append((name, {**options, "fields": fields}))
        return shown

    def get_readonly_fields(self, request, obj=None):
        if getattr(request, "history_version", None) is None:
            return super().get_readonly_fields(request, obj)
        return flatten_fieldsets(self.get_fieldsets(request, obj))

    @admin.display(description="Recorded at")
    def version_recorded_at(self, obj):
        version = getattr(obj, SIMPLE_HISTORY_REVERSE_ATTR_NAME)
        return date_format(timezone.localtime(version.history_date), "DATETIME_FORMAT")

    def history_form_view_title(self, request, obj):
        version = request.history_version
        when = date_format(timezone.localtime(version.history_date), "DATETIME_FORMAT")
        return f"{obj} as recorded on {when}"

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method != "GET":
            # simple-history's form would save the old fields and keep today's
            # memberships; reverting is revert_view's job.
            return HttpResponseNotAllowed(["GET"])
        history = self.model.history.model
        version = get_object_or_404(
            history.objects.select_related("change_set", "history_user"),
            id=unquote(object_id),
            history_id=version_id,
        )
        # The version stands for its whole change-set: a doctor saved with
        # inline rows shows the memberships that save wrote.
        moment = moments.moment_after(version)
        side = "doctor_id" if self.model is Doctor else "department_id"
        memberships = _named(
            moments.memberships_at(moment, **{side: version.id}),
            of="department" if self.model is Doctor else "doctor",
        )
        obj = self.get_object(request, unquote(object_id))
        request.history_version = version
        extra = {
            **(extra_context or {}),
            "version": version,
            "version_moment": moment,
            "memberships_then": memberships,
            "revert_url": (
                self.revert_url(obj, moment)
                if obj is not None and self.may_revert(request, obj)
                else ""
            ),
        }
        return super().history_form_view(
            request, object_id, version_id, extra_context=extra
        )

    def revert_view(self, request, object_id):
        """GET: the preview of a revert. POST: confirm it. The revert's life
        (its status row, the claim that makes a second submission do
        nothing) is doctors.runs.reverts'; this view shows what it says."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        if not self.may_revert(request, obj):
            raise PermissionDenied(
                f"Reverting needs permission to change {self.opts.verbose_name_plural}"
                " and their memberships."
            )
        moment = parse_moment(request.POST.get("at") or request.GET.get("at", ""))
        if moment is None:
            messages.error(request, "Choose a version to revert to from the history.")
            return HttpResponseRedirect(self._history_url(obj))
        status = 200
        if request.method == "POST":
            # The revert is the request's change-set: named here, with the
            # reason the user typed.
            take_reason(request)
            context.current().description = f"Revert {obj} to {_local(moment)}"[:255]
            outcome = reverts.confirm(
                obj,
                request.user,
                attempt_id=_int(request.POST.get("attempt")),
                skip_conflicts=bool(request.POST.get("skip_conflicts")),
            )
            if outcome.plan is not None:
                self._report_revert(request, obj, outcome.plan)
                return HttpResponseRedirect(self._change_url(obj))
            if outcome.submitted_again:
                # This page was confirmed already: say what became of it.
                messages.warning(request, outcome.refusal)
                return HttpResponseRedirect(self._change_url(obj))
            messages.error(request, outcome.refusal)
            status = 409
            obj = self.get_object(request, unquote(object_id))
        try:
            attempt, plan = reverts.prepare(obj, moment, request.user)
        except revert.RevertError as error:
            messages.error(request, str(error))
            return HttpResponseRedirect(self._history_url(obj))
        return TemplateResponse(
            request,
            self.revert_template,
            {
                **self.admin_site.each_context(request),
                "title": f"Revert {obj} to {_local(moment)}",
                "opts": self.opts,
                "original": obj,
                "plan": plan,
                "attempt": attempt,
                # Conflicts first; a department's revert may touch thousands.
                "steps_shown": sorted(plan.memberships, key=lambda s: not s.conflict)[
                    : self.revert_steps_shown
                ],
                "moment": moment,
                "moment_param": moment_param(moment),
                "history_url": self._history_url(obj),
                "other_label": "Department" if self.model is Doctor else "Doctor",
            },
            status=status,
        )

    def _change_url(self, obj) -> str:
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
            args=[obj.pk],
        )

    def _history_url(self, obj) -> str:
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_history",
            args=[obj.pk],
        )

    def _report_revert(self, request, obj, plan) -> None:
        self.message_user(request, reverts.summary(obj, plan), messages.SUCCESS)
        collected = context.current().membership_changes
        per = "doctor" if self.model is Doctor else "department"
        for sentence in membership_sentences.sentences(collected, per=per):
            self.message_user(request, sentence, messages.SUCCESS)
        collected.clear()
        if plan.conflicts:
            self.message_user(
                request,
                "Left as they are (conflicts): " + " ".join(plan.conflicts),
                messages.WARNING,
            )


def _named(memberships, *, of: str) -> list[tuple[str, moments.MembershipThen]]:
    """(name of the other side, membership), primary first, then by name."""
    ids = {getattr(m, f"{of}_id") for m in memberships}
    if of == "department":
        names = timeline.department_names(ids)
    else:
        names = {pk: str(doctor) for pk, doctor in Doctor.objects.in_bulk(ids).items()}
    rows = []
    for membership in memberships:
        pk = getattr(membership, f"{of}_id")
        rows.append((names.get(pk, f"#{pk} (deleted)"), membership))
    rows.sort(key=lambda row: (not row[1].is_primary, row[0]))
    return rows


class MembersOnDateForm(forms.Form):
    """The two questions of the department's "members on a date" page: which
    day (the clinic's calendar) and, optionally, as the records stood when."""

    on = forms.DateField(
        label="Who was a member on",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_date_in_range],
        help_text="Any day, past or future: the people whose membership "
        "covers that day (from their first day to their last day).",
    )
    recorded_on = forms.DateField(
        label="As the records stood on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_date_in_range],
        help_text="Optional. Leave empty for the answer with everything "
        "recorded so far, corrections included. Pick a day to see what the "
        "records said then (at the end of that day), before later corrections.",
    )
    recorded_at = forms.TimeField(
        label="at (clinic time)",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="With a time, at that time of the day instead of its end.",
    )

    def clean(self):
        data = super().clean()
        if data.get("recorded_at") and not data.get("recorded_on"):
            self.add_error(
                "recorded_on", "Choose the day the time belongs to, or clear the time."
            )
        return data

    def recorded_moment(self) -> datetime.datetime | None:
        """The instant asked about, or None for the records as they are now."""
        day = self.cleaned_data.get("recorded_on")
        if day is None:
            return None
        return recorded_on.from_day_and_time(day, self.cleaned_data.get("recorded_at"))


def members_on_title(department, day: datetime.date, moment) -> str:
    """The page's question in words: "Who was in Cardiology on 1 January 2025"
    (is, will be: by today), and "as the records stood on …"."""
    today = timezone.localdate()
    verb = "was" if day < today else "is" if day == today else "will be"
    title = f"Who {verb} in {department} on {date_format(day, 'j F Y')}"
    if moment is not None:
        title += ", as the records stood on " + recorded_words(moment)
    return title


def recorded_words(moment: datetime.datetime) -> str:
    """ "3 March 2025 at 23:59" in the clinic's time zone."""
    local = timezone.localtime(moment)
    return f"{date_format(local, 'j F Y')} at {local:%H:%M}"


class MembersOnDateMixin:
    """A department's members on any date (the clinic's calendar), as the
    records stand now or as they stood at an earlier instant, from its page."""

    members_on_template = "admin/doctors/members_on_date.html"
    members_per_page = 200

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/members-on/",
                self.admin_site.admin_view(self.members_on_view),
                name="{}_{}_members_on".format(*info),
            ),
            *super().get_urls(),
        ]

    def members_on_view(self, request, object_id):
        department = self.get_object(request, unquote(object_id))
        if department is None:
            raise Http404
        if not self.has_view_permission(request, department):
            raise PermissionDenied
        data = request.GET if "on" in request.GET else None
        form = MembersOnDateForm(data, initial={"on": timezone.localdate()})
        valid = form.is_valid()
        day = form.cleaned_data["on"] if valid else timezone.localdate()
        moment = form.recorded_moment() if valid else None
        members = (
            moments.department_members_on(department, day, as_recorded_on=moment)
            if valid or data is None
            else []
        )
        query = {"on": day.isoformat()}
        if moment is not None:
            query["recorded_on"] = form.cleaned_data["recorded_on"].isoformat()
            if form.cleaned_data.get("recorded_at"):
                query["recorded_at"] = form.cleaned_data["recorded_at"].strftime(
                    "%H:%M"
                )
        if request.GET.get("format") == "csv" and valid:
            response = StreamingHttpResponse(
                exporting.csv_lines(exporting.member_rows(members)),
                content_type="text/csv; charset=utf-8",
            )
            recorded = (
                ""
                if moment is None
                else "-as-recorded-"
                + timezone.localtime(moment).strftime("%Y-%m-%dT%H%M")
            )
            response["Content-Disposition"] = (
                f'attachment; filename="{department.code}-members-{day}{recorded}.csv"'
            )
            return response
        paginator = Paginator(members, self.members_per_page)
        page = paginator.get_page(request.GET.get("p"))
        return TemplateResponse(
            request,
            self.members_on_template,
            {
                **self.admin_site.each_context(request),
                "title": members_on_title(department, day, moment),
                "opts": self.opts,
                "original": department,
                "form": form,
                "day": day,
                "moment": moment,
                "moment_words": recorded_words(moment) if moment else "",
                "page_obj": page,
                "count": len(members),
                "page_query": urlencode(query),
                "csv_query": urlencode({**query, "format": "csv"}),
                "as_recorded_now_query": urlencode({"on": day.isoformat()}),
            },
        )
