import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from doctors import periods
from doctors.integrity import violated_constraint
from doctors.models import Department, Doctor, Membership

pytestmark = pytest.mark.django_db


def mk():
    d = Doctor.objects.create(
        license_number="L1",
        first_name="A",
        last_name="B",
        email="a@b.c",
        specialty="cardiology",
    )
    c = Department.objects.create(code="C", name="Card")
    return d, c


def test_roads():
    d, c = mk()
    n = Department.objects.create(code="N", name="Neuro")
    d.departments.add(c, through_defaults={"joined_on": dt.date(2020, 1, 1)})
    assert list(d.departments.all()) == [c]
    assert d.departments.count() == 1
    d.departments.remove(c)
    m = Membership.objects.get()
    assert m.left_on == periods.yesterday(), m.left_on
    assert list(d.departments.all()) == []
    assert d.departments.count() == 0
    d.departments.add(c)
    assert Membership.objects.count() == 2
    assert list(d.departments.all()) == [c]
    assert list(c.doctors.all()) == [d]
    docs = list(Doctor.objects.prefetch_related("departments"))
    assert list(docs[0].departments.all()) == [c]
    d.departments.set([n])
    assert list(d.departments.all()) == [n]
    # joined today: cancelled
    assert Membership.objects.count() == 2
    d.departments.set([c, n])
    assert sorted(x.code for x in d.departments.all()) == ["C", "N"]
    d.departments.clear()
    assert d.departments.count() == 0


def test_rules():
    d, c = mk()
    Membership.objects.create(
        doctor=d,
        department=c,
        joined_on=dt.date(2020, 1, 1),
        left_on=dt.date(2020, 12, 31),
    )
    with pytest.raises(IntegrityError) as e, transaction.atomic():
        Membership.objects.create(doctor=d, department=c, joined_on=dt.date(2020, 6, 1))
    assert violated_constraint(e.value) == "membership_unique_doctor_department"
    Membership.objects.create(
        doctor=d, department=c, joined_on=dt.date(2021, 1, 1), role="head"
    )
    d2 = Doctor.objects.create(
        license_number="L2",
        first_name="A",
        last_name="C",
        email="a2@b.c",
        specialty="cardiology",
    )
    Membership.objects.create(
        doctor=d2,
        department=c,
        joined_on=dt.date(2020, 1, 1),
        left_on=dt.date(2020, 12, 31),
        role="head",
    )
    with pytest.raises(IntegrityError) as e, transaction.atomic():
        Membership.objects.create(
            doctor=d2, department=c, joined_on=dt.date(2022, 1, 1), role="head"
        )
    assert violated_constraint(e.value) == "membership_one_head_per_department"
    with pytest.raises(IntegrityError) as e, transaction.atomic():
        Membership.objects.create(
            doctor=d2,
            department=c,
            joined_on=dt.date(2022, 1, 1),
            left_on=dt.date(2021, 1, 1),
        )
    assert violated_constraint(e.value) == "membership_left_after_joined"
    m = Membership(doctor=d2, department=c, joined_on=dt.date(2022, 1, 1), role="head")
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as e:
        m.full_clean()
    assert "Card already has a head from 1 Jan 2021: Dr A B." in e.value.messages


def test_services():
    from doctors import period_changes as pc

    d, c = mk()
    d2 = Doctor.objects.create(
        license_number="L2",
        first_name="A",
        last_name="C",
        email="a2@b.c",
        specialty="cardiology",
    )
    pc.join(d, c, first_day=dt.date(2020, 1, 1), role="head")
    m2 = pc.join(d2, c, first_day=dt.date(2021, 1, 1))
    new = pc.make_head(m2, dt.date(2022, 3, 1))
    list(
        Membership.objects.order_by("doctor_id", "joined_on").values_list(
            "doctor_id", "role", "joined_on", "left_on"
        )
    )

    heads = Membership.objects.filter(role="head").order_by("joined_on")
    assert [(h.doctor_id, h.joined_on, h.left_on) for h in heads] == [
        (d.pk, dt.date(2020, 1, 1), dt.date(2022, 2, 28)),
        (d2.pk, dt.date(2022, 3, 1), None),
    ]
    pc.correct(new, joined_on=dt.date(2022, 3, 2))
