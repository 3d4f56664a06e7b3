import datetime
import functools
import operator
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

from . import current_change, periods
from .period_rules import HEAD_RULE, OVERLAP_RULE, PRIMARY_RULE
from .validators import validate_date_in_range, validate_single_line

department_code_validator = RegexValidator(
    r"^[A-Z0-9][A-Z0-9_-]*$",
    "Use capital letters, digits, '-' or '_' (for example CARD or ER-2).",
)
license_number_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9/._-]*$",
    "Use letters, digits, '-', '/', '.' or '_' with no spaces.",
)


class RuleWords(NamedTuple):
    """How staff are told about one database rule, written once beside it.

    `on_form`: the record on screen breaks it (a form error). `refused`: the
    database refused a write that raced past the checks (doctors.integrity).
    `held_by` and `twice`: a list or a file names the rows, "{owner}" being the
    department or doctor the rule is about and "{holder}" the other side.
    """

    on_form: str
    refused: str
    held_by: str = ""
    twice: str = ""


DATES_RULE = "membership_left_after_joined"

# Keyed by the constraint's name, or "table.column" for a unique field.
RULE_WORDS: dict[str, RuleWords] = {
    # Memberships are periods (joined_on to left_on, both days included): the
    # rules hold on every day. PostgreSQL enforces them with exclusion
    # constraints over date ranges, SQLite with triggers (migration 0017);
    # Membership.clean() checks them first to name the other period.
    OVERLAP_RULE: RuleWords(
        on_form="This doctor is already in this department on some of these days.",
        refused="That doctor is already in that department on some of those days.",
        held_by="Already in {holder}: {owner}.",
    ),
    HEAD_RULE: RuleWords(
        on_form="This department already has a head on some of these days.",
        refused="That department already has a head on some of those days.",
        held_by="{owner} already has a head: {holder}.",
        twice="{owner} can have only one head.",
    ),
    PRIMARY_RULE: RuleWords(
        on_form="This doctor already has a primary department on some of these days.",
        refused="That doctor already has a primary department on some of those days.",
        held_by="{owner} already has a primary department: {holder}.",
        twice="{owner} can have only one primary department.",
    ),
    DATES_RULE: RuleWords(
        on_form="The last day cannot be before the first day.",
        refused="A membership cannot end before it starts.",
    ),
    "doctor_email_unique_ci": RuleWords(
        on_form="A doctor with this email already exists.",
        refused="A doctor with that email already exists.",
    ),
    "doctors_doctor.license_number": RuleWords(
        on_form="A doctor with this license number already exists.",
        refused="A doctor with that license number already exists.",
    ),
    "doctors_department.code": RuleWords(
        on_form="A department with this code already exists.",
        refused="A department with that code already exists.",
    ),
    "doctors_department.name": RuleWords(
        on_form="A department with this name already exists.",
        refused="A department with that name already exists.",
    ),
}


def _history_user(request=None, **kwargs):
    """Who a history row names: the request's user (simple-history's middleware),
    otherwise the user a command or task acts as (doctors.context)."""
    if request is not None:
        return request.user
    return current_change.actor()


class IndexedHistoricalRecords(HistoricalRecords):
    """simple-history's records with extra indexes on the historical table, and
    the acting user of commands and tasks on their rows.

    Point-in-time questions ("the newest row of each membership recorded before
    a moment") need composite indexes that simple-history's own single-column
    ones cannot serve; it has no option for them, so they join its Meta here.
    """

    def __init__(self, *args, indexes=(), **kwargs):
        self.extra_indexes = tuple(indexes)
        kwargs.setdefault("get_user", _history_user)
        # The acting user is named on every history row: checked against the
        # users table at commit, once per row, it would cost a bulk write
        # seconds (see ChangeSetHistory.change_set); deleting a user still
        # sets the rows' user to none (on_delete, done by Django).
        kwargs.setdefault("user_db_constraint", False)
        # The object's own id is the first column of the index on (id,
        # history_date, history_id) that every history lookup uses: its
        # single-column index would only be kept up to date.
        kwargs.setdefault("no_db_index", ["id", *kwargs.pop("covered", ())])
        super().__init__(*args, **kwargs)

    def get_meta_options(self, model):
        meta = super().get_meta_options(model)
        meta["indexes"] = (*meta.get("indexes", ()), *self.extra_indexes)
        return meta


