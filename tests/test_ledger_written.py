"""History rows written down for the chain as the bulk writers write them
(doctors.ledger.written): the same manifest bytes as reading them back, and
reading back whenever what was written down could be stale."""

import datetime
import signal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from doctors.bulk import draw_ids, insert_history_rows, insert_rows, tracked_columns
from doctors.context import acting_as
from doctors.importing.writer import DOCTOR_HISTORY
from doctors.ledger import canonical, chain, hasher, written
from doctors.ledger.verify import verify
from doctors.models import (
    ChainLink,
    Department,
    Doctor,
    Erasure,
    Membership,
    PersonalDataKey,
)
from tests.test_importing import csv_bytes, run

pytestmark = pytest.mark.django_db

PEOPLE = [
    # first name, last name, email, phone: accents, quotes, a backslash,
    # an emoji, an empty phone and an empty email.
    ("Zoë", 'O"Brien', "zoe@clinic.test", "555-0101"),
    ("Ana\\Maria", "Łukasiewicz", "", ""),
    ("Bo 🩺", "Lark", "bo@clinic.test", "+1 (555) 0102"),
]


@pytest.fixture(params=["here", "apart"])
def hashing(request, monkeypatch):
    """Each test twice: rows hashed in the writer's process, and handed to a
    child process (ledger.hasher) from the first row on."""
    if request.param == "apart":
        monkeypatch.setattr(hasher, "APART_AFTER", 0)
    return request.param


@pytest.fixture
def started(monkeypatch):
    """The hashers started, to look at their processes."""
    hashers = []
    start = hasher.Hasher.start

    def spy():
        made = start()
        hashers.append(made)
        return made

    monkeypatch.setattr(hasher.Hasher, "start", staticmethod(spy))
    monkeypatch.setattr(hasher, "APART_AFTER", 0)
    return hashers


@pytest.fixture
def taken(monkeypatch):
    """What each seal took from the written-down rows (None: it read all back)."""
    seen = []
    usable = written.WrittenRows.usable

    def spy(self, change_set_id):
        result = usable(self, change_set_id)
        seen.append(result)
        return result

    monkeypatch.setattr(written.WrittenRows, "usable", spy)
    return seen


def _write(people, *, when, reason, joined_on=None, prefix="LIC"):
    """New doctors and their memberships with their history rows, as the
    import's writer writes them (doctors.importing.writer)."""
    department = Department.objects.get_or_create(code="CARD", name="Cardiology")[0]
    licenses = [f"{prefix}-{n}" for n in range(len(people))]
    insert_rows(
        Doctor,
        ["license_number", "first_name", "last_name", "email", "phone"]
        + ["specialty", "is_active", "created_at", "updated_at"],
        [
            (lic, *person, "cardiology", n % 2 == 0, when, when)
            for n, (lic, person) in enumerate(zip(licenses, people, strict=True))
        ],
    )
    doctors = list(
        Doctor.objects.filter(license_number__in=licenses)
        .order_by("pk")
        .values_list(*DOCTOR_HISTORY)
    )
    written.make_keys("doctor", [row[0] for row in doctors])
    insert_history_rows(
        Doctor, DOCTOR_HISTORY, doctors, history_type="+", when=when, reason=reason
    )
    joined = joined_on or when.date()
    insert_rows(
        Membership,
        ["doctor_id", "department_id", "role", "joined_on", "is_primary"],
        [(row[0], department.pk, "member", joined, True) for row in doctors],
    )
    members = Membership.objects.filter(doctor_id__in=[row[0] for row in doctors])
    columns = tracked_columns(Membership)
    at = columns.index("joined_on")
    rows = [
        (*row[:at], joined, *row[at + 1 :]) for row in members.values_list(*columns)
    ]
    insert_history_rows(
        Membership, columns, rows, history_type="+", when=when, reason=reason
    )


def _read_back(change_set_id: int) -> bytes:
    keyring = chain.Keyring(create=False)
    keyring.load_all()
    return chain.manifest_of(change_set_id, keyring)[0]


