"""In-place edits on the member list: role, primary and joining date of each row.

Each row carries the version of the row it showed (ROW_VERSION, in the doctor
cell). A save locks the posted rows as it reads them (MembershipRowFormSet.
get_queryset; the list's POST runs in one transaction), so the version check,
the rules and the save all see the stored rows, and the feed tells the change
from them. A row changed since the page was opened is refused, not overwritten;
a row already as posted (the same save sent twice) is left alone and said so.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.core.exceptions import BadRequest, ValidationError
from django.db.models import Q
from django.forms.models import BaseModelFormSet

from ... import concurrency
from ...models import (
    HEAD_RULE,
    PRIMARY_RULE,
    RULE_WORDS,
    Department,
    Membership,
)
from ..forms import set_submitted_value
from ..membership_inline import MembershipForm, form_save_order
from .rendering import render_directly

ROW_VERSION = "row-version-{}"


def posted_version(data, pk) -> str | None:
    """The version of row `pk` as the page showed it, if the page sent one."""
    return data.get(ROW_VERSION.format(pk))


class MembershipRowForm(MembershipForm):
    """One editable row of the list; refuses to save over a change made since
    the page was opened."""

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


@dataclass
class Handover:
    """A row that gives up the head role or the primary flag to a row of the
    same save."""

    row: Membership
    field: str
    value: object

    def save(self) -> None:
        setattr(self.row, self.field, self.value)
        self.row.save()


class _LoadedRowField(forms.ModelChoiceField):
    """The hidden id of a list row: the row the formset already loaded (with
    the page's other rows, in one query) rather than a query per row."""

    loaded = None

    def to_python(self, value):
        if self.loaded is not None and str(value) == str(self.loaded.pk):
            return self.loaded
        return super().to_python(value)


class MembershipRowFormSet(BaseModelFormSet):
    """The list's rows validated together: one head per department and one
    primary department per doctor, counting rows saved elsewhere."""

    # Set by MembershipAdmin.get_changelist_formset: tells the person about
    # rows that were already as they posted them.
    report_already_saved: Callable[[list[Membership]], None] | None = None
    # Set by clean: rows that give up the head role or the primary flag to a
    # row of this save; the list saves them first.
    handovers: list["Handover"] = []

    def get_queryset(self):
        # A posted page locks the rows it edits as it reads them, in primary
        # key order (the same in every request, so two saves cannot deadlock),
        # their doctors first (concurrency.lock_doctors). A row made head
        # hands over from the department's head, who may not be on the page:
        # that department and its head's doctor are locked too, in the order
        # the action "Make head" takes them (department, doctors, rows).
        if not hasattr(self, "_queryset") and self.is_bound:
            claimed = self._departments_claiming_head()
            if claimed:
                list(
                    Department.objects.select_for_update(no_key=True)
                    .filter(pk__in=claimed)
                    .order_by("pk")
                    .values_list("pk", flat=True)
                )
            concurrency.lock_doctors(
                Membership.objects.filter(
                    Q(pk__in=self.queryset.values("pk"))
                    | Q(department_id__in=claimed, role=Membership.Role.HEAD)
                ).values("doctor_id")
            )
            self.queryset = self.queryset.select_for_update(of=("self",))
        return super().get_queryset()

    def _departments_claiming_head(self) -> list[int]:
        """The departments of the posted rows whose role is posted as head."""
        try:
            total = min(int(self.data.get(f"{self.prefix}-TOTAL_FORMS", 0)), 1000)
        except ValueError:
            return []
        posted = [
            self.data.get(f"{self.prefix}-{index}-id", "")
            for index in range(total)
            if self.data.get(f"{self.prefix}-{index}-role") == Membership.Role.HEAD
        ]
        pks = [int(pk) for pk in posted if pk.isdigit()]
        if not pks:
            return []
        return sorted(
            set(
                self.queryset.filter(pk__in=pks)
                .exclude(role=Membership.Role.HEAD)
                .values_list("department_id", flat=True)
            )
        )

    def add_fields(self, form, index):
        super().add_fields(form, index)
        name = self.model._meta.pk.name
        field = form.fields.get(name)
        if type(field) is forms.ModelChoiceField and form.instance.pk is not None:
            field.__class__ = _LoadedRowField
            field.loaded = form.instance
        if "joined_on" in form.fields:
            field = form.fields["joined_on"]
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
        if any(self.errors):
            return
        changed = [form for form in self.forms if form.has_changed()]
        self.handovers = []
        self._check(
            changed,
            field="role",
            value=Membership.Role.HEAD,
            side="department_id",
            words=RULE_WORDS[HEAD_RULE],
            handed_over=Membership.Role.MEMBER,
        )
        self._check(
            changed,
            field="is_primary",
            value=True,
            side="doctor_id",
            words=RULE_WORDS[PRIMARY_RULE],
            handed_over=False,
        )
        if any(self.errors):
            self.handovers = []
        else:
            # Django's list save walks `forms` in order: put it in an order the
            # constraints allow at every step (models.membership_save_order);
            # page order could pass through two heads while a head is handed
            # over.
            self.forms.sort(key=self._save_order)

    def _check(self, changed, *, field, value, side, words, handed_over):
        """One holder of `value` per `side`: a row claiming it takes it from
        the row holding it (on the page unchanged, or stored elsewhere, which
        is locked here), saved first by the list (`handovers`); two rows
        claiming it in one save are an error."""
        if field not in self.form.base_fields:
            return
        claiming = [f for f in changed if f.cleaned_data.get(field) == value]
        wanted = {getattr(form.instance, side) for form in claiming}
        if not wanted:
            return
        holders: dict[int, Membership] = {}
        on_page = [form.instance.pk for form in self.forms]
        for form in self.forms:
            if form not in changed and form.initial.get(field) == value:
                holders.setdefault(getattr(form.instance, side), form.instance)
        # Rows not on the page, as stored, locked until the save: their
        # doctors' locks are held (get_queryset).
        stored_rows = (
            Membership.objects.select_for_update(of=("self",))
            .filter(**{f"{side}__in": wanted, field: value})
            .exclude(pk__in=on_page)
            .select_related("doctor", "department")
            .order_by("pk")
        )
        for row in stored_rows:
            holders.setdefault(getattr(row, side), row)
        for form in claiming:
            key = getattr(form.instance, side)
            owner = (
                form.instance.department
                if side == "department_id"
                else form.instance.doctor
            )
            if sum(getattr(f.instance, side) == key for f in claiming) > 1:
                form.add_error(field, words.twice.format(owner=owner))
            elif key in holders:
                self.handovers.append(Handover(holders[key], field, handed_over))

    @staticmethod
    def _save_order(form) -> tuple[bool, bool]:
        return form_save_order(form) if form.has_changed() else (False, False)