def _latest_row_index(name: str) -> models.Index:
    # The newest row of one object before a moment: a seek on id, then a short
    # backwards scan on history_date.
    return models.Index(fields=["id", "history_date", "history_id"], name=name)


class Specialty(models.TextChoices):
    ANESTHESIOLOGY = "anesthesiology", "Anesthesiology"
    CARDIOLOGY = "cardiology", "Cardiology"
    DERMATOLOGY = "dermatology", "Dermatology"
    EMERGENCY_MEDICINE = "emergency_medicine", "Emergency medicine"
    ENDOCRINOLOGY = "endocrinology", "Endocrinology"
    FAMILY_MEDICINE = "family_medicine", "Family medicine"
    GASTROENTEROLOGY = "gastroenterology", "Gastroenterology"
    GENERAL_SURGERY = "general_surgery", "General surgery"
    INTERNAL_MEDICINE = "internal_medicine", "Internal medicine"
    NEUROLOGY = "neurology", "Neurology"
    OBSTETRICS_GYNECOLOGY = "obstetrics_gynecology", "Obstetrics and gynecology"
    ONCOLOGY = "oncology", "Oncology"
    OPHTHALMOLOGY = "ophthalmology", "Ophthalmology"
    ORTHOPEDICS = "orthopedics", "Orthopedics"
    PEDIATRICS = "pediatrics", "Pediatrics"
    PSYCHIATRY = "psychiatry", "Psychiatry"
    RADIOLOGY = "radiology", "Radiology"
    UROLOGY = "urology", "Urology"


class TracksLoadedValues(models.Model):
    """Remembers the values a row had when it was read, to tell what a save changed.

    Django's documented hook for this is `from_db`; it costs a dict per loaded
    row and no query.
    """

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values, *, fetch_mode=None):
        instance = super().from_db(db, field_names, values, fetch_mode=fetch_mode)
        instance._loaded_values = dict(zip(field_names, values, strict=True))
        return instance


class ChangeSource(models.TextChoices):
    """Where a change started."""

    ADMIN = "admin", "Admin"
    IMPORT = "import", "Import"
    COMMAND = "command", "Command"
    SYSTEM = "system", "System"


