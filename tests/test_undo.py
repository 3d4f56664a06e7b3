"""Undoing an import run (doctors/undo.py): every field back, conflicts refused,
the undo of the undo redoes, in bulk."""

import datetime
import io

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from doctors import dashboard, undo
from doctors.context import acting_as
from doctors.importing.runner import import_departments, import_doctors
from doctors.models import (
    ActivityEvent,
    ChangeSet,
    Department,
    Doctor,
    ImportRun,
    Membership,
)
from doctors.runs import access, progress, tasks, undos
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory

pytestmark = pytest.mark.django_db

HEADER = (
    "license_number,first_name,last_name,email,phone,specialty,departments,is_active"
)
# Every doctor, department and membership field, not counts: what "equal"
# means below. A doctor's "last change" time moves on every write, so it is
# left out.
DOCTOR_FIELDS = [
    f.attname for f in Doctor._meta.concrete_fields if f.attname != "updated_at"
]
DEPARTMENT_FIELDS = [
    f.attname for f in Department._meta.concrete_fields if f.attname != "updated_at"
]
MEMBERSHIP_FIELDS = [f.attname for f in Membership._meta.concrete_fields]


TODAY = timezone.localdate()
ONE_DAY = datetime.timedelta(days=1)
YESTERDAY = TODAY - ONE_DAY
LAST_YEAR = TODAY - datetime.timedelta(days=365)


def state() -> dict[str, list[tuple]]:
    return {
        "doctors": list(Doctor.objects.order_by("pk").values_list(*DOCTOR_FIELDS)),
        "departments": list(
            Department.objects.order_by("pk").values_list(*DEPARTMENT_FIELDS)
        ),
        "memberships": list(
            Membership.objects.order_by("pk").values_list(*MEMBERSHIP_FIELDS)
        ),
    }


def csv_bytes(*lines: str, header: str = HEADER) -> bytes:
    return "\r\n".join([header, *lines, ""]).encode()


@pytest.fixture
def clinic():
    return build_clinic()


def build_clinic() -> dict[str, Department]:
    """Departments CARD (headed by LIC-HEAD), NEUR, ONC and three doctors."""
    card = DepartmentFactory(code="CARD", name="Cardiology")
    neur = DepartmentFactory(code="NEUR", name="Neurology")
    onc = DepartmentFactory(code="ONC", name="Oncology")
    head = DoctorFactory(
        license_number="LIC-HEAD", first_name="Hal", email="head@clinic.test"
    )
    MembershipFactory(doctor=head, department=card, role="head", is_primary=True)
    ann = DoctorFactory(license_number="LIC-ANN", first_name="Ann", phone="111")
    MembershipFactory(doctor=ann, department=card, is_primary=True)
    MembershipFactory(doctor=ann, department=neur)
    bo = DoctorFactory(license_number="LIC-BO", first_name="Bo")
    MembershipFactory(doctor=bo, department=onc, role="head")
    return {"card": card, "neur": neur, "onc": onc}


# A file that changes a bit of everything: Ann's phone and departments (NEUR
# becomes primary, CARD dropped), Bo hands ONC's headship to a new doctor and
# heads CARD instead, the old head leaves CARD, a new doctor arrives.
DAMAGE = csv_bytes(
    "LIC-HEAD,Hal,Roe,head@clinic.test,,Cardiology,,true",
    "LIC-ANN,Ann,Roe,lic-ann@clinic.test,999,Cardiology,NEUR,true",
    "LIC-BO,Bo,Roe,lic-bo@clinic.test,,Cardiology,CARD:head|ONC,false",
    "LIC-NEW,Cy,New,cy@clinic.test,,Neurology,ONC:head,true",
)


def run_import(data: bytes = DAMAGE, user=None) -> ImportRun:
    result = import_doctors(io.BytesIO(data), file_name="doctors.csv", user=user)
    assert result.ok, result.problems
    return result.run