def _assert_sealed_right(change) -> ChainLink:
    link = ChainLink.objects.get(change_set_id=change.change_set.pk)
    assert link.manifest == _read_back(change.change_set.pk)
    report = verify()
    assert report.ok, [str(problem) for problem in report.problems]
    return link


@pytest.mark.parametrize(
    "moment",
    [
        datetime.datetime(2026, 3, 5, 7, 8, 9, 0, tzinfo=datetime.UTC),
        datetime.datetime(2026, 3, 5, 7, 8, 9, 817626, tzinfo=datetime.UTC),
        datetime.datetime(
            2026,
            3,
            5,
            23,
            30,
            0,
            1,
            tzinfo=datetime.timezone(datetime.timedelta(hours=2)),
        ),
    ],
)
@pytest.mark.parametrize("reason", ["Import of doctors.csv", 'Ré"import"', None])
@pytest.mark.parametrize("seal_inside_transaction", [False, True])
def test_written_down_rows_give_the_bytes_reading_back_gives(
    hashing, taken, moment, reason, seal_inside_transaction
):
    """Every field type the history tables hold (text with any character,
    empty text, null, whole numbers, booleans, dates, date-times with and
    without microseconds, in another time zone) writes the same bytes both
    ways, sealed after the transaction committed or inside it."""
    with transaction.atomic():
        if seal_inside_transaction:
            with acting_as(description="Bulk") as change:
                _write(PEOPLE, when=moment, reason=reason)
        else:
            with acting_as(description="Bulk") as change:
                with transaction.atomic():
                    _write(PEOPLE, when=moment, reason=reason)
    (usable,) = taken
    assert usable is not None
    assert len(usable.entries["doctor"]) == len(PEOPLE)
    assert len(usable.entries["membership"]) == len(PEOPLE)
    _assert_sealed_right(change)


def test_a_value_of_another_type_is_read_back(hashing, taken):
    """A date given as text is stored as the date, but this module does not
    guess how: its rows are read back; the others are still taken."""
    moment = datetime.datetime(2026, 3, 5, 7, 8, 9, tzinfo=datetime.UTC)
    with acting_as(description="Bulk") as change:
        _write(PEOPLE, when=moment, reason="r", joined_on="2026-03-05")
    (usable,) = taken
    assert set(usable.entries) == {"doctor"}
    _assert_sealed_right(change)


def test_a_rolled_back_savepoint_drops_what_was_written_down(hashing, taken):
    """SQLite gives the rolled-back ids again: rows written down for them
    must not stand for the rows written after."""
    moment = datetime.datetime(2026, 3, 5, 7, 8, 9, tzinfo=datetime.UTC)
    with acting_as(description="Bulk") as change:
        change.change_set_for_write()  # opened before the savepoint: it stays
        with pytest.raises(RuntimeError), transaction.atomic():
            _write(PEOPLE, when=moment, reason="first", prefix="OLD")
            raise RuntimeError
        _write(PEOPLE[:2], when=moment, reason="second", prefix="NEW")
    assert taken == [None]
    _assert_sealed_right(change)


def test_an_erasure_before_the_seal_makes_it_read_back(hashing, taken):
    moment = datetime.datetime(2026, 3, 5, 7, 8, 9, tzinfo=datetime.UTC)
    with acting_as(description="Bulk") as change:
        _write(PEOPLE, when=moment, reason="r")
        Erasure.objects.create(doctor_id=999_999, license_salt="s", license_hash="h")
    assert taken == [None]
    _assert_sealed_right(change)


def test_a_key_that_exists_already_is_kept(hashing, taken):
    moment = datetime.datetime(2026, 3, 5, 7, 8, 9, tzinfo=datetime.UTC)
    with acting_as(description="Bulk") as change:
        _write(PEOPLE, when=moment, reason="r")
        doctor_id = Doctor.objects.order_by("pk").values_list("pk", flat=True)[0]
        PersonalDataKey.objects.create(
            kind="doctor", object_id=doctor_id, key=b"k" * 32
        )
    assert taken == [None]
    kept = PersonalDataKey.objects.get(kind="doctor", object_id=doctor_id)
    assert bytes(kept.key) == b"k" * 32
    _assert_sealed_right(change)