class ChangeSet(models.Model):
    """One unit of change: an admin request, an action, an import run, an undo,
    a command or a task that changed data.

    Every feed event and history row it wrote points at it, so "what did this
    do" is one lookup and an undo knows exactly which rows to restore.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_name = models.CharField("who", max_length=150, blank=True)
    source = models.CharField(max_length=10, choices=ChangeSource.choices)
    description = models.CharField("what", max_length=255, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # Rows written, by what: {"events": 1, "doctor": 120, "membership": 300}.
    counts = models.JSONField(default=dict, blank=True)
    # The change-set this one reverses (an undo; the undo of an undo redoes).
    undoes = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="undone_by",
    )

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        what = self.description or self.get_source_display()
        return f"#{self.pk} {what}"

    def get_absolute_url(self) -> str:
        return reverse("admin:doctors_changeset_change", args=[self.pk])


class ChangeSetHistory(models.Model):
    """The extra column of every simple-history table: the change-set that
    wrote the history row (filled by the pre_create_historical_record receiver
    and by the bulk writers)."""

    # No database foreign key, as for simple-history's own copies of the
    # tracked foreign keys: a bulk write's history rows (300,000 for a
    # 100,000-doctor import) would each be checked against the one change-set
    # at commit, seconds for nothing. The rows are written only in the
    # change-set's own transaction, and PROTECT still keeps a change-set that
    # history rows name from being deleted.
    change_set = models.ForeignKey(
        ChangeSet,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
    )

    class Meta:
        abstract = True


class Department(TracksLoadedValues):
    code = models.CharField(
        max_length=20,
        unique=True,
        validators=[department_code_validator, validate_single_line],
        help_text="Short unique code used in CSV files, e.g. CARD.",
    )
    name = models.CharField(
        max_length=100, unique=True, validators=[validate_single_line]
    )
    description = models.TextField(blank=True)
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = IndexedHistoricalRecords(
        bases=[ChangeSetHistory],
        indexes=[_latest_row_index("hist_department_id_date")],
    )

    class Meta:
        ordering = ["name"]
        permissions = [
            ("import_department", "Can import departments from CSV"),
            ("export_department", "Can export departments to CSV"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("admin:doctors_department_change", args=[self.pk])


class Doctor(TracksLoadedValues):
    license_number = models.CharField(
        max_length=30,
        unique=True,
        validators=[license_number_validator, validate_single_line],
        help_text="The medical license number; unique, used to match CSV rows.",
    )
    first_name = models.CharField(max_length=100, validators=[validate_single_line])
    last_name = models.CharField(max_length=100, validators=[validate_single_line])
    email = models.EmailField(max_length=254, validators=[validate_single_line])
    phone = models.CharField(
        max_length=40, blank=True, validators=[validate_single_line]
    )
    specialty = models.CharField(max_length=40, choices=Specialty.choices)
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField("last change", auto_now=True)
    departments = periods.CurrentMembershipsField(
        Department, through="Membership", related_name="doctors", blank=True
    )

    history = IndexedHistoricalRecords(
        excluded_fields=["updated_at"],
        bases=[ChangeSetHistory],
        indexes=[_latest_row_index("hist_doctor_id_date")],
        # Nothing looks a doctor's history up by license number.
        covered=["license_number"],
    )

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="doctor_email_unique_ci",
                violation_error_message=RULE_WORDS["doctor_email_unique_ci"].on_form,
            ),
        ]
        indexes = [
            models.Index(fields=["last_name", "first_name", "id"]),
            models.Index(fields=["specialty"]),
            models.Index(fields=["updated_at"]),
        ]
        permissions = [
            ("import_doctor", "Can import doctors from CSV"),
            ("export_doctor", "Can export doctors to CSV"),
        ]

    def __str__(self) -> str:
        return self.full_name

    def save(self, *args, **kwargs):
        # Emails compare case-insensitively; store them as typed but trimmed.
        self.email = self.email.strip()
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("admin:doctors_doctor_change", args=[self.pk])

    @property
    def full_name(self) -> str:
        return f"Dr {self.first_name} {self.last_name}".strip()


class MembershipQuerySet(models.QuerySet):
    """Periods, with the questions asked of them by day."""

    def covering(self, day: datetime.date) -> "MembershipQuerySet":
        """The periods that include `day`: who was a member then."""
        return self.filter(periods.covering(day))

    def current(self) -> "MembershipQuerySet":
        """The periods that include today in the clinic's time zone."""
        return self.covering(periods.today())

    def not_ended(self) -> "MembershipQuerySet":
        """Periods covering today or starting later."""
        return self.filter(periods.not_ended(periods.today()))

    def end(self, last_day: datetime.date | None = None) -> tuple[int, int]:
        """End these periods on `last_day` (yesterday when None: no longer a
        member today), saving each so its history and feed event are written.

        Periods already ended by then are left as they are; a period that
        starts after `last_day` (or today, when no day is given) never
        happened and is cancelled: deleted, recorded as a correction. Returns
        (ended, cancelled).
        """
        last_day = last_day or periods.yesterday()
        done = [
            membership.end(last_day)
            for membership in self.filter(
                periods.not_ended(last_day + periods.ONE_DAY)
            ).select_related("doctor", "department")
        ]
        ended = done.count(periods.PeriodEvent.ENDED)
        cancelled = done.count(periods.PeriodEvent.CANCELLED)
        return ended, cancelled

    def delete(self):
        """Leaving ends a period, it never deletes it: Django's `remove()`,
        `clear()` and `set()` delete through this queryset, so they end the
        periods covering today on yesterday (see end()). Real deletion
        is Membership.cancel() and the cascade of a deleted doctor."""
        ended, cancelled = self.end()
        return ended + cancelled, {Membership._meta.label: ended + cancelled}

    delete.queryset_only = True


