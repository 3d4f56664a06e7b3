"""A year in the life of the demo clinic, so the dashboard, the feed, a doctor's
timeline and "members on a date" show something real at the first run.

Every step goes through the product's own paths (doctors.period_changes and
the many-to-many managers, saves and their signals, the importer, the undo),
each as a change-set of its own with the person and the reason, and is then
dated on its day of the past year: the change-set, its feed events, its
history rows and its import run. The periods take the step's day in the
clinic's calendar: a join starts on it, a leave ends on it, a head hand-over
or a primary move holds from it. A few steps are corrections (a first day
entered wrong), and the last days record what is planned: joins from a day
still to come (one of them called off again) and a leave on a future day.
The steps are drawn from a fixed seed, so two first runs tell the same story.

The rules hold on every day, so a step the rules would refuse is skipped (the
story goes on): a doctor's primary department is never left, a department
keeps one head (a hand-over ends the old head's period the day before), and
joins are never primary.
"""

import csv
import datetime
import io
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from . import exporting, period_changes, periods
from .context import acting_as
from .ledger import guard
from .models import (
    ActivityEvent,
    ChangeSet,
    Department,
    Doctor,
    ImportRun,
    Membership,
    Specialty,
)
from .runs import imports, undos
from .runs.imports import DOCTORS

SEED = 2027
DAYS = 365
# Days back from today on which something happens (0 is today). Denser in the
# last month, so the dashboard's default period has something to show.
STEP_DAYS = [
    352, 340, 331, 318, 305, 296, 284, 271, 262, 248, 236, 225, 214, 203, 190,
    178, 167, 151, 140, 126, 113, 101, 92, 80, 71, 60, 48, 40, 33, 27, 22, 18,
    14, 11, 8, 6, 4, 2, 1,
]  # fmt: skip
FIRST_IMPORT_DAY = 209
SECOND_IMPORT_DAY = 52
UNDO_DAY = 51
# Days back on which the future is planned: joins from a day still to come, a
# leave on a future day, and (the last) one planned join called off.
PLANNING_DAYS = [8, 7, 5, 4, 3, 1]
# How far ahead each planned change is, in days from today.
PLANNED_JOINS = {8: 21, 7: 14, 5: 45, 3: 90}
PLANNED_LEAVE_DAY, PLANNED_LEAVE_AHEAD = 4, 30
RENAME_DEPARTMENT_DAY = 158
RENAMED_DEPARTMENT = ("ER", "Emergency Medicine")
REASONS = {
    "join": [
        "Joins the team after the spring hiring round",
        "Covering the new evening clinic",
        "Transferred at her own request",
        "Second post agreed with both heads",
    ],
    "leave": [
        "Rota reorganised",
        "Moved to full time in the primary department",
        "Left the shared post",
    ],
    "rejoin": ["Back from parental leave", "Returns after a year abroad"],
    "primary": ["Main post moved after the reorganisation", "Asked to move her post"],
    "correct": ["First day was entered wrong", "HR confirmed the start date"],
    "handover": ["Head of department handover", "Previous head retired"],
    "rename": ["Name change after marriage", "Corrected spelling of the name"],
    "specialty": ["Board certification completed", "Retrained"],
}
NEW_LAST_NAMES = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Castillo"]


@dataclass
class HistoryReport:
    change_sets: int = 0
    imports: int = 0
    undos: int = 0