def test_drawn_ids_are_new_and_the_database_goes_on_after_them():
    history = Doctor.history.model
    with acting_as(description="Bulk"), transaction.atomic():
        doctor = Doctor.objects.create(
            license_number="LIC-X",
            first_name="A",
            last_name="B",
            email="a@clinic.test",
            specialty="cardiology",
        )
        before = history.objects.order_by("-pk").values_list("pk", flat=True)[0]
        ids = draw_ids(history, 3)
        assert len(set(ids)) == 3 and min(ids) > before
        doctor.first_name = "C"
        doctor.save()
        after = history.objects.order_by("-pk").values_list("pk", flat=True)[0]
    if connection.vendor == "sqlite":
        # Nothing used the drawn ids: SQLite gives them again.
        assert after == before + 1
    else:
        assert after > max(ids)


def test_imports_write_their_new_doctors_down_and_read_back_the_rest(hashing, taken):
    """The first import's rows are all written down; the second's rows about
    doctors from before (their keys exist) are read back, its new doctors'
    rows not."""
    with acting_as(description="Cardiology"):
        Department.objects.create(code="CARD", name="Cardiology")
    first = run(
        csv_bytes(
            "LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,CARD,",
            "LIC-2,Bo,Ray,bo@clinic.test,,Cardiology,CARD,",
        )
    )
    assert first.ok and first.created == 2
    second = run(
        csv_bytes(
            "LIC-1,Ann,Lee-Smith,ann@clinic.test,,Cardiology,CARD,",
            "LIC-3,Cy,Zoë,cy@clinic.test,,Cardiology,CARD,",
        )
    )
    assert second.ok and (second.created, second.updated) == (1, 1)
    assert len(taken) == 2
    assert len(taken[0].entries["doctor"]) == 2
    assert len(taken[0].entries["membership"]) == 2
    new = Doctor.objects.get(license_number="LIC-3").pk
    assert set(taken[1].entries["doctor"]) == set(
        Doctor.history.filter(id=new).values_list("history_id", flat=True)
    )
    for link in ChainLink.objects.order_by("position"):
        assert link.manifest == _read_back(link.change_set_id)
    report = verify()
    assert report.ok, [str(problem) for problem in report.problems]


def test_the_hasher_takes_the_later_batches_of_a_large_change_set(taken, started):
    moment = datetime.datetime(2026, 3, 5, 7, 8, 9, tzinfo=datetime.UTC)
    with acting_as(description="Bulk") as change:
        _write(PEOPLE, when=moment, reason="r")
        (running,) = started
        assert running.sent == 2  # the doctors' rows, then the memberships'
    (usable,) = taken
    assert len(usable.entries["doctor"]) == len(PEOPLE)
    assert len(usable.entries["membership"]) == len(PEOPLE)
    assert running.process.returncode == 0
    _assert_sealed_right(change)


def test_a_hasher_that_dies_leaves_its_rows_to_be_read_back(taken, started):
    moment = datetime.datetime(2026, 3, 5, 7, 8, 9, tzinfo=datetime.UTC)
    with acting_as(description="Bulk") as change:
        _write(PEOPLE[:1], when=moment, reason="first", prefix="ONE")
        started[0].process.kill()
        started[0].process.wait()
        _write(PEOPLE[1:], when=moment, reason="second", prefix="TWO")
    (usable,) = taken
    # The batches sent before it died are read back; the later ones were
    # hashed in the writer.
    assert started[0].failed
    second = Doctor.history.filter(license_number__startswith="TWO")
    assert set(usable.entries["doctor"]) == set(
        second.values_list("history_id", flat=True)
    )
    _assert_sealed_right(change)


