"""Point-in-time answers from the history tables, for changes made by every road.

Each road is followed by a snapshot of the live memberships; afterwards the
history must give back every snapshot at its moment, asked per department and
per doctor.
"""

import datetime
import io
import zoneinfo

import pytest
from django.urls import reverse
from django.utils import timezone

from doctors import period_changes
from doctors.context import acting_as
from doctors.models import Department, Doctor, Membership
from doctors.services import set_doctors_active
from doctors.timetravel import moments
from doctors.timetravel.revert import apply_revert
from tests.admin_forms import doctor_form, membership_row
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory
from tests.test_importing import csv_bytes, run
from tests.timetravel_ledger import Ledger, current_memberships

pytestmark = pytest.mark.django_db
HeadRole = Membership.Role.HEAD


@pytest.fixture
def world():
    departments = {
        code: DepartmentFactory(code=code, name=name)
        for code, name in [
            ("CARD", "Cardiology"),
            ("NEUR", "Neurology"),
            ("ONC", "Oncology"),
        ]
    }
    doctors = {
        name: DoctorFactory(
            first_name=name, last_name="Doe", license_number=f"L-{name}"
        )
        for name in ["Ada", "Bob", "Cy"]
    }
    return departments, doctors


@pytest.fixture
def ledger():
    ledger = Ledger()
    ledger.snapshot()
    yield ledger


def test_doctor_page_inline_rows(world, ledger, staff_client):
    """Adding, changing, moving and deleting rows on the doctor page."""
    departments, doctors = world
    ada = doctors["Ada"]
    url = reverse("admin:doctors_doctor_change", args=[ada.pk])
    rows = [
        membership_row(other=departments["CARD"].pk, side="department", role=HeadRole),
        membership_row(
            other=departments["NEUR"].pk, side="department", is_primary=True
        ),
    ]
    assert staff_client.post(url, doctor_form(ada, rows=rows)).status_code == 302
    ledger.snapshot()
    card = Membership.objects.get(doctor=ada, department=departments["CARD"])
    neur = Membership.objects.get(doctor=ada, department=departments["NEUR"])
    ada.refresh_from_db()
    rows = [
        # Cardiology's row moved to Oncology as a plain member; Neurology's
        # becomes head there.
        membership_row(card, other=departments["ONC"].pk, side="department"),
        membership_row(
            neur,
            other=departments["NEUR"].pk,
            side="department",
            role=HeadRole,
            is_primary=True,
        ),
    ]
    assert staff_client.post(url, doctor_form(ada, rows=rows)).status_code == 302
    assert Membership.objects.get(pk=card.pk).department == departments["ONC"]
    ledger.snapshot()
    ada.refresh_from_db()
    # Head and primary from today: Neurology's period ended yesterday and
    # a new one started today; the page edits that one.
    neur = Membership.not_ended.get(doctor=ada, department=departments["NEUR"])
    rows = [
        membership_row(
            card, other=departments["ONC"].pk, side="department", delete=True
        ),
        membership_row(neur, other=departments["NEUR"].pk, side="department"),
    ]
    assert staff_client.post(url, doctor_form(ada, rows=rows)).status_code == 302
    ledger.snapshot()
    ledger.verify()


def test_many_to_many_from_the_doctor_side(world, ledger):
    departments, doctors = world
    ada = doctors["Ada"]
    ada.departments.add(departments["CARD"], departments["NEUR"])
    ledger.snapshot()
    ada.departments.remove(departments["CARD"])
    ledger.snapshot()
    ada.departments.set([departments["ONC"], departments["NEUR"]])
    ledger.snapshot()
    ada.departments.clear()
    ledger.snapshot()
    ledger.verify()


def test_many_to_many_from_the_department_side(world, ledger):
    departments, doctors = world
    card = departments["CARD"]
    card.doctors.add(doctors["Ada"], through_defaults={"role": HeadRole})
    card.doctors.add(doctors["Bob"], doctors["Cy"])
    ledger.snapshot()
    card.doctors.remove(doctors["Bob"])
    ledger.snapshot()
    card.doctors.set([doctors["Bob"]])
    ledger.snapshot()
    card.doctors.clear()
    ledger.snapshot()
    ledger.verify()


def test_add_writes_the_history_row_with_the_user_and_change_set(world, superuser):
    """add() inserts through rows in bulk; their history rows still exist."""
    departments, doctors = world
    with acting_as(superuser, source="admin", reason="new rota") as change:
        doctors["Ada"].departments.add(departments["CARD"])
    row = Membership.history.get(doctor_id=doctors["Ada"].pk)
    assert (
        row.history_type,
        row.history_user,
        row.department_id,
        row.change_set,
        row.history_change_reason,
    ) == ("+", superuser, departments["CARD"].pk, change.change_set, "new rota")
    assert change.change_set.counts["membership"] == 1


