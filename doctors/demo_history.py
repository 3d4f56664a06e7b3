"""A year in the life of the demo clinic, so the dashboard, the feed, a doctor's
timeline and "members on a date" show something real at the first run.

Every step goes through the product's own paths (saves and their signals, the
importer, the undo), each as a change-set of its own with the person and the
reason, and is then dated on its day of the past year: the change-set, its feed
events, its history rows and its import run. Joins take their day as the
joined-on date. The steps are drawn from a fixed seed, so two first runs tell
the same story.

The rules hold at every step: a doctor's primary department is never left, a
department keeps exactly one head (the old head steps down before the new one
takes over), and joins are never primary.
"""

import csv
import datetime
import io
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.utils import timezone

from . import exporting
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
    kinds = ["join", "join", "leave", "join", "handover", "specialty", "leave"]
    agenda = []
    for position, days_back in enumerate(STEP_DAYS):
        kind = "rename" if position in (9, 24) else kinds[position % len(kinds)]
        agenda.append((days_back, kind, staff if position % 3 else admin))
    agenda += [
        (FIRST_IMPORT_DAY, "first import", staff),
        (SECOND_IMPORT_DAY, "second import", staff),
        (RENAME_DEPARTMENT_DAY, "rename department", admin),
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
        else:
            report.change_sets += _step(kind, rng, day, user)
    return report


def _step(kind: str, rng: random.Random, day: datetime.date, user) -> bool:
    reason = rng.choice(REASONS[kind])
    with _on(day, user, reason) as done:
        done.happened = {
            "join": _join,
            "leave": _leave,
            "handover": _handover,
            "rename": _rename_doctor,
            "specialty": _change_specialty,
        }[kind](rng, day)
    return done.happened


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


def _join(rng: random.Random, day: datetime.date) -> bool:
    doctor = rng.choice(list(_active_doctors()[:400]))
    taken = set(doctor.memberships.values_list("department_id", flat=True))
    free = list(Department.objects.exclude(pk__in=taken).order_by("pk"))
    if not free or len(taken) >= 3:
        return False
    Membership.objects.create(
        doctor=doctor, department=rng.choice(free), joined_on=day, is_primary=False
    )
    return True


def _leave(rng: random.Random, day: datetime.date) -> bool:
    # Shared posts only: never a primary department, never a head.
    candidates = list(
        Membership.objects.filter(is_primary=False, role=Membership.Role.MEMBER)
        .select_related("doctor", "department")
        .order_by("pk")[:400]
    )
    if not candidates:
        return False
    rng.choice(candidates).delete()
    return True


def _handover(rng: random.Random, day: datetime.date) -> bool:
    heads = list(
        Membership.objects.filter(role=Membership.Role.HEAD)
        .select_related("department")
        .order_by("pk")
    )
    if not heads:
        return False
    old = rng.choice(heads)
    successors = list(
        Membership.objects.filter(
            department_id=old.department_id,
            role=Membership.Role.MEMBER,
            doctor__is_active=True,
        ).order_by("joined_on", "pk")[:5]
    )
    if not successors:
        return False
    new = rng.choice(successors)
    # One head per department at every moment: the old one steps down first.
    old.role = Membership.Role.MEMBER
    old.save()
    new.role = Membership.Role.HEAD
    new.save()
    return True


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
