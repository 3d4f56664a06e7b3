"""The membership rules on every day (doctors/period_rules.py), held by the
database itself on SQLite and PostgreSQL: through raw SQL, bulk inserts and
queryset updates that skip every check in Python, and between two writers
that each checked before the other wrote. A refusal reads as the rule's words
(doctors/integrity.py), never as the database's own message."""

import datetime
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from doctors import period_changes
from doctors.integrity import UNKNOWN, explain_integrity_error, violated_constraint
from doctors.models import DATES_RULE, RULE_WORDS, Membership
from doctors.period_rules import HEAD_RULE, OVERLAP_RULE, PRIMARY_RULE
from tests.at_once import at_once
from tests.factories import DepartmentFactory, DoctorFactory

pytestmark = pytest.mark.django_db

JAN_2020 = datetime.date(2020, 1, 1)
DEC_2020 = datetime.date(2020, 12, 31)
JAN_2021 = datetime.date(2021, 1, 1)
JUN_2021 = datetime.date(2021, 6, 1)
JAN_2022 = datetime.date(2022, 1, 1)


def period(doctor, department, first, last=None, **fields) -> Membership:
    """A row as bulk_create writes it: no clean(), no signal."""
    (row,) = Membership.objects.bulk_create(
        [
            Membership(
                doctor=doctor,
                department=department,
                joined_on=first,
                left_on=last,
                **fields,
            )
        ]
    )
    return row


def refused(write) -> str:
    """The rule the database named when refusing `write`; its words must be the
    rule's own."""
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        write()
    rule = violated_constraint(caught.value)
    assert explain_integrity_error(caught.value) == RULE_WORDS[rule].refused
    return rule


def raw_insert(doctor, department, first, last=None, role="member", primary=False):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO doctors_membership "
            "(doctor_id, department_id, role, joined_on, left_on, is_primary) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [doctor.pk, department.pk, role, first, last, primary],
        )


@pytest.fixture
def ann():
    return DoctorFactory(first_name="Ann", last_name="Abbott")


@pytest.fixture
def bob():
    return DoctorFactory(first_name="Bob", last_name="Baker")


@pytest.fixture
def card():
    return DepartmentFactory(code="CARD", name="Cardiology")


@pytest.fixture
def neur():
    return DepartmentFactory(code="NEUR", name="Neurology")


# One doctor, one department: no two periods share a day.


def test_overlapping_periods_are_refused_by_raw_sql(ann, card):
    raw_insert(ann, card, JAN_2020, DEC_2020)
    assert refused(lambda: raw_insert(ann, card, JUN_2021.replace(2020))) == (
        OVERLAP_RULE
    )
    # Sharing only the last day is sharing a day: both days are included.
    assert refused(lambda: raw_insert(ann, card, DEC_2020, JAN_2021)) == OVERLAP_RULE
    # The period inside another, and the one around it.
    inside = datetime.date(2020, 3, 1), datetime.date(2020, 4, 1)
    assert refused(lambda: raw_insert(ann, card, *inside)) == OVERLAP_RULE
    around = datetime.date(2019, 1, 1), JAN_2022
    assert refused(lambda: raw_insert(ann, card, *around)) == OVERLAP_RULE
    assert Membership.objects.count() == 1


def test_adjacent_periods_and_other_departments_are_allowed(ann, bob, card, neur):
    period(ann, card, JAN_2020, DEC_2020)
    period(ann, card, JAN_2021, JUN_2021)  # the next day
    period(ann, card, JUN_2021 + datetime.timedelta(days=1))  # open-ended after
    period(ann, neur, JAN_2020)  # another department, same days
    period(bob, card, JAN_2020)  # another doctor, same days
    assert Membership.objects.filter(doctor=ann, department=card).count() == 3


def test_an_open_ended_period_overlaps_every_later_one(ann, card):
    period(ann, card, JAN_2020)
    assert refused(lambda: period(ann, card, datetime.date(2030, 1, 1))) == (
        OVERLAP_RULE
    )
    # A later open-ended period overlaps an earlier one that never ended, too.
    assert refused(lambda: period(ann, card, datetime.date(2019, 1, 1))) == (
        OVERLAP_RULE
    )
    # A period that ends before it starts does not.
    period(ann, card, datetime.date(2019, 1, 1), datetime.date(2019, 12, 31))


def test_one_bulk_insert_of_two_overlapping_rows_writes_neither(ann, card):
    def both():
        Membership.objects.bulk_create(
            [
                Membership(doctor=ann, department=card, joined_on=JAN_2020),
                Membership(doctor=ann, department=card, joined_on=JAN_2021),
            ]
        )

    assert refused(both) == OVERLAP_RULE
    assert not Membership.objects.exists()


