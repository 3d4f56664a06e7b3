"""Realistic, reproducible demo data: departments, doctors, memberships, users.

Everything is derived from fixed seeds and stable keys (department codes and
license numbers DEMO-000001, ...), so running it again creates nothing twice and
a larger run only adds what is missing. Rows are written in bulk with their
history so that 100k doctors take seconds, not minutes.
"""

import datetime
import random
import re
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from faker import Faker
from simple_history.utils import bulk_create_with_history

from . import activity, context, dashboard, demo_history, period_changes
from .bulk import insert_history_rows, insert_rows, tracked_columns
from .importing.diff import NEW_MEMBERSHIP_COLUMNS
from .ledger import chain
from .models import ActivityEvent, Department, Doctor, Membership, Specialty
from .resources import DOCTOR_FIELDS
from .roles import CLINIC_STAFF, MANAGERS

DEPARTMENTS = [
    ("CARD", "Cardiology", Specialty.CARDIOLOGY),
    ("NEUR", "Neurology", Specialty.NEUROLOGY),
    ("ONC", "Oncology", Specialty.ONCOLOGY),
    ("PED", "Pediatrics", Specialty.PEDIATRICS),
    ("ER", "Emergency", Specialty.EMERGENCY_MEDICINE),
    ("RAD", "Radiology", Specialty.RADIOLOGY),
    ("ORTH", "Orthopedics", Specialty.ORTHOPEDICS),
    ("SURG", "General Surgery", Specialty.GENERAL_SURGERY),
    ("DERM", "Dermatology", Specialty.DERMATOLOGY),
    ("PSY", "Psychiatry", Specialty.PSYCHIATRY),
    ("OBGYN", "Obstetrics and Gynecology", Specialty.OBSTETRICS_GYNECOLOGY),
    ("IM", "Internal Medicine", Specialty.INTERNAL_MEDICINE),
    ("GAST", "Gastroenterology", Specialty.GASTROENTEROLOGY),
    ("ENDO", "Endocrinology", Specialty.ENDOCRINOLOGY),
    ("OPHT", "Ophthalmology", Specialty.OPHTHALMOLOGY),
    ("URO", "Urology", Specialty.UROLOGY),
    ("ANES", "Anesthesiology", Specialty.ANESTHESIOLOGY),
    ("FAM", "Family Medicine", Specialty.FAMILY_MEDICINE),
]
DEMO_USERS = [
    ("admin", None, True),
    ("staff", CLINIC_STAFF, False),
    ("manager", MANAGERS, False),
]
BATCH_SIZE = 2000
SEED = 2026


@dataclass
class SeedReport:
    departments_created: int = 0
    doctors_created: int = 0
    memberships_created: int = 0
    heads_assigned: int = 0
    users_created: tuple[str, ...] = ()
    password: str | None = None
    history: demo_history.HistoryReport | None = None


def department_specs(count: int) -> list[tuple[str, str, str]]:
    specs = DEPARTMENTS[:count]
    for number in range(len(DEPARTMENTS) + 1, count + 1):
        specs.append((f"WARD{number}", f"Ward {number}", Specialty.INTERNAL_MEDICINE))
    return specs


def license_number(index: int) -> str:
    return f"DEMO-{index:06d}"