def seed_history(*, staff, admin) -> HistoryReport:
    """Write the year's steps, oldest first; call inside the seeding
    transaction, once, on a fresh demo clinic (doctors, departments and heads
    already there, dated a year ago)."""
    report = HistoryReport()
    if Department.objects.count() < 2 or Doctor.objects.count() < 10:
        return report
    rng = random.Random(SEED)
    today = timezone.localdate()
    kinds = [
        "join",
        "leave",
        "handover",
        "rejoin",
        "primary",
        "specialty",
        "join",
        "correct",
        "leave",
    ]
    agenda = []
    for position, days_back in enumerate(STEP_DAYS):
        kind = "rename" if position in (9, 24) else kinds[position % len(kinds)]
        agenda.append((days_back, kind, staff if position % 3 else admin))
    agenda += [
        (FIRST_IMPORT_DAY, "first import", staff),
        (SECOND_IMPORT_DAY, "second import", staff),
        (RENAME_DEPARTMENT_DAY, "rename department", admin),
        *((days_back, "plan", staff) for days_back in PLANNING_DAYS),
    ]
    # Oldest first: the history tables then tell the story in its order.
    for days_back, kind, user in sorted(agenda, key=lambda step: -step[0]):
        day = today - datetime.timedelta(days=days_back)
        if kind == "first import":
            report.imports += _import_phones(rng, day, user)
        elif kind == "second import":
            run = _import_wrong_specialties(rng, day, user)
            if run is not None:
                report.imports += 1
                undo_day = today - datetime.timedelta(days=UNDO_DAY)
                report.undos += _undo(run, undo_day, admin)
        elif kind == "rename department":
            report.change_sets += _rename_department(day, user)
        elif kind == "plan":
            report.change_sets += _plan(rng, day, user, today)
        else:
            report.change_sets += _step(kind, rng, day, user)
    return report


def _step(kind: str, rng: random.Random, day: datetime.date, user) -> bool:
    reason = rng.choice(REASONS[kind])
    with _on(day, user, reason) as done:
        done.happened = _refused_is_skipped(
            {
                "join": _join,
                "leave": _leave,
                "rejoin": _rejoin,
                "primary": _move_primary,
                "correct": _correct_first_day,
                "handover": _handover,
                "rename": _rename_doctor,
                "specialty": _change_specialty,
            }[kind],
            rng,
            day,
        )
    return done.happened


def _refused_is_skipped(step, *args) -> bool:
    """Run a step; one the rules refuse (a form would show why) writes
    nothing and the story goes on."""
    try:
        with transaction.atomic():
            return step(*args)
    except (ValidationError, IntegrityError):
        return False


class _Done:
    happened = False


@contextmanager
def _on(day: datetime.date, user, reason: str = "", **kwargs) -> Iterator[_Done]:
    """One change-set by `user`, dated at a working hour of `day`."""
    done = _Done()
    source = ActivityEvent.Source.ADMIN
    with acting_as(user, source=source, reason=reason, **kwargs) as change:
        yield done
    if change.change_set is not None:
        backdate(change.change_set, _working_hour(day, change.change_set.pk))


def _working_hour(day: datetime.date, salt: int) -> datetime.datetime:
    moment = datetime.time(hour=8 + salt % 9, minute=(salt * 7) % 60)
    return datetime.datetime.combine(day, moment, timezone.get_current_timezone())


def backdate(change_set: ChangeSet, when: datetime.datetime) -> None:
    """Move everything `change_set` wrote to `when`. The change-set is not
    sealed yet (seed_demo pauses the history chain, then seals the whole
    story): its history rows may still change, through the sanctioned path
    (PostgreSQL's guard refuses any other)."""
    ChangeSet.objects.filter(pk=change_set.pk).update(
        started_at=when, ended_at=when + datetime.timedelta(seconds=20)
    )
    with guard.sanctioned():
        ActivityEvent.objects.filter(change_set=change_set).update(occurred_at=when)
        for model in (Doctor, Department, Membership):
            model.history.filter(change_set=change_set).update(history_date=when)
    ImportRun.objects.filter(change_set=change_set).update(
        started_at=when, finished_at=when + datetime.timedelta(seconds=20)
    )


def _active_doctors():
    return Doctor.objects.filter(is_active=True).order_by("pk")


def _periods_on(day: datetime.date):
    return Membership.objects.covering(day).select_related("doctor", "department")