def test_undo_restores_every_field_and_undo_of_undo_redoes(clinic, superuser):
    before = state()
    run = run_import(user=superuser)
    after = state()
    assert after != before

    preview = undo.preview_undo(run)
    assert not preview.conflicts
    assert preview.counts["doctor"] == {"delete": 1, "update": 2}
    assert state() == after, "a preview writes nothing"

    result = undo.undo_import(run, user=superuser, reason="Wrong file")
    assert not result.refused, result.summary()
    assert state() == before
    assert result.change_set.undoes == run.change_set
    assert result.change_set.reason == "Wrong file"
    assert undo.is_undone(run)

    redo = undo.undo_import(run, user=superuser)
    assert redo.redo
    assert not redo.refused, redo.summary()
    assert state() == after
    assert redo.change_set.undoes == result.change_set
    assert not undo.is_undone(run)

    again = undo.undo_import(run, user=superuser)
    assert not again.redo and not again.refused
    assert state() == before


def test_undo_of_an_import_that_ended_and_split_periods_restores_them(superuser):
    """Periods ended yesterday, split by a head change from today, started
    today: undo gives back every period as it was (same ids, same days),
    with a history row each; redo makes them again."""
    card = DepartmentFactory(code="CARD", name="Cardiology")
    neur = DepartmentFactory(code="NEUR", name="Neurology")
    ann = DoctorFactory(license_number="LIC-ANN", email="ann@clinic.test")
    bo = DoctorFactory(license_number="LIC-BO", email="bo@clinic.test")
    # Ann was in NEUR before, left, and joined again: two periods there.
    MembershipFactory(
        doctor=ann, department=neur, joined_on=LAST_YEAR, left_on=LAST_YEAR + ONE_DAY
    )
    MembershipFactory(doctor=ann, department=neur, joined_on=LAST_YEAR + 10 * ONE_DAY)
    MembershipFactory(
        doctor=ann, department=card, role="head", is_primary=True, joined_on=LAST_YEAR
    )
    MembershipFactory(doctor=bo, department=card, is_primary=True, joined_on=LAST_YEAR)
    before = state()
    history_before = Membership.history.count()
    run = run_import(
        csv_bytes(
            "LIC-ANN,Ann,Lee,ann@clinic.test,,Cardiology,CARD,true",
            "LIC-BO,Bo,Ray,bo@clinic.test,,Cardiology,CARD:head|NEUR,true",
        ),
        user=superuser,
    )
    after = state()
    ann_periods = sorted(
        Membership.objects.filter(doctor=ann).values_list(
            "department__code", "joined_on", "left_on", "role"
        )
    )
    assert ann_periods == [
        ("CARD", LAST_YEAR, YESTERDAY, "head"),
        ("CARD", TODAY, None, "member"),
        ("NEUR", LAST_YEAR, LAST_YEAR + ONE_DAY, "member"),
        ("NEUR", LAST_YEAR + 10 * ONE_DAY, YESTERDAY, "member"),
    ]
    written = Membership.history.count() - history_before

    preview = undo.preview_undo(run)
    assert not preview.conflicts, "several periods in one department are no conflict"
    result = undo.undo_import(run, user=superuser)
    assert not result.refused, result.summary()
    assert state() == before
    # One history row per period the undo wrote: the ended ones changed
    # back, the new ones deleted.
    undone = Membership.history.filter(change_set=result.change_set)
    assert undone.count() == written
    assert set(undone.values_list("history_type", flat=True)) == {"~", "-"}

    redo = undo.undo_import(run, user=superuser)
    assert not redo.refused, redo.summary()
    assert state() == after


def test_a_period_started_since_in_the_department_is_a_conflict(superuser):
    card = DepartmentFactory(code="CARD", name="Cardiology")
    ann = DoctorFactory(license_number="LIC-ANN", email="ann@clinic.test")
    MembershipFactory(doctor=ann, department=card, joined_on=LAST_YEAR)
    run = run_import(
        csv_bytes("LIC-ANN,Ann,Lee,ann@clinic.test,,Cardiology,,true"), user=superuser
    )
    # Since the import ended it yesterday, Ann joined again today.
    Membership.objects.create(doctor=ann, department=card, joined_on=TODAY)
    preview = undo.preview_undo(run)
    [conflict] = preview.conflicts
    assert "added to this department again since" in conflict.reason