def seed_demo(
    *, doctors: int, departments: int, password: str | None, history: bool = True
) -> SeedReport:
    """The demo clinic. On a first run (no demo doctors yet) it opens a year
    ago and a year of its history follows (demo_history); later runs only add
    what is missing, dated now."""
    report = SeedReport()
    first_run = not Doctor.objects.filter(license_number__startswith="DEMO-").exists()
    now = timezone.now()
    opened = now - datetime.timedelta(days=demo_history.DAYS) if first_run else now
    outer = context.current()
    # The story is written, and dated back, first; then sealed into the history
    # chain in one go, oldest change-set first.
    with transaction.atomic(), chain.paused():
        with context.acting_as(
            outer.user,
            source=outer.source,
            description="Demo clinic: departments, doctors and heads",
        ) as change:
            department_objs = _seed_departments(departments, report)
            _seed_doctors(doctors, department_objs, report, when=opened)
            _assign_heads(department_objs, report, opened=timezone.localdate(opened))
            if report.doctors_created or report.departments_created:
                dashboard.bump_generation_on_commit()
                activity.record_bulk(
                    verb=ActivityEvent.Verb.BULK_CREATED,
                    target_type="doctor",
                    description=(
                        f"Demo data: {report.doctors_created} doctors, "
                        f"{report.departments_created} departments"
                    ),
                    counts={
                        "doctors": report.doctors_created,
                        "departments": report.departments_created,
                        "memberships": report.memberships_created,
                    },
                )
        if change.change_set is not None and first_run:
            demo_history.backdate(change.change_set, opened)
        _seed_users(password, report)
        if first_run and history and report.doctors_created:
            User = get_user_model()
            report.history = demo_history.seed_history(
                staff=User.objects.get(username="staff"),
                admin=User.objects.get(username="admin"),
            )
    chain.seal_unsealed()
    return report


def _seed_departments(count: int, report: SeedReport) -> list[Department]:
    specs = department_specs(count)
    existing = set(
        Department.objects.filter(code__in=[code for code, _, _ in specs]).values_list(
            "code", flat=True
        )
    )
    new = [
        Department(code=code, name=name, description=f"{name} department.")
        for code, name, _ in specs
        if code not in existing
    ]
    if new:
        bulk_create_with_history(
            new,
            Department,
            batch_size=BATCH_SIZE,
            custom_historical_attrs={"change_set": context.current_change_set()},
        )
    report.departments_created = len(new)
    return list(
        Department.objects.filter(code__in=[code for code, _, _ in specs]).order_by(
            "code"
        )
    )


def _name_pools() -> tuple[list[str], list[str]]:
    fake = Faker("en_US")
    fake.seed_instance(SEED)
    first = sorted({fake.first_name() for _ in range(1500)})
    last = sorted({fake.last_name() for _ in range(1500)})
    return first, last


def _email_part(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower()) or "doctor"


def _seed_doctors(
    count: int,
    department_objs: list[Department],
    report: SeedReport,
    *,
    when: datetime.datetime,
) -> None:
    if count <= 0 or not department_objs:
        return
    existing = set(
        Doctor.objects.filter(license_number__startswith="DEMO-").values_list(
            "license_number", flat=True
        )
    )
    first_names, last_names = _name_pools()
    specialties = [choice.value for choice in Specialty]
    department_ids = [department.pk for department in department_objs]
    rng = random.Random(SEED)
    # Joined-on dates count back from the day the clinic's records open.
    today = min(datetime.date(2026, 1, 1), when.date())
    now = when
    # The Resource's columns (doctors.resources) less the memberships, which
    # are rows of their own.
    doctor_columns = ["license_number", *DOCTOR_FIELDS, "created_at", "updated_at"]
    doctor_history_columns = tracked_columns(Doctor)
    membership_history_columns = tracked_columns(Membership)
    for start in range(1, count + 1, BATCH_SIZE):
        doctor_rows = []
        picks_by_license = {}
        earlier_by_license = {}
        for index in range(start, min(start + BATCH_SIZE, count + 1)):
            number = license_number(index)
            if number in existing:
                continue
            # Every choice for doctor N comes from its own seed, so the data is
            # the same whichever batch or run creates it.
            rng.seed(SEED * 1_000_003 + index)
            first = rng.choice(first_names)
            last = rng.choice(last_names)
            email = (
                f"{_email_part(first)}.{_email_part(last)}.{index}@demo-clinic.example"
            )
            values = {
                "license_number": number,
                "first_name": first,
                "last_name": last,
                "email": email,
                "phone": f"+1-555-{index // 10000 % 1000:03d}-{index % 10000:04d}",
                "specialty": rng.choice(specialties),
                "is_active": rng.random() > 0.05,
                "created_at": now,
                "updated_at": now,
            }
            doctor_rows.append(tuple(values[column] for column in doctor_columns))
            picks = rng.sample(
                department_ids, k=min(rng.randint(1, 3), len(department_ids))
            )
            picks_by_license[number] = [
                (department_id, today - datetime.timedelta(days=rng.randint(0, 3650)))
                for department_id in picks
            ]
            earlier_by_license[number] = _earlier_periods(
                rng, picks_by_license[number], department_ids
            )
        if not doctor_rows:
            continue
        insert_rows(Doctor, doctor_columns, doctor_rows)
        licenses = list(picks_by_license)
        _insert_history_of(
            Doctor, doctor_history_columns, now, license_number__in=licenses
        )
        ids = Doctor.objects.filter(license_number__in=licenses).values_list(
            "license_number", "pk"
        )
        member = Membership.Role.MEMBER
        membership_rows = [
            (doctor_id, department_id, member, joined_on, None, position == 0)
            for number, doctor_id in ids
            for position, (department_id, joined_on) in enumerate(
                picks_by_license[number]
            )
        ] + [
            (doctor_id, department_id, member, first, last, False)
            for number, doctor_id in ids
            for department_id, first, last in earlier_by_license[number]
        ]
        insert_rows(Membership, NEW_MEMBERSHIP_COLUMNS, membership_rows)
        _insert_history_of(
            Membership,
            membership_history_columns,
            now,
            doctor__license_number__in=licenses,
        )
        report.doctors_created += len(doctor_rows)
        report.memberships_created += len(membership_rows)