class MembershipManager(models.Manager.from_queryset(MembershipQuerySet)):
    pass


class NotEndedMembershipManager(MembershipManager):
    """Periods covering today or starting later: what `add()` looks at before
    starting a period (a doctor who left may join again), what `remove()`
    ends, and what a doctor's page lists."""

    def get_queryset(self):
        return super().get_queryset().not_ended()


class Membership(TracksLoadedValues):
    """A doctor's period in a department (a FHIR PractitionerRole in small):
    the role and primary flag that held from `joined_on` to `left_on`, both
    days included. One row per period: each has its own history (when it was
    recorded and corrected, by whom, in which change-set), the database rules
    hold on the rows themselves, and undo, revert and the chain already work
    row by row."""

    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        HEAD = "head", "Head of department"

    doctor = models.ForeignKey(
        Doctor, on_delete=models.CASCADE, related_name="memberships"
    )
    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_on = models.DateField(
        "first day",
        default=timezone.localdate,
        validators=[validate_date_in_range],
        help_text="The first day as a member in this role.",
    )
    left_on = models.DateField(
        "last day",
        null=True,
        blank=True,
        validators=[validate_date_in_range],
        help_text="The last day as a member in this role; empty while it lasts.",
    )
    is_primary = models.BooleanField("primary department", default=False)

    # Every period; the default manager (what Django's many-to-many managers,
    # admin pages and related lookups use) sees the ones not ended.
    objects = MembershipManager()
    not_ended = NotEndedMembershipManager()

    history = IndexedHistoricalRecords(
        bases=[ChangeSetHistory],
        indexes=[
            _latest_row_index("hist_membership_id_date"),
            # Who was in a department on a date: its rows before the moment.
            models.Index(
                fields=["department", "history_date"], name="hist_membership_dept_date"
            ),
            # A doctor's membership timeline.
            models.Index(
                fields=["doctor", "history_date"], name="hist_membership_doc_date"
            ),
        ],
        # Their own indexes would repeat the first column of the two above.
        covered=["doctor", "department"],
    )

    class Meta:
        default_manager_name = "not_ended"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(left_on__isnull=True)
                | models.Q(left_on__gte=models.F("joined_on")),
                name=DATES_RULE,
                violation_error_message=RULE_WORDS[DATES_RULE].on_form,
            ),
        ]
        indexes = [
            models.Index(fields=["department", "doctor"]),
            # Who was in a department on a day, and a doctor's periods.
            # With the last day in it, counting a department's current
            # members reads the index alone (100k doctors: 430 ms for the
            # departments list without it, on SQLite).
            models.Index(
                fields=["department", "joined_on", "left_on"],
                name="membership_dept_days",
            ),
            models.Index(fields=["doctor", "joined_on"], name="membership_doc_joined"),
        ]

    def __str__(self) -> str:
        return f"{self.doctor} in {self.department}"

    @property
    def period_text(self) -> str:
        """ "from 3 March 2024", "3 March 2024 to 31 May 2025"."""
        return periods.describe(self.joined_on, self.left_on)

    def covers(self, day: datetime.date) -> bool:
        return self.joined_on <= day and (self.left_on is None or day <= self.left_on)

    def end(self, last_day: datetime.date | None = None) -> str | None:
        """End this period on `last_day` (yesterday when None: no longer a
        member today), or cancel it when it starts after that day (it never
        happened). What was done, a PeriodEvent; None when it had already
        ended by then."""
        last_day = last_day or periods.yesterday()
        if self.left_on is not None and self.left_on <= last_day:
            return None
        if self.joined_on > last_day:
            self.cancel()
            return periods.PeriodEvent.CANCELLED
        self.left_on = last_day
        self.period_event = periods.PeriodEvent.ENDED
        self.save(update_fields=["left_on"])
        return periods.PeriodEvent.ENDED

    def cancel(self) -> None:
        """Delete a period that never happened (it had not started, or was
        entered by mistake): recorded as a correction."""
        self.period_event = periods.PeriodEvent.CANCELLED
        models.Model.delete(self)

    def conflicts(self) -> list[tuple[str, "Membership"]]:
        """The rules this period would break against the periods stored, as
        (rule name, the other period), for errors that name both."""
        if self.joined_on is None or (
            self.left_on is not None and self.left_on < self.joined_on
        ):
            return []
        # The rules this row is bound by, each with the values another period
        # must share to break it; one query reads the overlapping periods of
        # them all.
        rules = [
            (
                OVERLAP_RULE,
                {"doctor_id": self.doctor_id, "department_id": self.department_id},
            )
        ]
        if self.role == self.Role.HEAD:
            rules.append(
                (HEAD_RULE, {"department_id": self.department_id, "role": "head"})
            )
        if self.is_primary:
            rules.append(
                (PRIMARY_RULE, {"doctor_id": self.doctor_id, "is_primary": True})
            )
        others = list(
            Membership.objects.exclude(pk=self.pk)
            .filter(periods.overlapping(self.joined_on, self.left_on))
            .filter(functools.reduce(operator.or_, (Q(**same) for _, same in rules)))
            .select_related("doctor", "department")
            .order_by("joined_on", "pk")
        )
        found = []
        for rule, same in rules:
            other = next(
                (m for m in others if all(getattr(m, k) == v for k, v in same.items())),
                None,
            )
            if other is not None:
                found.append((rule, other))
        return found

    def clean(self) -> None:
        super().clean()
        if self.doctor_id is None or self.department_id is None:
            return
        problems = []
        for rule, other in self.conflicts():
            if rule == OVERLAP_RULE:
                problems.append(
                    f"{other.doctor} is already in {other.department} "
                    f"{other.period_text}."
                )
            elif rule == HEAD_RULE:
                problems.append(
                    f"{other.department} already has a head {other.period_text}: "
                    f"{other.doctor}."
                )
            else:
                problems.append(
                    f"{other.doctor}'s primary department is already "
                    f"{other.department} {other.period_text}."
                )
        if problems:
            raise ValidationError(problems)


