"""In-place edits on the member list: the first and last day of each period,
which are corrections (the dates were entered wrong) and are recorded as such.
A change of role or primary department happens from a day, through the
list's actions (actions.py), not here.

Each row carries the version of the row it showed (ROW_VERSION, in the doctor
cell). A save locks the posted rows as it reads them (MembershipRowFormSet.
get_queryset; the list's POST runs in one transaction), so the version check,
the rules and the save all see the stored rows, and the feed tells the change
from them. A row changed since the page was opened is refused, not overwritten;
a row already as posted (the same save sent twice) is left alone and said so.
"""

from collections.abc import Callable

from django import forms
from django.core.exceptions import BadRequest, ValidationError
from django.forms.models import BaseModelFormSet

from ... import concurrency
from ...models import Membership
from ...periods import PeriodEvent
from ..forms import set_submitted_value
from .rendering import render_directly

ROW_VERSION = "row-version-{}"


def posted_version(data, pk) -> str | None:
    """The version of row `pk` as the page showed it, if the page sent one."""
    return data.get(ROW_VERSION.format(pk))


class MembershipRowForm(forms.ModelForm):
    """One editable row of the list; refuses to save over a change made since
    the page was opened. Its save is a correction of the period."""

    class Meta:
        model = Membership
        fields = ["joined_on", "left_on"]

    def _post_clean(self):
        # A row left as it is has no rule to check: no query per row of the
        # page.
        if self.instance.pk is None or self.has_changed():
            super()._post_clean()

    def save(self, commit=True):
        self.instance.period_event = PeriodEvent.CORRECTED
        return super().save(commit)

    def clean(self):
        cleaned_data = super().clean()
        if self.instance.pk is None or not self.has_changed():
            return cleaned_data
        posted = posted_version(self.data, self.instance.pk)
        if posted != concurrency.row_version(self.instance):
            # On a field the user changed: the list shows a row's errors only
            # in its cells.
            field = self.changed_data[0]
            self._show_stored_values()
            self.add_error(
                field,
                ValidationError(
                    "%(row)s was changed %(change)s since you opened this page; "
                    "the row now shows what is stored. Make your change again.",
                    code="stale",
                    params={
                        "row": self.instance,
                        "change": concurrency.last_change_description(self.instance),
                    },
                ),
            )
        return cleaned_data

    def _show_stored_values(self) -> None:
        """Put the row's stored values back in the form: saving the page again
        must not carry this row's stale values over the other person's."""
        data = self.data.copy()
        for name, field in self.fields.items():
            if name == self.instance._meta.pk.name:
                continue
            set_submitted_value(
                data, self.add_prefix(name), field, self.initial.get(name)
            )
        self.data = data


class _LoadedRowField(forms.ModelChoiceField):
    """The hidden id of a list row: the row the formset already loaded (with
    the page's other rows, in one query) rather than a query per row."""

    loaded = None

    def to_python(self, value):
        if self.loaded is not None and str(value) == str(self.loaded.pk):
            return self.loaded
        return super().to_python(value)


class MembershipRowFormSet(BaseModelFormSet):
    """The list's rows: locked as they are read on a save, each checked
    against the rules (Membership.clean names the other period)."""

    # Set by MembershipAdmin.get_changelist_formset: tells the person about
    # rows that were already as they posted them.
    report_already_saved: Callable[[list[Membership]], None] | None = None

    def get_queryset(self):
        # A posted page locks the rows it edits as it reads them, in primary
        # key order (the same in every request, so two saves cannot deadlock),
        # their doctors first (concurrency.lock_doctors).
        if not hasattr(self, "_queryset") and self.is_bound:
            concurrency.lock_doctors(self.queryset.values("doctor_id"))
            self.queryset = self.queryset.select_for_update(of=("self",))
        return super().get_queryset()

    def add_fields(self, form, index):
        super().add_fields(form, index)
        name = self.model._meta.pk.name
        field = form.fields.get(name)
        if type(field) is forms.ModelChoiceField and form.instance.pk is not None:
            field.__class__ = _LoadedRowField
            field.loaded = form.instance
        for date_name in ("joined_on", "left_on"):
            if date_name not in form.fields:
                continue
            field = form.fields[date_name]
            # The value shown is the row's own (form.initial), so the browser
            # need not send it back in a second, hidden input.
            field.show_hidden_initial = False
            # The browser's own date field (as on "Add doctors"): narrower
            # than the admin's text box with its "Today" and calendar links,
            # so the list fits a laptop.
            field.widget = forms.DateInput(
                attrs={**field.widget.attrs, "type": "date"}, format="%Y-%m-%d"
            )
        for field in form.fields.values():
            render_directly(field.widget)

    def clean(self):
        super().clean()
        if any(form.instance.pk is None and form.has_changed() for form in self.forms):
            # The list edits rows, it never adds one: a forged extra row.
            raise BadRequest("list_editable does not allow adding.")
        already = [
            form.instance
            for form in self.forms
            if form.instance.pk is not None
            and not form.has_changed()
            and posted_version(self.data, form.instance.pk)
            not in (None, concurrency.row_version(form.instance))
        ]
        if already and self.report_already_saved is not None:
            self.report_already_saved(already)