def test_updates_that_would_overlap_are_refused(ann, card, neur):
    first = period(ann, card, JAN_2020, DEC_2020)
    later = period(ann, card, JAN_2022)
    rows = Membership.objects.filter(pk=first.pk)
    # Reopening the first period, or stretching it into the later one.
    assert refused(lambda: rows.update(left_on=None)) == OVERLAP_RULE
    assert refused(lambda: rows.update(left_on=JAN_2022)) == OVERLAP_RULE
    # Moving the later one back over the first.
    later_rows = Membership.objects.filter(pk=later.pk)
    assert refused(lambda: later_rows.update(joined_on=JUN_2021.replace(2020))) == (
        OVERLAP_RULE
    )
    # Moving a period of another department onto this one.
    other = period(ann, neur, JAN_2021, DEC_2020.replace(2021))
    other_rows = Membership.objects.filter(pk=other.pk)
    assert refused(lambda: other_rows.update(department=card, left_on=None)) == (
        OVERLAP_RULE
    )
    # Stretching up to the day before the later one is fine.
    rows.update(left_on=JAN_2022 - datetime.timedelta(days=1))
    stored = Membership.objects.order_by("joined_on").values_list(
        "department__code", "joined_on", "left_on"
    )
    assert list(stored) == [
        ("CARD", JAN_2020, datetime.date(2021, 12, 31)),
        ("NEUR", JAN_2021, datetime.date(2021, 12, 31)),
        ("CARD", JAN_2022, None),
    ]


# A department has at most one head on any day.


def test_two_heads_on_one_day_are_refused(ann, bob, card, neur):
    period(ann, card, JAN_2020, DEC_2020, role="head")
    assert refused(
        lambda: raw_insert(bob, card, JUN_2021.replace(2020), None, "head")
    ) == (HEAD_RULE)
    assert refused(lambda: period(bob, card, DEC_2020, role="head")) == HEAD_RULE
    # The next day, as a member on the same days, or head of another department.
    period(bob, card, JAN_2021, role="head")
    period(bob, card, JAN_2020, DEC_2020, role="member")
    period(bob, neur, JAN_2020, role="head")
    # Promoting a member over the days of another head.
    member = period(ann, card, JAN_2021, JUN_2021)
    promote = Membership.objects.filter(pk=member.pk)
    assert refused(lambda: promote.update(role="head")) == HEAD_RULE
    assert Membership.objects.filter(department=card, role="head").count() == 2


def test_a_handover_from_a_date_leaves_one_head_on_every_day(ann, bob, card):
    head = period_changes.join(ann, card, first_day=JAN_2020, role="head")
    member = period_changes.join(bob, card, first_day=JAN_2020)
    period_changes.make_head(member, JUN_2021)
    heads = Membership.objects.filter(department=card, role="head")
    for day in (JAN_2020, JUN_2021 - datetime.timedelta(days=1), JUN_2021, JAN_2022):
        assert heads.covering(day).count() == 1, day
    head.refresh_from_db()
    assert head.left_on == JUN_2021 - datetime.timedelta(days=1)


# A doctor has at most one primary department on any day.


def test_two_primary_departments_on_one_day_are_refused(ann, card, neur):
    first = period(ann, card, JAN_2020, DEC_2020, is_primary=True)
    assert refused(lambda: raw_insert(ann, neur, JAN_2020, None, primary=True)) == (
        PRIMARY_RULE
    )
    # Not primary on the same days, or primary from the next day on.
    period(ann, neur, JAN_2020, DEC_2020)
    period(ann, neur, JAN_2021, is_primary=True)
    # Stretching the first primary period into the next one's days.
    rows = Membership.objects.filter(pk=first.pk)
    assert refused(lambda: rows.update(left_on=JAN_2021)) == PRIMARY_RULE
    # Another doctor's primary department is no concern of Ann's.
    period(DoctorFactory(), card, JAN_2020, is_primary=True)


# The last day is never before the first.


def test_a_period_ending_before_it_starts_is_refused(ann, card):
    assert refused(lambda: raw_insert(ann, card, JAN_2021, DEC_2020)) == DATES_RULE
    one_day = period(ann, card, JAN_2021, JAN_2021)  # a single day is a period
    rows = Membership.objects.filter(pk=one_day.pk)
    assert refused(lambda: rows.update(left_on=DEC_2020)) == DATES_RULE


# Checked first, in words that name the other period.


def test_a_form_names_the_other_doctor_department_and_days(ann, bob, card):
    period_changes.join(ann, card, first_day=JAN_2020, role="head")
    period_changes.join(bob, card, first_day=JAN_2020, last_day=DEC_2020)
    with pytest.raises(ValidationError) as caught:
        period_changes.join(bob, card, first_day=JUN_2021.replace(2020), role="head")
    assert caught.value.messages == [
        "Dr Bob Baker is already in Cardiology 1 Jan 2020 to 31 Dec 2020.",
        "Cardiology already has a head from 1 Jan 2020: Dr Ann Abbott.",
    ]
    assert Membership.objects.count() == 2