def membership_save_order(
    *, was_head: bool, was_primary: bool, is_head: bool, is_primary: bool
) -> tuple[bool, bool]:
    """A sort key for saving several membership rows one by one without passing
    through a state the constraints refuse (two heads of a department, two
    primary departments of a doctor): rows that only give up a head role or a
    primary flag first, rows that take one last, so a row that gives up one
    flag and takes the other waits for the rows that only give up."""
    gives_up = (was_head and not is_head) or (was_primary and not is_primary)
    takes = (is_head and not was_head) or (is_primary and not was_primary)
    return (takes, not gives_up)


class ActivityEvent(models.Model):
    """One entry of the change-history feed managers read.

    The target is kept as type, id and its text at the time, so the event still
    reads well after the target is deleted.
    """

    Source = ChangeSource

    class Verb(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        DELETED = "deleted", "Deleted"
        MEMBERSHIP_ADDED = "membership_added", "Added to department"
        MEMBERSHIP_CHANGED = "membership_changed", "Membership changed"
        MEMBERSHIP_REMOVED = "membership_removed", "Removed from department"
        BULK_CREATED = "bulk_created", "Bulk creation"
        BULK_UPDATED = "bulk_updated", "Bulk update"
        IMPORTED = "imported", "Imported"
        UNDONE = "undone", "Undone"
        ERASED = "erased", "Personal data erased"

    occurred_at = models.DateTimeField("when", default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_name = models.CharField("who", max_length=150, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    verb = models.CharField(max_length=20, choices=Verb.choices)
    target_type = models.CharField(max_length=20)
    target_id = models.BigIntegerField(null=True, blank=True)
    target_text = models.CharField("target", max_length=255)
    # For membership events: the department side, kept as text like the target.
    department_id = models.BigIntegerField(null=True, blank=True)
    department_text = models.CharField(max_length=255, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    change_set = models.ForeignKey(
        ChangeSet,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["-occurred_at", "-id"]),
            models.Index(fields=["verb", "occurred_at"]),
            # An object's membership changes on its History page, newest first;
            # the verb in the index lets the page count them from it alone.
            models.Index(
                fields=["target_type", "target_id", "-occurred_at", "verb"],
                name="activity_target_time_idx",
            ),
            models.Index(
                fields=["department_id", "-occurred_at", "verb"],
                name="activity_department_time_idx",
            ),
            # The dashboard's counts over a period (per day, per verb, per
            # editor, for a department) read this index alone, not the table.
            models.Index(
                fields=[
                    "occurred_at",
                    "verb",
                    "actor_name",
                    "target_type",
                    "target_id",
                    "department_id",
                ],
                name="activity_dashboard_idx",
            ),
        ]
        permissions = [("view_dashboard", "Can view the manager dashboard")]

    def __str__(self) -> str:
        return f"{self.get_verb_display()}: {self.target_text}"


class WorkerHeartbeat(models.Model):
    """The task worker's sign of life, written by `manage.py run_worker`.

    django-tasks-db's worker leaves no trace while it waits for work, so an
    idle worker and a dead one look the same in its tables; /healthz reads
    these rows instead.
    """

    worker_id = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_beat_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"worker {self.worker_id} on {self.hostname}"


class ImportRun(models.Model):
    """One CSV import: who ran it, on which file, what it did, how long it took.

    A run uploaded in the admin keeps the file's bytes here between the preview
    and the confirmed import, so the task worker (which may run on another
    host) reads the very file the user previewed; they are cleared once the run
    ends.
    """

    class Kind(models.TextChoices):
        DOCTORS = "doctors", "Doctors"
        DEPARTMENTS = "departments", "Departments"
        MEMBERSHIPS = "memberships", "Membership periods"

    class Status(models.TextChoices):
        PREVIEWED = "previewed", "Previewed (not imported)"
        QUEUED = "queued", "Waiting for the worker"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Imported"
        FAILED = "failed", "Failed (nothing written)"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    source = models.CharField(max_length=10, choices=ActivityEvent.Source.choices)
    file_name = models.CharField(max_length=255)
    encoding = models.CharField(max_length=20, blank=True)
    # csv, tsv, xlsx, ods or json (importing.readers.detect.FILE_FORMAT_CHOICES).
    file_format = models.CharField("format", max_length=10, blank=True)
    dry_run = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration = models.FloatField("duration (s)", null=True, blank=True)
    total_rows = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField("errors", default=0)
    # The first problems found, as [row, column, message] lists.
    errors = models.JSONField(default=list, blank=True)
    # Membership counts and anything else the summary shows.
    counts = models.JSONField(default=dict, blank=True)
    # A preview's first row changes, as [row, key, action, {field: [old, new]}].
    preview = models.JSONField(default=list, blank=True)
    content = models.BinaryField(blank=True, default=b"", editable=False)
    # What the preview saw of each row it would write: 8 bytes per clean row,
    # in file order. Confirm writes nothing when the database no longer matches.
    seen = models.BinaryField(blank=True, default=b"", editable=False)
    # When a worker or a request took the run to preview or import it.
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Why, as typed on the preview page; the import's change-set carries it.
    reason = models.CharField(max_length=255, blank=True)
    # What the confirmed import wrote; an undo reverses exactly this.
    change_set = models.ForeignKey(
        ChangeSet,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="import_runs",
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["-started_at", "-id"])]
        permissions = [("undo_importrun", "Can undo an import run")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} from {self.file_name}"


class Run(models.Model):
    """One undo, redo or revert a user asked for: the status row of its life.

    The row is written when the user is shown what the run would do (the
    preview), with the state shown: for an undo or redo the change-set it
    would reverse, for a revert the plan's digest. Confirming claims the row
    with one conditional UPDATE (previewed -> queued or running), so a second
    submission of the same page, at once or later, finds it claimed and is
    told what became of the first. (An import's status row is its ImportRun.)
    """

    class Kind(models.TextChoices):
        UNDO = "undo", "Undo"
        REDO = "redo", "Redo"
        REVERT = "revert", "Revert"

    class Status(models.TextChoices):
        PREVIEWED = "previewed", "Previewed (not confirmed)"
        QUEUED = "queued", "Waiting for the worker"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Done"
        REFUSED = "refused", "Refused (nothing changed)"
        FAILED = "failed", "Failed (nothing changed)"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PREVIEWED
    )
    # What the run is, for messages: "undo of import #4 (doctors.csv)".
    title = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # An undo or redo: the import run, and the change-set shown as the one the
    # run reverses (the end of the run's undo chain when it was previewed).
    import_run = models.ForeignKey(
        ImportRun,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="undo_runs",
    )
    reverses = models.ForeignKey(
        ChangeSet,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # A revert: which record ("doctor" or "department"), to which moment, and
    # the digest of the plan shown.
    subject_type = models.CharField(max_length=20, blank=True)
    subject_id = models.PositiveBigIntegerField(null=True, blank=True)
    moment = models.DateTimeField(null=True, blank=True)
    digest = models.CharField(max_length=64, blank=True)
    # What the user chose on confirming.
    untouched_only = models.BooleanField(default=False)
    reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # What became of it, in a sentence for staff.
    outcome = models.TextField(blank=True)
    # A background run's outcome is shown to its user once, on their next
    # visit to the undo page.
    outcome_shown = models.BooleanField(default=False)
    # What the run wrote.
    change_set = models.ForeignKey(
        ChangeSet,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["import_run", "status"]),
            models.Index(fields=["status", "created_at"]),
        ]

    def __str__(self) -> str:
        return self.title


class WelcomeEmailFailure(models.Model):
    """A doctor whose welcome email could not be sent: why, and what happens next.

    One row per doctor, written by the welcome email task (doctors.tasks) and
    removed once the email goes out. `retry_at` is when the next attempt is
    due; a row with `gave_up` set will not be retried (the reason was
    permanent, or the attempts ran out).
    """

    doctor = models.OneToOneField(
        Doctor, on_delete=models.CASCADE, related_name="welcome_email_failure"
    )
    attempts = models.PositiveSmallIntegerField(default=1)
    reason = models.CharField(max_length=500)
    failed_at = models.DateTimeField("last failure", default=timezone.now)
    retry_at = models.DateTimeField("next attempt", null=True, blank=True)
    gave_up = models.BooleanField(default=False, db_index=True)

    class Meta:
        ordering = ["-failed_at", "-id"]

    def __str__(self) -> str:
        return f"Welcome email to doctor #{self.doctor_id}: {self.reason}"


# The history chain's and erasure's tables live with the code that owns them.
from .ledger.models import (  # noqa: E402, F401
    ChainHead,
    ChainLink,
    ErasedCommitment,
    Erasure,
    PersonalDataKey,
)