def _earlier_periods(
    rng: random.Random,
    picks: list[tuple[int, datetime.date]],
    department_ids: list[int],
) -> list[tuple[int, datetime.date, datetime.date]]:
    """Periods that ended before the records open, as (department, first day,
    last day): some doctors were in a department before (and rejoined it
    later), some left another department years ago. None of them primary."""
    earlier = []
    department_id, joined_on = picks[-1]
    if rng.random() < 0.12:
        left_on = joined_on - datetime.timedelta(days=rng.randint(60, 400))
        first = left_on - datetime.timedelta(days=rng.randint(90, 2000))
        earlier.append((department_id, first, left_on))
    others = sorted(set(department_ids) - {picked for picked, _ in picks})
    if others and rng.random() < 0.15:
        first = picks[0][1] - datetime.timedelta(days=rng.randint(400, 3000))
        left_on = first + datetime.timedelta(days=rng.randint(90, 380))
        earlier.append((rng.choice(others), first, left_on))
    return earlier


def _insert_history_of(model, columns, when, **lookup) -> None:
    """Write "created" history rows for the rows of `model` matching `lookup`
    (every row: ended periods too)."""
    rows = model._base_manager.filter(**lookup).values_list(*columns)
    insert_history_rows(model, columns, rows, history_type="+", when=when)


def _assign_heads(
    department_objs: list[Department], report: SeedReport, *, opened: datetime.date
) -> None:
    """Give every department without a head today one: its longest-serving
    member, head from a day in the years before the records open (or from
    joining, if later)."""
    headed = set(
        Membership.objects.current()
        .filter(role=Membership.Role.HEAD)
        .values_list("department_id", flat=True)
    )
    rng = random.Random(SEED)
    for department in department_objs:
        if department.pk in headed:
            continue
        senior = (
            Membership.objects.current()
            .filter(department=department, doctor__is_active=True)
            .order_by("joined_on", "pk")
            .first()
        )
        if senior is None:
            continue
        since = opened - datetime.timedelta(days=rng.randint(200, 2500))
        period_changes.make_head(senior, max(since, senior.joined_on))
        report.heads_assigned += 1


def _seed_users(password: str | None, report: SeedReport) -> None:
    User = get_user_model()
    missing = [
        spec
        for spec in DEMO_USERS
        if not User.objects.filter(username=spec[0]).exists()
    ]
    if not missing:
        return
    report.password = password or secrets.token_urlsafe(12)
    # Hashing is deliberately slow; the three demo users share one hash.
    encoded = make_password(report.password)
    for username, group_name, is_superuser in missing:
        user = User(
            username=username,
            email=f"{username}@demo-clinic.example",
            is_staff=True,
            is_superuser=is_superuser,
        )
        user.password = encoded
        user.save()
        if group_name:
            user.groups.add(Group.objects.get(name=group_name))
    report.users_created = tuple(username for username, _, _ in missing)