def test_undo_is_one_change_set_one_event_history_in_bulk(clinic, superuser):
    run = run_import(user=superuser)
    events_before = ActivityEvent.objects.count()
    with CaptureQueriesContext(connection) as queries:
        result = undo.undo_import(run, user=superuser)
    change_set = result.change_set
    event = ActivityEvent.objects.get(change_set=change_set)
    assert ActivityEvent.objects.count() == events_before + 1
    assert event.verb == ActivityEvent.Verb.UNDONE
    assert event.target_text == f"Undid import #{run.pk}"
    assert event.actor == superuser
    assert change_set.description.startswith(f"Undid import #{run.pk}")
    # One history row per record restored, all in the undo's change-set.
    assert Doctor.history.filter(change_set=change_set).count() == 3
    deleted = Doctor.history.get(change_set=change_set, history_type="-")
    assert deleted.license_number == "LIC-NEW"
    memberships = Membership.history.filter(change_set=change_set)
    assert memberships.count() == sum(result.counts["membership"].values())
    assert change_set.counts == {
        "membership": memberships.count(),
        "doctor": 3,
        "events": 1,
    }
    # In bulk: the statements do not grow with the rows.
    assert len(queries) < 60, "\n".join(q["sql"][:120] for q in queries)


@pytest.mark.django_db(transaction=True)
def test_the_cache_is_bumped_once_per_committed_undo(clinic, superuser):
    run = run_import(user=superuser)
    generation = dashboard.current_generation()
    undo.undo_import(run, user=superuser)
    assert dashboard.current_generation() == generation + 1


def test_a_later_edit_refuses_the_undo_and_changes_nothing(clinic, superuser):
    run = run_import(user=superuser)
    with acting_as(superuser, source="admin", description="edit"):
        ann = Doctor.objects.get(license_number="LIC-ANN")
        ann.phone = "555"
        ann.save()
    edited = ChangeSet.objects.latest("pk")
    now = state()
    events = ActivityEvent.objects.count()

    result = undo.undo_import(run, user=superuser)
    assert result.refused
    assert [(c.model, c.id, c.change_set_id) for c in result.conflicts] == [
        ("doctor", ann.pk, edited.pk)
    ]
    assert "LIC-ANN" in str(result.conflicts[0])
    assert "nothing was changed" in result.summary()
    assert state() == now
    assert ActivityEvent.objects.count() == events
    assert result.change_set is None
    assert not undo.is_undone(run)


def test_undo_of_only_the_untouched_rows(clinic, superuser):
    before = state()
    run = run_import(user=superuser)
    with acting_as(superuser, source="admin", description="edit"):
        ann = Doctor.objects.get(license_number="LIC-ANN")
        ann.phone = "555"
        ann.save()

    result = undo.undo_import(run, user=superuser, untouched_only=True)
    assert not result.refused, result.summary()
    assert result.conflict_count == 1
    assert "1 record changed afterwards was left as it is" in result.summary()
    now = state()
    ann_now = next(d for d in now["doctors"] if d[1] == "LIC-ANN")
    assert ann_now[DOCTOR_FIELDS.index("phone")] == "555"
    # Everything else is as before the import (memberships included).
    assert [d for d in now["doctors"] if d[1] != "LIC-ANN"] == [
        d for d in before["doctors"] if d[1] != "LIC-ANN"
    ]
    assert now["memberships"] == before["memberships"]


def test_a_doctor_the_run_created_and_someone_placed_since_is_a_conflict(
    clinic, superuser
):
    run = run_import(user=superuser)
    new = Doctor.objects.get(license_number="LIC-NEW")
    with acting_as(superuser, source="admin"):
        MembershipFactory(doctor=new, department=clinic["card"])
    result = undo.undo_import(run, user=superuser)
    assert result.refused
    assert ("doctor", new.pk) in {(c.model, c.id) for c in result.conflicts}
    assert Doctor.objects.filter(pk=new.pk).exists()


def test_a_department_import_undone_and_redone(superuser):
    DepartmentFactory(code="CARD", name="Cardiology", description="Heart")
    before = state()
    result = import_departments(
        io.BytesIO(
            b"code,name,description,is_active\r\n"
            b"CARD,Cardiology,Hearts and vessels,false\r\nER,Emergency,,true\r\n"
        ),
        file_name="departments.csv",
        user=superuser,
    )
    after = state()
    run = result.run
    undone = undo.undo_import(run, user=superuser)
    assert not undone.refused
    assert state() == before
    undo.undo_import(run, user=superuser)
    assert state() == after


def test_a_run_that_wrote_nothing_cannot_be_undone(clinic, superuser):
    result = import_doctors(
        io.BytesIO(DAMAGE), file_name="doctors.csv", user=superuser, dry_run=True
    )
    with pytest.raises(undo.UndoError):
        undo.preview_undo(result.run)