def _join(rng: random.Random, day: datetime.date) -> bool:
    """A doctor joins another department from `day`; every other join through
    the many-to-many manager, as a script would."""
    doctors = list(_active_doctors()[:400])
    for doctor in rng.sample(doctors, min(5, len(doctors))):
        taken = set(
            Membership.objects.filter(doctor=doctor)
            .filter(periods.not_ended(day))
            .values_list("department_id", flat=True)
        )
        free = list(Department.objects.exclude(pk__in=taken).order_by("pk"))
        if free and len(taken) < 3:
            break
    else:
        return False
    department = rng.choice(free)
    if rng.random() < 0.5:
        doctor.departments.add(department, through_defaults={"joined_on": day})
    else:
        period_changes.join(doctor, department, first_day=day)
    return True


def _leave(rng: random.Random, day: datetime.date) -> bool:
    """A shared post ends on `day` (never a primary department, never a head)."""
    candidates = list(
        _periods_on(day)
        .filter(is_primary=False, role=Membership.Role.MEMBER, left_on__isnull=True)
        .order_by("pk")[:400]
    )
    if not candidates:
        return False
    period_changes.leave([rng.choice(candidates)], day)
    return True


def _rejoin(rng: random.Random, day: datetime.date) -> bool:
    """A doctor who left a department comes back to it from `day`."""
    still_there = Membership.objects.filter(
        periods.not_ended(day),
        doctor_id=models.OuterRef("doctor_id"),
        department_id=models.OuterRef("department_id"),
    )
    left = list(
        Membership.objects.filter(left_on__lt=day, doctor__is_active=True)
        .exclude(models.Exists(still_there))
        .select_related("doctor", "department")
        .order_by("pk")[:400]
    )
    rng.shuffle(left)
    for earlier in left:
        # At most three departments at a time, as everywhere in the demo.
        if _departments_of(earlier.doctor_id, day) < 3:
            period_changes.join(earlier.doctor, earlier.department, first_day=day)
            return True
    return False


def _departments_of(doctor_id: int, day: datetime.date) -> int:
    """How many departments the doctor is in on `day` or joins later."""
    return (
        Membership.objects.filter(periods.not_ended(day), doctor_id=doctor_id)
        .values("department_id")
        .distinct()
        .count()
    )


def _move_primary(rng: random.Random, day: datetime.date) -> bool:
    """A doctor's primary department is another of theirs from `day`."""
    candidates = list(
        _periods_on(day)
        .filter(is_primary=False, doctor__is_active=True)
        .order_by("pk")[:400]
    )
    if not candidates:
        return False
    period_changes.make_primary(rng.choice(candidates), day)
    return True


def _correct_first_day(rng: random.Random, day: datetime.date) -> bool:
    """A first day entered wrong (by a week) is corrected: the period is
    rewritten, recorded as a correction, not as a change."""
    recent = list(
        Membership.objects.filter(
            joined_on__gt=day - datetime.timedelta(days=90), joined_on__lte=day
        ).order_by("pk")
    )
    rng.shuffle(recent)
    # The first that the rules allow (a period following another of the same
    # doctor in the same department cannot start earlier).
    for period in recent[:20]:
        try:
            period_changes.correct(
                period, joined_on=period.joined_on - datetime.timedelta(days=7)
            )
        except ValidationError:
            continue
        return True
    return False


def _handover(rng: random.Random, day: datetime.date) -> bool:
    """A member becomes head from `day`; the head until then is a member from
    that day."""
    heads = list(_periods_on(day).filter(role=Membership.Role.HEAD).order_by("pk"))
    if not heads:
        return False
    old = rng.choice(heads)
    successors = list(
        _periods_on(day)
        .filter(
            department_id=old.department_id,
            role=Membership.Role.MEMBER,
            doctor__is_active=True,
        )
        .order_by("joined_on", "pk")[:5]
    )
    if not successors:
        return False
    period_changes.make_head(rng.choice(successors), day)
    return True