def test_a_hasher_that_does_not_answer_in_time_is_ended(taken, started, monkeypatch):
    monkeypatch.setattr(hasher, "ANSWER_SECONDS", 0.5)
    moment = datetime.datetime(2026, 3, 5, 7, 8, 9, tzinfo=datetime.UTC)
    with acting_as(description="Bulk") as change:
        _write(PEOPLE, when=moment, reason="r")
        started[0].process.send_signal(signal.SIGSTOP)
    (usable,) = taken
    assert usable.entries == {}
    assert started[0].process.returncode == -signal.SIGKILL
    _assert_sealed_right(change)


def test_a_block_that_fails_ends_its_hasher(started):
    moment = datetime.datetime(2026, 3, 5, 7, 8, 9, tzinfo=datetime.UTC)
    with pytest.raises(RuntimeError), acting_as(description="Bulk"):
        with transaction.atomic():
            _write(PEOPLE, when=moment, reason="r")
            raise RuntimeError
    (running,) = started
    assert running.process.returncode is not None
    assert not ChainLink.objects.exists()


def test_a_value_pickle_cannot_take_is_hashed_in_the_writer(taken, started):
    """The child takes plain values only; a batch it cannot be sent is
    hashed where it was written."""
    moment = datetime.datetime(2026, 3, 5, 7, 8, 9, tzinfo=datetime.UTC)
    historical = Doctor.history.model
    with acting_as(description="Bulk") as change:
        _write(PEOPLE[:1], when=moment, reason="r")
        recorder = change.written
        rows = [(1, lambda: None)]
        assert started[0].send(recorder.tables[historical], (), rows, []) is None
    (usable,) = taken
    assert len(usable.entries["doctor"]) == 1
    _assert_sealed_right(change)


@given(
    st.lists(
        st.tuples(
            st.text(max_size=12),
            st.one_of(st.none(), st.text(max_size=12)),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_the_hashers_commitments_are_the_sealings(people):
    """Hashing with the keys in hand (the writer, the child) gives the bytes
    sealing gives through its keyring, whatever the text."""
    keys = {("doctor", n): bytes([n]) * 32 for n in range(len(people))}
    when = "2026-03-05T07:08:09.000000Z"
    doctors = [
        (100 + n, n, "cardiology", active, when, when, "+", 7, f"L{n}", name, "")
        + ("", other, other)
        for n, (name, other, active) in enumerate(people)
    ]
    members = [
        (200 + n, 300 + n, n, 4, "member", "2026-03-05", active, when, "+", 7)
        + (other, None if active else "2026-04-01")
        for n, (_name, other, active) in enumerate(people)
    ]

    def commit(tag, row_id, kind, object_id, values):
        return canonical.commitment(keys[(kind, object_id)], tag, row_id, values)

    for table, rows in ((canonical.DOCTORS, doctors), (canonical.MEMBERSHIPS, members)):
        assert table.entries(rows, commit, keys) == table.entries(rows, commit)
        assert table.entries(rows, commit) == [
            canonical.entry(row[0], table.row_bytes(row, commit)) for row in rows
        ]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY: PostgreSQL's")
@pytest.mark.parametrize("one_exists", [False, True])
def test_many_new_keys_go_in_by_copy_and_an_existing_one_is_kept(
    monkeypatch, one_exists
):
    monkeypatch.setattr(chain, "COPY_KEYS_FROM", 2)
    if one_exists:
        PersonalDataKey.objects.create(kind="doctor", object_id=2, key=b"k" * 32)
    made = [("doctor", n, bytes([n]) * 32) for n in (1, 2, 3)]
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        stored = chain.insert_new_keys(made)
    assert stored == (2 if one_exists else 3)
    keys = dict(PersonalDataKey.objects.values_list("object_id", "key"))
    assert {n: bytes(key) for n, key in keys.items()} == {
        1: bytes([1]) * 32,
        2: b"k" * 32 if one_exists else bytes([2]) * 32,
        3: bytes([3]) * 32,
    }
    # COPY is not among the queries Django logs; the INSERT that keeps
    # existing keys runs only after the COPY met one.
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == (1 if one_exists else 0)