def test_every_rule_has_words_and_an_unknown_one_reads_as_a_conflict():
    for rule in (OVERLAP_RULE, HEAD_RULE, PRIMARY_RULE, DATES_RULE):
        words = RULE_WORDS[rule]
        assert words.on_form and words.refused
        assert "_" not in words.refused
    assert explain_integrity_error(IntegrityError("something else")) == UNKNOWN


# Two writers at the same moment, each on its own connection (PostgreSQL: on
# SQLite the test database is one file that takes one writer at a time).

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="two writers at the same moment need two connections to PostgreSQL",
)

HOLD = 0.3  # seconds each writer keeps its transaction open after writing


def _writer(write):
    """A call for at_once: `write` in a transaction held open a moment, so
    the other writer's checks run before it commits; the outcome, not an
    exception: "wrote", or the words staff would read."""

    def call():
        try:
            with transaction.atomic():
                write()
                time.sleep(HOLD)
            return "wrote"
        except IntegrityError as error:
            return (
                "refused",
                violated_constraint(error),
                explain_integrity_error(error),
            )
        except ValidationError as error:
            return ("invalid", None, " ".join(error.messages))
        finally:
            connection.close()

    return call


def _join(doctor, department, first, last):
    return period_changes.join(doctor, department, first_day=first, last_day=last)


@postgresql_only
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_writers_adding_overlapping_periods_one_wins(ann, card):
    """Both check the stored periods before either has written: the checks
    pass, the database lets one write and refuses the other by the rule."""
    for first, second in [
        ((JAN_2020, None), (JAN_2021, None)),  # two open-ended periods
        ((JAN_2020, DEC_2020), (JUN_2021.replace(2020), JAN_2022)),  # one day shared
    ]:
        outcomes = at_once(
            _writer(lambda days=first: _join(ann, card, *days)),
            _writer(lambda days=second: _join(ann, card, *days)),
        )
        assert outcomes.count("wrote") == 1, outcomes
        (loser,) = [outcome for outcome in outcomes if outcome != "wrote"]
        assert loser == ("refused", OVERLAP_RULE, RULE_WORDS[OVERLAP_RULE].refused)
        assert Membership.objects.filter(doctor=ann, department=card).count() == 1
        for row in Membership.objects.all():
            row.cancel()


@postgresql_only
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_writers_making_two_heads_from_one_day(ann, bob, card):
    """Two heads of one department from the same day, asked at once: one is
    head from that day, the other is told, and every day has one head."""
    carl = DoctorFactory(first_name="Carl", last_name="Cole")
    period_changes.join(carl, card, first_day=JAN_2020, role="head")
    ann_period = period_changes.join(ann, card, first_day=JAN_2020)
    bob_period = period_changes.join(bob, card, first_day=JAN_2020)
    outcomes = at_once(
        _writer(lambda: period_changes.make_head(ann_period, JAN_2022)),
        _writer(lambda: period_changes.make_head(bob_period, JAN_2022)),
    )
    assert outcomes.count("wrote") == 1, outcomes
    (loser,) = [outcome for outcome in outcomes if outcome != "wrote"]
    winner = (ann, bob)[outcomes.index("wrote")]
    # Told who heads the department from that day, not about the old head.
    assert loser == (
        "invalid",
        None,
        f"Cardiology already has a head from 1 Jan 2022: {winner}.",
    )
    heads = Membership.objects.filter(department=card, role="head")
    for day in (JAN_2020, JAN_2022 - datetime.timedelta(days=1), JAN_2022):
        assert heads.covering(day).count() == 1, day
    assert heads.covering(JAN_2022).get().doctor == winner
    assert heads.covering(JAN_2021).get().doctor == carl
    # Nobody lost a day: Carl is a member from the handover, Ann and Bob throughout.
    for doctor in (ann, bob, carl):
        days = Membership.objects.filter(doctor=doctor, department=card)
        assert all(days.covering(day).count() == 1 for day in (JAN_2021, JAN_2022))


@postgresql_only
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_writers_moving_one_primary_department_from_one_day(ann, card, neur):
    """Two primary departments for one doctor from the same day, asked at
    once: one becomes primary, the other is told which one is."""
    period_changes.join(ann, card, first_day=JAN_2020, is_primary=True)
    periods = [
        period_changes.join(ann, department, first_day=JAN_2020)
        for department in (neur, DepartmentFactory(code="ONC", name="Oncology"))
    ]
    outcomes = at_once(
        *(
            _writer(lambda m=m: period_changes.make_primary(m, JAN_2022))
            for m in periods
        )
    )
    assert outcomes.count("wrote") == 1, outcomes
    (loser,) = [outcome for outcome in outcomes if outcome != "wrote"]
    winner = periods[outcomes.index("wrote")].department
    assert loser == (
        "invalid",
        None,
        f"Dr Ann Abbott's primary department is already {winner} from 1 Jan 2022.",
    )
    primary = Membership.objects.filter(doctor=ann, is_primary=True)
    assert primary.covering(JAN_2021).get().department == card
    assert primary.covering(JAN_2022).get().department == winner