def _plan(rng: random.Random, day: datetime.date, user, today: datetime.date) -> bool:
    """What staff recorded on `day` about days still to come."""
    days_back = (today - day).days
    with _on(day, user, "Planned with the department") as done:
        if days_back in PLANNED_JOINS:
            first_day = today + datetime.timedelta(days=PLANNED_JOINS[days_back])
            done.happened = _refused_is_skipped(_join, rng, first_day)
        elif days_back == PLANNED_LEAVE_DAY:
            last_day = today + datetime.timedelta(days=PLANNED_LEAVE_AHEAD)
            done.happened = _refused_is_skipped(_leave, rng, last_day)
        else:
            planned = (
                Membership.objects.filter(joined_on__gt=today).order_by("pk").first()
            )
            if planned is not None:
                period_changes.cancel(planned)
                done.happened = True
    return done.happened


def _rename_doctor(rng: random.Random, day: datetime.date) -> bool:
    doctor = rng.choice(list(_active_doctors()[:400]))
    doctor.last_name = rng.choice(NEW_LAST_NAMES)
    doctor.save()
    return True


def _change_specialty(rng: random.Random, day: datetime.date) -> bool:
    doctor = rng.choice(list(_active_doctors()[:400]))
    others = [choice for choice in Specialty if choice != doctor.specialty]
    doctor.specialty = rng.choice(others)
    doctor.save()
    return True


def _rename_department(day: datetime.date, user) -> bool:
    code, name = RENAMED_DEPARTMENT
    department = Department.objects.filter(code=code).first()
    if department is None or department.name == name:
        return False
    with _on(day, user, "The department's new name from the board"):
        department.name = name
        department.save()
    return True


def _import(rows: list[list], *, file_name: str, user) -> ImportRun | None:
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    result = imports.import_file(
        DOCTORS,
        io.BytesIO(text.getvalue().encode()),
        file_name=file_name,
        user=user,
    )
    return result.run if result.ok else None


def _sample_rows(rng: random.Random, count: int) -> list[list]:
    """The header and `count` doctors as an export writes them."""
    ids = list(_active_doctors().values_list("pk", flat=True)[:400])
    chosen = Doctor.objects.filter(pk__in=rng.sample(ids, min(count, len(ids))))
    rows = [list(row) for row in exporting.doctor_rows(chosen.order_by("pk"))]
    return [[_cell(value) for value in row] for row in rows]


def _cell(value) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "" if value is None else str(value)


def _import_phones(rng: random.Random, day: datetime.date, user) -> int:
    """The switchboard's new numbers, imported from a spreadsheet."""
    rows = _sample_rows(rng, 8)
    phone = rows[0].index("phone")
    for number, row in enumerate(rows[1:], start=1):
        row[phone] = f"+1-555-200-{number:04d}"
    run = _import(rows, file_name="switchboard-numbers.csv", user=user)
    if run is None:
        return 0
    _date_run(run, day)
    return 1


def _import_wrong_specialties(
    rng: random.Random, day: datetime.date, user
) -> ImportRun | None:
    """A roster whose specialty column was shifted by one: undone next day."""
    rows = _sample_rows(rng, 6)
    specialty = rows[0].index("specialty")
    for row in rows[1:]:
        row[specialty] = Specialty.FAMILY_MEDICINE
    run = _import(rows, file_name="roster-march.csv", user=user)
    if run is not None:
        _date_run(run, day)
    return run


def _date_run(run: ImportRun, day: datetime.date) -> None:
    run.refresh_from_db()
    if run.change_set_id is not None:
        backdate(run.change_set, _working_hour(day, run.pk))


def _undo(run: ImportRun, day: datetime.date, user) -> int:
    result = undos.undo_now(
        run,
        user,
        source=ActivityEvent.Source.ADMIN,
        reason="The specialty column was shifted by one",
    )
    if result.change_set is None:
        return 0
    backdate(result.change_set, _working_hour(day, result.change_set.pk))
    return 1
