"""The history chain: one link per change-set, and every kind of tampering
caught and named (doctors.ledger.chain and doctors.ledger.verify)."""

import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from doctors.context import acting_as
from doctors.ledger import canonical, chain, guard
from doctors.ledger.verify import verify
from doctors.models import (
    ActivityEvent,
    ChainHead,
    ChainLink,
    ChangeSet,
    Department,
    Doctor,
    Membership,
    PersonalDataKey,
)
from tests.factories import DepartmentFactory, DoctorFactory

pytestmark = pytest.mark.django_db


def _history_in_three_change_sets():
    with acting_as(description="first"):
        cardiology = DepartmentFactory(code="CARD", name="Cardiology")
        doctor = DoctorFactory(first_name="Ada", last_name="Quill")
    with acting_as(description="second"):
        doctor.departments.add(cardiology)
        doctor.phone = "555-0101"
        doctor.save()
    with acting_as(description="third"):
        DoctorFactory(first_name="Bo", last_name="Lark")
    return doctor


def _tamper(sql: str, params=()) -> None:
    """Change the database behind the application's back (PostgreSQL's guard
    would refuse, so the tampering uses the sanctioned path, as someone with
    the owner's rights could)."""
    with guard.sanctioned(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def _verify_command(*args) -> str:
    out = io.StringIO()
    call_command("verify_history", *args, stdout=out)
    return out.getvalue()


def _failure(*args) -> str:
    with pytest.raises(CommandError) as raised:
        _verify_command(*args)
    return str(raised.value)


def test_each_change_set_is_one_link_in_order():
    _history_in_three_change_sets()
    links = list(ChainLink.objects.order_by("position"))
    change_sets = list(ChangeSet.objects.order_by("id"))
    assert [link.change_set_id for link in links] == [c.pk for c in change_sets]
    assert [link.position for link in links] == [1, 2, 3]
    assert links[1].previous_hash == links[0].hash
    head = ChainHead.objects.get()
    assert (head.position, head.hash) == (3, links[2].hash)
    assert links[0].rows == {"changeset": 1, "event": 2, "doctor": 1, "department": 1}
    report = verify()
    assert report.ok, report.problems
    assert report.links == 3


def test_verify_history_passes_and_prints_the_head():
    _history_in_three_change_sets()
    out = _verify_command()
    assert "The history chain verifies: 3 links" in out
    assert ChainHead.objects.get().hash in out


def test_history_anchor_prints_hash_count_time():
    _history_in_three_change_sets()
    out = io.StringIO()
    call_command("history_anchor", stdout=out)
    hash_, count, when = out.getvalue().split()
    assert len(hash_) == 64 and int(hash_, 16) >= 0
    assert hash_ == ChainHead.objects.get().hash
    assert count == "3"
    assert when.endswith("Z")


def test_personal_values_are_committed_not_hashed():
    """The link's bytes hold a keyed commitment, never the name itself."""
    doctor = _history_in_three_change_sets()
    first = Doctor.history.filter(id=doctor.pk).order_by("history_id")[0]
    (row,) = next(
        chain.table_rows(canonical.DOCTORS, change_set_id=first.change_set_id)
    )
    keyring = chain.Keyring(create=False)
    keyring.load_all()
    written = canonical.DOCTORS.row_bytes(row, keyring.commit)
    assert b"Ada" not in written and b"Quill" not in written
    assert PersonalDataKey.objects.filter(kind="doctor", object_id=doctor.pk).exists()


def test_an_edited_history_row_is_named():
    doctor = _history_in_three_change_sets()
    history_id = Doctor.history.filter(id=doctor.pk).order_by("history_id")[0]
    _tamper(
        "UPDATE doctors_historicaldoctor SET email = %s WHERE history_id = %s",
        ["forged@clinic.test", history_id.history_id],
    )
    message = _failure()
    assert f"link 1: doctor history, row #{history_id.history_id}: edited" in message


@pytest.mark.parametrize("last_day", [None, "2030-01-01"], ids=["set", "cleared"])
def test_a_periods_last_day_is_in_the_chain(last_day):
    """A membership period's last day came after the format's first version:
    it is written when set, so setting, moving or clearing it is caught."""
    doctor = _history_in_three_change_sets()
    with acting_as(description="joins earlier"):
        Membership.objects.filter(doctor=doctor).update(
            joined_on=datetime.date(2024, 1, 1)
        )
    with acting_as(description="leaves"):
        doctor.departments.clear()  # the period ends yesterday
    row = (
        Membership.history.filter(doctor_id=doctor.pk, left_on__isnull=False)
        .order_by("history_id")
        .get()
    )
    assert verify().ok
    forged = last_day or None
    if forged is None:
        target = row.history_id  # clear the last day of the period that ended
    else:
        target = (  # give the open period's first row a last day
            Membership.history.filter(doctor_id=doctor.pk, left_on__isnull=True)
            .order_by("history_id")
            .first()
            .history_id
        )
    _tamper(
        "UPDATE doctors_historicalmembership SET left_on = %s WHERE history_id = %s",
        [forged, target],
    )
    assert f"membership history, row #{target}: edited" in _failure()


def test_a_row_without_a_last_day_keeps_its_first_version_bytes():
    """Rows sealed before periods existed verify unchanged: an unset trailing
    column writes nothing."""
    table = canonical.MEMBERSHIPS
    public = tuple(range(table.width))
    row = (*public, "", None)
    before = canonical.dumps([table.tag, *public, ""])
    assert table.row_bytes(row, commit=None) == before
    assert table.row_bytes((*public, "", "2026-03-31"), commit=None) == (
        canonical.dumps([table.tag, *public, "", {"left_on": "2026-03-31"}])
    )


def test_an_edited_feed_event_is_named():
    _history_in_three_change_sets()
    event = ActivityEvent.objects.filter(verb="membership_added").get()
    _tamper(
        "UPDATE doctors_activityevent SET department_text = 'Oncology' WHERE id = %s",
        [event.pk],
    )
    assert f"link 2: feed events, row #{event.pk}: edited" in _failure()


def test_an_edited_change_set_is_named():
    _history_in_three_change_sets()
    first = ChangeSet.objects.order_by("id")[0]
    _tamper("UPDATE doctors_changeset SET reason = 'made up' WHERE id = %s", [first.pk])
    assert f"link 1: change-sets, row #{first.pk}: edited" in _failure()


def test_a_deleted_history_row_is_named():
    _history_in_three_change_sets()
    row = Membership.history.get()
    _tamper(
        "DELETE FROM doctors_historicalmembership WHERE history_id = %s",
        [row.history_id],
    )
    assert f"link 2: membership history, row #{row.history_id}: deleted" in (_failure())


def test_an_inserted_feed_event_is_named():
    _history_in_three_change_sets()
    second = ChangeSet.objects.order_by("id")[1]
    with guard.sanctioned():
        forged = ActivityEvent.objects.create(
            verb="updated",
            source="admin",
            target_type="department",
            target_id=1,
            target_text="Cardiology",
            change_set=second,
        )
    message = _failure()
    assert f"link 2: feed events, row #{forged.pk}: inserted" in message


def test_a_row_outside_any_change_set_is_named():
    _history_in_three_change_sets()
    outside = DoctorFactory()  # written outside any change-set: never sealed
    row = Doctor.history.get(id=outside.pk)
    message = _failure()
    assert f"doctor history, row #{row.history_id}: not in the chain" in message


def test_reordered_links_are_caught():
    _history_in_three_change_sets()
    first, second = ChainLink.objects.order_by("position")[:2]
    _tamper("UPDATE doctors_chainlink SET position = 1000 WHERE id = %s", [first.pk])
    _tamper("UPDATE doctors_chainlink SET position = 1 WHERE id = %s", [second.pk])
    _tamper("UPDATE doctors_chainlink SET position = 2 WHERE id = %s", [first.pk])
    message = _failure()
    assert "link 1 " in message and "does not follow" in message


def test_rows_swapped_between_change_sets_are_caught():
    """Reordering history: moving a row to another change-set."""
    _history_in_three_change_sets()
    first, third = (
        ChangeSet.objects.order_by("id")[0],
        ChangeSet.objects.order_by("id")[2],
    )
    row = Doctor.history.filter(change_set=third).get()
    _tamper(
        "UPDATE doctors_historicaldoctor SET change_set_id = %s WHERE history_id = %s",
        [first.pk, row.history_id],
    )
    message = _failure()
    assert f"link 1: doctor history, row #{row.history_id}: inserted" in message


def test_a_truncated_chain_is_caught_with_an_anchor_only():
    _history_in_three_change_sets()
    anchor = chain.anchor()
    with acting_as(description="fourth"):
        DoctorFactory()
    # Cut the chain back to link 2: the rows, the change-sets, the links and
    # the head, all consistently.
    for change_set in ChangeSet.objects.filter(chain_link__position__gte=3):
        for table in ("doctors_activityevent", "doctors_historicaldoctor"):
            _tamper(f"DELETE FROM {table} WHERE change_set_id = %s", [change_set.pk])
        _tamper(
            "DELETE FROM doctors_chainlink WHERE change_set_id = %s", [change_set.pk]
        )
        _tamper("DELETE FROM doctors_changeset WHERE id = %s", [change_set.pk])
    link = ChainLink.objects.get(position=2)
    _tamper(
        "UPDATE doctors_chainhead SET position = 2, hash = %s, sealed_at = %s",
        [link.hash, link.sealed_at],
    )
    assert "verifies" in _verify_command()  # consistent without an anchor
    message = _failure("--anchor", anchor.hash)
    assert f"the anchor {anchor.hash} is not in the chain" in message


def test_a_deleted_last_link_is_caught_by_the_head():
    _history_in_three_change_sets()
    last = ChainLink.objects.get(position=3)
    _tamper("DELETE FROM doctors_chainlink WHERE id = %s", [last.pk])
    message = _failure()
    assert "the chain head names link 3, but the last link is link 2" in message


def test_an_anchor_must_look_like_one():
    with pytest.raises(CommandError, match="64 hexadecimal characters"):
        _verify_command("--anchor", "not-a-hash")


def test_an_older_anchor_verifies():
    _history_in_three_change_sets()
    anchor = str(chain.anchor())
    with acting_as(description="later"):
        DoctorFactory()
    assert "verifies" in _verify_command("--anchor", anchor.split()[0])


def test_a_rolled_back_block_leaves_no_link():
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        with acting_as(description="fails"):
            DoctorFactory()
        raise RuntimeError
    assert not ChainLink.objects.exists()
    assert verify().ok


def test_chain_off_writes_no_link(settings):
    settings.HISTORY_CHAIN = False
    with acting_as(description="unsealed"):
        DoctorFactory()
    assert not ChainLink.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's guard")
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE doctors_historicaldoctor SET first_name = 'X'",
        "DELETE FROM doctors_historicaldoctor",
        "UPDATE doctors_activityevent SET target_text = 'X'",
        "DELETE FROM doctors_activityevent",
        "DELETE FROM doctors_chainlink",
    ],
)
def test_postgresql_refuses_changes_to_history_outside_erasure(statement):
    from django.db import DatabaseError, transaction

    _history_in_three_change_sets()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL clinic.erasing = 'off'")
    with pytest.raises(DatabaseError, match="kept as written"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    with guard.sanctioned(), connection.cursor() as cursor:
        cursor.execute("UPDATE doctors_activityevent SET target_text = 'Y'")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's guard")
def test_postgresql_lets_a_deleted_user_leave_the_history():
    from tests.factories import UserFactory

    user = UserFactory()
    with acting_as(user, description="by a user"):
        DoctorFactory()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL clinic.erasing = 'off'")
    user.delete()
    assert ActivityEvent.objects.get().actor_id is None
    assert Doctor.history.get().history_user_id is None
    assert verify().ok


def test_seal_history_seals_what_the_chain_lacks():
    """After an upgrade (or a writer that stopped before sealing), seal_history
    folds the rows in; verify_history then passes."""
    _history_in_three_change_sets()
    DoctorFactory()  # outside any change-set
    unsealed = ChangeSet.objects.create(source="command", description="stopped")
    with guard.sanctioned():
        ActivityEvent.objects.create(
            verb="bulk_updated",
            source="command",
            target_type="doctor",
            target_text="stopped",
            change_set=unsealed,
        )
    assert "not in the chain" in _failure()
    out = io.StringIO()
    call_command("seal_history", stdout=out)
    assert "2 change-set(s) sealed, 2 row(s) of no change-set among them" in (
        out.getvalue()
    )
    assert "verifies: 5 links" in _verify_command()


@pytest.mark.parametrize(
    ("stored", "moment"),
    [
        ("2026-12-04 20:53:55.817626", (2026, 12, 4, 20, 53, 55, 817626)),
        ("2026-12-04 20:53:55", (2026, 12, 4, 20, 53, 55, 0)),
        ("2026-12-04 20:53:55.5", (2026, 12, 4, 20, 53, 55, 500000)),
    ],
)
def test_sqlite_text_and_postgresql_datetimes_write_the_same(stored, moment):
    """The same instant gives the same bytes from SQLite's stored text and
    from a datetime, in UTC or not."""
    import datetime

    utc = datetime.datetime(*moment, tzinfo=datetime.UTC)
    paris = utc.astimezone(datetime.timezone(datetime.timedelta(hours=1)))
    assert canonical.plain_datetime(stored) == canonical.plain_datetime(utc)
    assert canonical.plain_datetime(paris) == canonical.plain_datetime(utc)
    assert canonical.plain_datetime(utc).endswith("Z")


def test_a_fresh_demo_clinic_verifies():
    """seed_demo dates its year of history back before sealing it: the chain
    holds the story as told, oldest change-set first."""
    call_command(
        "seed_demo", "--doctors", "120", "--departments", "8", stdout=io.StringIO()
    )
    report = verify()
    assert report.ok, [str(problem) for problem in report.problems]
    assert report.links == ChangeSet.objects.count() > 20
    positions = ChainLink.objects.order_by("position").values_list(
        "change_set_id", flat=True
    )
    assert list(positions) == sorted(positions)


@pytest.mark.parametrize("microsecond", [0, 500000, 817626, 1])
def test_rows_read_for_the_chain_write_values_as_python_does(microsecond):
    """The database writes date-times, dates and booleans in the format's
    text itself; that text is what canonical.plain makes of the same values
    read through the ORM, on SQLite and PostgreSQL alike."""
    import datetime

    from doctors.ledger.chain import table_rows

    moment = datetime.datetime(2026, 3, 5, 7, 8, 9, microsecond, tzinfo=datetime.UTC)
    with acting_as(description="Moments"):
        doctor = Doctor.objects.create(
            license_number="LIC-MOMENT",
            first_name="Ana",
            last_name="Moment",
            email="ana@example.com",
            specialty="cardiology",
        )
        department = Department.objects.create(code="MOM", name="Moments")
        Membership.objects.create(
            doctor=doctor,
            department=department,
            role="member",
            joined_on=datetime.date(2026, 3, 5),
        )
    with guard.sanctioned():
        Doctor.history.filter(id=doctor.pk).update(history_date=moment)
    checked = 0
    for table in canonical.TABLES:
        model = table.model()
        by_id = {
            values[0]: tuple(canonical.plain(value) for value in values)
            for values in model.objects.values_list(*table.columns)
        }
        for chunk in table_rows(table):
            for row in chunk:
                expected = by_id[row[0]]
                for index, value in enumerate(row):
                    if isinstance(value, bool) or isinstance(expected[index], bool):
                        assert value == expected[index]
                        assert isinstance(value, bool)
                    else:
                        assert value == expected[index], (
                            table.tag,
                            table.columns[index],
                        )
                checked += 1
    assert checked >= 5
    at = canonical.DOCTORS.columns.index("history_date")
    assert any(
        row[at] == canonical.plain_datetime(moment)
        for chunk in table_rows(canonical.DOCTORS)
        for row in chunk
        if row[1] == doctor.pk
    )