def test_only_own_runs_for_clinic_staff_every_run_for_superusers(
    clinic, clinic_staff, superuser, manager
):
    own = run_import(user=clinic_staff)
    other = ImportRun.objects.create(
        kind="doctors", status="succeeded", source="admin", file_name="x.csv"
    )
    assert access.may_undo(clinic_staff, own)
    assert not access.may_undo(clinic_staff, other)
    assert access.may_undo(superuser, own) and access.may_undo(superuser, other)
    assert not access.may_undo(manager, own)


def test_undo_in_the_worker_reports_progress(clinic, superuser, settings):
    before = state()
    run = run_import(user=superuser)
    settings.IMPORT_BACKGROUND_ROWS = 0
    attempt, _ = undos.prepare(run, superuser)
    assert undos.confirm(run, superuser, attempt_id=attempt.pk).queued
    summary = tasks.run_queued_undo.call(attempt.pk)
    assert summary.startswith(f"Undid import #{run.pk}")
    assert state() == before
    attempt.refresh_from_db()
    assert (attempt.status, attempt.outcome) == ("succeeded", summary)
    numbers = progress.read(progress.UNDO, attempt.pk)
    assert numbers["phase"] == "done"
    assert numbers["done"] == numbers["total"] > 0
    cache.delete(f"undo-progress:{attempt.pk}")
    # The task, run again, finds the run done and does nothing.
    assert tasks.run_queued_undo.call(attempt.pk).endswith("nothing to do.")
    assert state() == before


CODES = ["CARD", "NEUR", "ONC", "DERM"]
departments_cell = st.lists(
    st.tuples(st.sampled_from(CODES), st.booleans()),
    max_size=3,
    unique_by=lambda entry: entry[0],
)
file_row = st.fixed_dictionaries(
    {
        "phone": st.sampled_from(["", "111", "222"]),
        "active": st.booleans(),
        "departments": departments_cell,
        "no_primary": st.booleans(),
    }
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    existing=st.lists(departments_cell, max_size=5),
    rows=st.lists(st.tuples(st.integers(0, 7), file_row), max_size=8),
)
def test_any_import_is_undone_and_redone_exactly(existing, rows):
    """Whatever the clinic and the file, undo gives back every field as before
    the import and the undo of the undo every field as after it."""
    try:
        with transaction.atomic():
            _undo_and_redo_any_import(existing, rows)
            raise _EachExampleStartsAfresh
    except _EachExampleStartsAfresh:
        pass


class _EachExampleStartsAfresh(Exception):
    """Rolls an example's rows back (the test's own transaction stays)."""


def _undo_and_redo_any_import(existing, rows) -> None:
    departments = {code: DepartmentFactory(code=code, name=code) for code in CODES}
    heads = set()
    for index, entries in enumerate(existing):
        doctor = DoctorFactory(license_number=f"LIC-{index}")
        if index % 3 == 0:
            # A past period: the import leaves it as it is.
            MembershipFactory(
                doctor=doctor,
                department=departments["DERM"],
                joined_on=LAST_YEAR - ONE_DAY * 100,
                left_on=LAST_YEAR - ONE_DAY,
            )
        for position, (code, head) in enumerate(entries):
            head = head and code not in heads
            heads.update([code] if head else [])
            MembershipFactory(
                doctor=doctor,
                department=departments[code],
                role="head" if head else "member",
                is_primary=position == 0,
                # Periods that started before today are split or ended by
                # the import; those that started today rewritten or cancelled.
                joined_on=LAST_YEAR if (index + position) % 2 else TODAY,
            )
    lines = {}
    for number, row in rows:
        cell = "|".join(f"{c}:head" if h else c for c, h in row["departments"])
        if row["no_primary"] and cell:
            cell = "|" + cell
        lines[number] = (
            f"LIC-{number},Ann,Roe,lic-{number}@clinic.test,{row['phone']},"
            f"Cardiology,{cell},{'true' if row['active'] else 'false'}"
        )
    before_import = state()
    result = import_doctors(io.BytesIO(csv_bytes(*lines.values())), file_name="any.csv")
    assume(result.ok and result.changed)
    after = state()
    undone = undo.undo_import(result.run)
    assert not undone.refused, undone.summary()
    assert state() == before_import, "undo"
    redo = undo.undo_import(result.run)
    assert not redo.refused, redo.summary()
    assert state() == after, "redo"