def test_csv_import_with_a_head_handover(world, ledger):
    """The bulk importer: additions, removals, role and primary changes."""
    departments, doctors = world
    MembershipFactory(
        doctor=doctors["Ada"], department=departments["CARD"], role=HeadRole
    )
    MembershipFactory(
        doctor=doctors["Bob"], department=departments["NEUR"], is_primary=True
    )
    ledger.snapshot()
    result = run(
        csv_bytes(
            "L-Ada,Ada,Doe,l-ada@clinic.test,,cardiology,NEUR|CARD,true",
            "L-Bob,Bob,Doe,l-bob@clinic.test,,cardiology,CARD:head|ONC,true",
            "L-New,Nina,New,nina@clinic.test,,cardiology,ONC,true",
        )
    )
    assert result.ok, result.problems
    assert (doctors["Bob"].pk, departments["CARD"].pk, HeadRole, True) in {
        fact[:4] for fact in current_memberships()
    }
    ledger.snapshot()
    ledger.verify()


def test_undo_and_redo_of_an_import(world, ledger, superuser):
    """Undo restores memberships (with their old ids) from the history."""
    from doctors import undo

    departments, doctors = world
    MembershipFactory(
        doctor=doctors["Ada"], department=departments["CARD"], role=HeadRole
    )
    ledger.snapshot()
    result = run(
        csv_bytes(
            "L-Ada,Ada,Doe,l-ada@clinic.test,,cardiology,NEUR,true",
            "L-Bob,Bob,Doe,l-bob@clinic.test,,cardiology,CARD:head|ONC,true",
        ),
        user=superuser,
    )
    assert result.ok, result.problems
    ledger.snapshot()
    undone = undo.undo_import(result.run, user=superuser)
    assert not undone.refused, undone.summary()
    ledger.snapshot()
    redone = undo.undo_import(result.run, user=superuser)
    assert redone.redo and not redone.refused
    ledger.snapshot()
    ledger.verify()


def test_import_command(world, ledger, tmp_path):
    departments, doctors = world
    path = tmp_path / "doctors.csv"
    path.write_bytes(
        csv_bytes("L-Cy,Cy,Doe,l-cy@clinic.test,,cardiology,ONC:head|NEUR,true")
    )
    from django.core.management import call_command

    call_command("import_doctors", str(path), stdout=io.StringIO())
    ledger.snapshot()
    ledger.verify()


def test_deleting_doctors_and_departments(world, ledger, superuser, client):
    """Cascades from a single delete and from the admin's bulk delete action."""
    departments, doctors = world
    for doctor in doctors.values():
        doctor.departments.add(departments["CARD"], departments["NEUR"])
    ledger.snapshot()
    doctors["Ada"].delete()
    ledger.snapshot()
    client.force_login(superuser)
    response = client.post(
        reverse("admin:doctors_department_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [departments["CARD"].pk],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    assert not Department.objects.filter(code="CARD").exists()
    ledger.snapshot()
    ledger.verify()


def test_revert_is_a_road_too(world, ledger):
    departments, doctors = world
    ada = doctors["Ada"]
    ada.departments.add(departments["CARD"], through_defaults={"is_primary": True})
    moment = ledger.snapshot()
    ada.departments.set([departments["NEUR"]])
    ledger.snapshot()
    apply_revert(ada, moment)
    ledger.snapshot()
    ledger.verify()


def _at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return timezone.make_aware(
        datetime.datetime.combine(day, datetime.time(hour, minute))
    )


def test_as_recorded_at_the_end_of_a_day_counts_what_was_recorded_by_then(settings):
    """ "As recorded on" a day means at its end, midnight in the clinic's time
    zone, not in UTC."""
    settings.TIME_ZONE = "America/New_York"
    department = DepartmentFactory(code="CARD")
    late, early, gone = DoctorFactory(), DoctorFactory(), DoctorFactory()
    march_1, march_2 = datetime.date(2025, 3, 1), datetime.date(2025, 3, 2)
    for doctor, when in [
        (late, _at(march_1, 23, 30)),  # 04:30 UTC on 2 March
        (early, _at(march_2, 0, 10)),
        (gone, _at(march_1, 9)),
    ]:
        membership = MembershipFactory(doctor=doctor, department=department)
        Membership.history.filter(id=membership.pk).update(history_date=when)
        Doctor.history.filter(id=doctor.pk).update(history_date=when)
    membership = Membership.objects.get(doctor=gone)
    membership_id = membership.pk
    membership.delete()
    Membership.history.filter(id=membership_id, history_type="-").update(
        history_date=_at(march_2, 8)
    )
    assert _at(march_1, 23, 30).astimezone(zoneinfo.ZoneInfo("UTC")).day == 2

    today = timezone.localdate()

    def on(day):
        moment = moments.end_of_day(day)
        members = moments.department_members_on(
            department, today, as_recorded_on=moment
        )
        return {m.doctor_id for m in members}

    assert on(datetime.date(2025, 2, 28)) == set()
    assert on(march_1) == {late.pk, gone.pk}
    assert on(march_2) == {late.pk, early.pk}


def test_members_as_recorded_show_the_doctor_as_known_then():
    """A doctor renamed since keeps the old name; one deleted since is listed.
    In valid time the doctor is as they are now."""
    department = DepartmentFactory()
    renamed, deleted = DoctorFactory(first_name="Old"), DoctorFactory(first_name="Gone")
    renamed.departments.add(department, through_defaults={"role": HeadRole})
    deleted.departments.add(department, through_defaults={"is_primary": True})
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    for model in (Doctor, Membership):
        model.history.update(history_date=_at(yesterday, 12))
    renamed.first_name = "New"
    renamed.save()
    deleted.delete()
    members = moments.department_members_on(
        department, timezone.localdate(), as_recorded_on=moments.end_of_day(yesterday)
    )
    assert [(m.first_name, m.role, m.is_primary) for m in members] == [
        ("Old", HeadRole, False),
        ("Gone", Membership.Role.MEMBER, True),
    ]
    assert moments.department_members_on(department, timezone.localdate()) == [
        moments.MemberOnDate(
            doctor_id=renamed.pk,
            license_number=renamed.license_number,
            first_name="New",
            last_name=renamed.last_name,
            role=HeadRole,
            is_primary=False,
            joined_on=renamed.memberships.get().joined_on,
        )
    ]


def test_members_on_a_date_cost_one_query_whatever_the_size(
    django_assert_num_queries,
):
    department = DepartmentFactory()
    for count in (3, 30):
        for doctor in DoctorFactory.create_batch(count):
            doctor.departments.add(department)
        with django_assert_num_queries(1):
            members = moments.department_members_on(department, timezone.localdate())
        assert len(members) == department.memberships.count()


def test_bulk_activation_is_seen_in_the_doctor_as_of(world):
    departments, doctors = world
    set_doctors_active(Doctor.objects.filter(pk=doctors["Ada"].pk), active=False)
    then = moments.object_at(Doctor, doctors["Ada"].pk, timezone.now())
    assert then.is_active is False
    assert (
        moments.object_at(
            Doctor,
            doctors["Ada"].pk,
            then.history_date - datetime.timedelta(microseconds=1),
        ).is_active
        is True
    )


def test_as_recorded_counts_what_was_recorded_at_that_very_instant():
    department = DepartmentFactory()
    doctor = DoctorFactory()
    period = MembershipFactory(doctor=doctor, department=department)
    recorded = Membership.history.get(id=period.pk).history_date
    day = period.joined_on

    def known(moment):
        members = moments.department_members_on(department, day, as_recorded_on=moment)
        return [m.doctor_id for m in members]

    assert known(recorded) == [doctor.pk]
    assert known(recorded - datetime.timedelta(microseconds=1)) == []


def test_a_correction_recorded_later_leaves_the_earlier_answer_alone():
    """Valid time takes the correction; as recorded before it, the first
    version stands, also for the day the correction moved the period off."""
    department = DepartmentFactory()
    doctor = DoctorFactory(first_name="Ada")
    period = MembershipFactory(
        doctor=doctor, department=department, joined_on=datetime.date(2025, 1, 1)
    )
    before = timezone.now()

    period_changes.correct(period, joined_on=datetime.date(2025, 2, 1))
    jan_15 = datetime.date(2025, 1, 15)
    assert moments.department_members_on(department, jan_15) == []
    (then,) = moments.department_members_on(department, jan_15, as_recorded_on=before)
    assert (then.first_name, then.joined_on) == ("Ada", datetime.date(2025, 1, 1))
    (now,) = moments.department_members_on(
        department, jan_15 + datetime.timedelta(days=30), as_recorded_on=timezone.now()
    )
    assert now.joined_on == datetime.date(2025, 2, 1)
