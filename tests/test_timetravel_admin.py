"""The time-travel pages: revert preview and confirm, the historic view of a
version, the membership timeline, a department's members on a date."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from doctors import period_changes
from doctors.admin.timetravel import moment_param
from doctors.context import acting_as
from doctors.models import ActivityEvent, ChangeSet, Doctor, Membership
from tests.admin_forms import doctor_form, membership_row
from tests.factories import DepartmentFactory, DoctorFactory
from tests.visible_text import visible_text

pytestmark = pytest.mark.django_db
HEAD = Membership.Role.HEAD


def revert_url(obj, moment) -> str:
    name = type(obj)._meta.model_name
    return reverse(f"admin:doctors_{name}_revert", args=[obj.pk])


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def changed_twice(staff_client):
    """A doctor saved from the admin three times: the departments of each save."""
    card = DepartmentFactory(name="Cardiology")
    neur = DepartmentFactory(name="Neurology")
    onc = DepartmentFactory(name="Oncology")
    data = doctor_form(
        first_name="Ada",
        last_name="Byron",
        rows=[
            membership_row(other=card.pk, side="department", is_primary=True),
            membership_row(other=neur.pk, side="department"),
        ],
    )
    assert (
        staff_client.post(reverse("admin:doctors_doctor_add"), data).status_code == 302
    )
    doctor = Doctor.objects.get(last_name="Byron")
    first = ChangeSet.objects.latest("pk")
    url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
    # Second save: out of Cardiology, Neurology becomes primary.
    doctor.refresh_from_db()
    card_row = doctor.memberships.get(department=card)
    neur_row = doctor.memberships.get(department=neur)
    rows = [
        membership_row(card_row, other=card.pk, side="department", delete=True),
        membership_row(neur_row, other=neur.pk, side="department", is_primary=True),
    ]
    data = doctor_form(doctor, rows=rows, last_name="Lovelace")
    assert staff_client.post(url, data).status_code == 302
    # Third save: out of Neurology, into Oncology. (Primary from today:
    # Neurology's period ended yesterday and a new one started today.)
    doctor.refresh_from_db()
    neur_row = doctor.memberships.get(department=neur)
    rows = [
        membership_row(neur_row, other=neur.pk, side="department", delete=True),
        membership_row(
            other=onc.pk, side="department", joined_on=timezone.localdate().isoformat()
        ),
    ]
    assert staff_client.post(url, doctor_form(doctor, rows=rows)).status_code == 302
    return doctor, first


def test_revert_preview_then_confirm_restores_the_version(staff_client, changed_twice):
    doctor, first = changed_twice
    moment = first.ended_at
    response = staff_client.get(
        revert_url(doctor, moment), {"at": moment_param(moment)}
    )
    assert response.status_code == 200
    plan = response.context["plan"]
    assert [(c.name, c.now, c.then) for c in plan.fields] == [
        ("last_name", "Lovelace", "Byron")
    ]
    assert sorted((s.other_text, s.action) for s in plan.memberships) == [
        ("Cardiology", "add"),
        ("Neurology", "add"),
        ("Oncology", "remove"),
    ]
    page = response.content.decode()
    assert 'id="revert-conflicts"' not in page and "Restored" in page
    assert "2 restored, 1 removed, 0 changed." in page
    assert sorted(doctor.departments.values_list("name", flat=True)) == ["Oncology"]

    response = staff_client.post(
        revert_url(doctor, moment),
        {
            "at": moment_param(moment),
            "attempt": response.context["attempt"].pk,
            "change_reason": "wrong departments",
        },
        follow=True,
    )
    assert any("reverted to" in m for m in messages_of(response))
    doctor.refresh_from_db()
    assert doctor.last_name == "Byron"
    assert sorted(doctor.memberships.values_list("department__name", "is_primary")) == [
        ("Cardiology", True),
        ("Neurology", False),
    ]
    # One change-set holds the revert: every event and history row it wrote.
    revert = ChangeSet.objects.latest("pk")
    assert revert.description.startswith("Revert Dr Ada Lovelace to ")
    assert revert.reason == "wrong departments"
    assert set(
        ActivityEvent.objects.filter(occurred_at__gte=revert.started_at).values_list(
            "change_set", flat=True
        )
    ) == {revert.pk}
    assert Membership.history.filter(change_set=revert).count() == 3
    assert Doctor.history.filter(change_set=revert).count() == 1


def test_revert_conflicts_are_shown_and_refused_until_skipped(staff_client):
    card = DepartmentFactory(name="Cardiology")
    doctor = DoctorFactory(first_name="Ada")
    doctor.departments.add(card, through_defaults={"role": HEAD})
    moment = timezone.now()
    doctor.first_name = "Adah"
    doctor.save()
    doctor.departments.clear()
    other = DoctorFactory(last_name="Other")
    card.doctors.add(other, through_defaults={"role": HEAD})
    url = revert_url(doctor, moment)
    response = staff_client.get(url, {"at": moment_param(moment)})
    page = response.content.decode()
    assert 'id="revert-conflicts"' in page and "another head" in page
    assert 'name="skip_conflicts"' in page
    attempt = response.context["attempt"].pk

    response = staff_client.post(url, {"at": moment_param(moment), "attempt": attempt})
    assert response.status_code == 409
    assert "conflicts" in messages_of(response)[0]
    doctor.refresh_from_db()
    assert doctor.first_name == "Adah"

    # The page shown again carries a new preview to confirm.
    attempt = response.context["attempt"].pk
    response = staff_client.post(
        url,
        {"at": moment_param(moment), "attempt": attempt, "skip_conflicts": "1"},
        follow=True,
    )
    doctor.refresh_from_db()
    assert doctor.first_name == "Ada"
    assert not doctor.memberships.exists()
    assert any("Left as they are" in m for m in messages_of(response))


def test_a_changed_record_since_the_preview_is_not_reverted(staff_client):
    card, neur = DepartmentFactory(), DepartmentFactory()
    doctor = DoctorFactory()
    doctor.departments.add(card)
    moment = timezone.now()
    doctor.departments.set([neur])
    url = revert_url(doctor, moment)
    page = staff_client.get(url, {"at": moment_param(moment)})
    attempt = page.context["attempt"].pk
    doctor.departments.add(card)
    response = staff_client.post(url, {"at": moment_param(moment), "attempt": attempt})
    assert response.status_code == 409
    assert "changed since the preview" in messages_of(response)[0]
    assert set(doctor.departments.all()) == {card, neur}


def test_revert_needs_the_change_permission(client, manager):
    doctor = DoctorFactory()
    moment = timezone.now()
    client.force_login(manager)
    url = revert_url(doctor, moment)
    assert client.get(url, {"at": moment_param(moment)}).status_code == 403
    assert client.post(url, {"at": moment_param(moment)}).status_code == 403


def test_simple_history_revert_is_off(staff_client):
    """Its form would save the old fields and keep today's memberships."""
    doctor = DoctorFactory(first_name="Ada")
    version = doctor.history.get()
    doctor.first_name = "Adah"
    doctor.save()
    url = reverse(
        "admin:doctors_doctor_simple_history", args=[doctor.pk, version.history_id]
    )
    page = staff_client.get(url).content.decode()
    assert 'name="_save"' not in page and 'id="revert-to-version"' in page
    assert staff_client.post(url, {"first_name": "Ada"}).status_code == 405
    doctor.refresh_from_db()
    assert doctor.first_name == "Adah"


def test_the_historic_view_shows_the_memberships_of_its_time(
    staff_client, changed_twice
):
    doctor, first = changed_twice
    version = doctor.history.filter(change_set=first).get()
    url = reverse(
        "admin:doctors_doctor_simple_history", args=[doctor.pk, version.history_id]
    )
    response = staff_client.get(url)
    then = [(name, m.is_primary) for name, m in response.context["memberships_then"]]
    assert then == [("Cardiology", True), ("Neurology", False)]
    page = response.content.decode()
    assert "Oncology" not in page.split('id="memberships_then"')[1]


def test_the_doctor_history_page_shows_the_timeline(staff_client, changed_twice):
    """Each period with its records: who recorded it, in which change-set."""
    doctor, first = changed_twice
    response = staff_client.get(
        reverse("admin:doctors_doctor_history", args=[doctor.pk])
    )
    listed = response.context["membership_timeline"]
    # The first period of each department (listed newest first).
    found = {p.department_name: p for p in listed}
    assert set(found) == {"Cardiology", "Neurology", "Oncology"}
    assert found["Cardiology"].recorded.change_set == first
    assert found["Neurology"].recorded.change_set == first
    assert found["Oncology"].status == "current"
    assert found["Oncology"].recorded.change_set != first
    records = [r for p in listed for r in p.records]
    assert {r.user for r in records} == {"staff-user"}
    page = response.content.decode()
    assert page.count('class="revert-link"') == len(records)
    assert f"/admin/doctors/changeset/{first.pk}/" in page
    text = " ".join(visible_text(page).split())
    assert "Oncology: Member, from " in text


def test_members_on_a_date_page_and_csv(staff_client):
    card = DepartmentFactory(code="CARD", name="Cardiology")
    ada = DoctorFactory(first_name="Ada", last_name="Byron", license_number="=L1")
    card.doctors.add(ada, through_defaults={"role": HEAD, "is_primary": True})
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    change_page = staff_client.get(
        reverse("admin:doctors_department_change", args=[card.pk])
    ).content.decode()
    url = reverse("admin:doctors_department_members_on", args=[card.pk])
    assert url in change_page and "Members on a date" in change_page

    response = staff_client.get(url)
    assert response.context["count"] == 1
    assert "Ada Byron" in response.content.decode()
    response = staff_client.get(url, {"on": yesterday.isoformat()})
    assert response.context["count"] == 0
    response = staff_client.get(url, {"on": "not a date"})
    assert response.context["form"].errors["on"]

    response = staff_client.get(
        url, {"on": timezone.localdate().isoformat(), "format": "csv"}
    )
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    today = timezone.localdate().isoformat()
    assert body.splitlines() == [
        "license_number,name,role,primary,joined_on,left_on",
        f"'=L1,Ada Byron,head,true,{today},",
    ]


def _page_text(response) -> str:
    return " ".join(visible_text(response.content.decode()).split())


def test_members_on_a_date_in_the_clinics_calendar_and_as_recorded(
    staff_client, settings
):
    """A period entered today answers for the days it covers; as the records
    stood before it was entered, nobody was known. A correction recorded
    later does not change what the records said before it."""
    settings.TIME_ZONE = "Europe/Berlin"
    card = DepartmentFactory(code="CARD", name="Cardiology")
    ada = DoctorFactory(first_name="Ada", last_name="Byron")
    period = period_changes.join(
        ada,
        card,
        first_day=datetime.date(2016, 4, 1),
        last_day=datetime.date(2025, 3, 31),
        role=HEAD,
    )
    url = reverse("admin:doctors_department_members_on", args=[card.pk])

    response = staff_client.get(url, {"on": "2025-01-01"})
    text = _page_text(response)
    assert "Who was in Cardiology on 1 January 2025" in text
    assert "1 member on 1 January 2025." in text
    assert "License number Name Role Primary department First day Last day" in text
    assert "Ada Byron Head of department no 1 Apr 2016 31 Mar 2025" in text
    assert "joined_on" not in text and "None" not in text
    assert staff_client.get(url, {"on": "2025-04-01"}).context["count"] == 0

    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    response = staff_client.get(
        url, {"on": "2025-01-01", "recorded_on": yesterday.isoformat()}
    )
    assert response.context["count"] == 0
    text = _page_text(response)
    assert (
        "Who was in Cardiology on 1 January 2025, as the records stood on "
        f"{date_format(yesterday, 'j F Y')} at 23:59" in text
    )
    assert "Show with everything recorded so far" in text

    # Entered "today"; corrected a while later: she left at the end of 2024.
    entered = timezone.now() - datetime.timedelta(hours=2)
    Membership.history.update(history_date=entered)
    period_changes.correct(period, left_on=datetime.date(2024, 12, 31))
    assert staff_client.get(url, {"on": "2025-01-01"}).context["count"] == 0
    local = timezone.localtime(entered + datetime.timedelta(minutes=1))
    asked = {
        "on": "2025-01-01",
        "recorded_on": local.date().isoformat(),
        "recorded_at": local.strftime("%H:%M"),
    }
    response = staff_client.get(url, asked)
    assert [m.left_on for m in response.context["page_obj"]] == [
        datetime.date(2025, 3, 31)
    ]
    response = staff_client.get(url, {**asked, "format": "csv"})
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert body.splitlines()[1].endswith(",head,false,2016-04-01,2025-03-31")


def test_members_on_a_date_refuses_what_it_cannot_answer(staff_client):
    card = DepartmentFactory(name="Cardiology")
    url = reverse("admin:doctors_department_members_on", args=[card.pk])
    response = staff_client.get(url, {"on": "2025-01-01", "recorded_at": "10:00"})
    assert response.context["form"].errors["recorded_on"] == [
        "Choose the day the time belongs to, or clear the time."
    ]
    response = staff_client.get(url, {"on": "2025-01-01", "recorded_on": "9999-12-31"})
    assert "outside the dates" in response.context["form"].errors["recorded_on"][0]
    assert response.status_code == 200


def test_a_department_is_reverted_from_its_page(staff_client):
    card = DepartmentFactory(name="Cardiology")
    ann, bo = DoctorFactory.create_batch(2)
    card.doctors.add(ann, through_defaults={"role": HEAD})
    moment = timezone.now()
    card.name = "Heart"
    card.save()
    card.doctors.set([bo])
    url = revert_url(card, moment)
    response = staff_client.get(url, {"at": moment_param(moment)})
    assert response.context["other_label"] == "Doctor"
    attempt = response.context["attempt"].pk
    response = staff_client.post(url, {"at": moment_param(moment), "attempt": attempt})
    assert response.status_code == 302
    card.refresh_from_db()
    assert card.name == "Cardiology"
    assert list(card.memberships.values_list("doctor", "role")) == [(ann.pk, HEAD)]


def test_a_revert_without_a_valid_moment_goes_back_to_the_history(staff_client):
    before = timezone.now()
    doctor = DoctorFactory()
    history = reverse("admin:doctors_doctor_history", args=[doctor.pk])
    for at in [
        "",
        "yesterday",
        "2025-03-01T10:00:00",  # no zone
        "9999-12-31T23:59:59-05:00",  # outside the clinic's dates
        "0001-01-01T00:00:00+05:00",
    ]:
        response = staff_client.get(revert_url(doctor, before), {"at": at}, follow=True)
        assert response.redirect_chain == [(history, 302)]
        assert messages_of(response) == [
            "Choose a version to revert to from the history."
        ]
    response = staff_client.get(
        revert_url(doctor, before), {"at": moment_param(before)}, follow=True
    )
    assert response.redirect_chain == [(history, 302)]
    assert "did not exist" in messages_of(response)[0]


def test_a_department_version_lists_its_members_of_then(staff_client, superuser):
    with acting_as(superuser, source="admin"):
        card = DepartmentFactory(name="Cardiology")
        card.doctors.add(DoctorFactory(first_name="Ada", last_name="Byron"))
    version = card.history.get()
    card.doctors.add(DoctorFactory(first_name="Bob", last_name="Later"))
    url = reverse(
        "admin:doctors_department_simple_history", args=[card.pk, version.history_id]
    )
    response = staff_client.get(url)
    assert [name for name, _ in response.context["memberships_then"]] == [
        "Dr Ada Byron"
    ]
    assert "Members at this version" in response.content.decode()


def test_the_timeline_on_the_history_page_reads_as_words(staff_client, superuser):
    card = DepartmentFactory(name="Cardiology")
    ada = DoctorFactory(first_name="Ada", last_name="Byron")
    with acting_as(superuser, source="admin"):
        period = period_changes.join(ada, card, first_day=datetime.date(2024, 2, 1))
        period_changes.correct(period, joined_on=datetime.date(2024, 3, 1))
        period_changes.leave([period], datetime.date(2025, 3, 31))
    response = staff_client.get(reverse("admin:doctors_doctor_history", args=[ada.pk]))
    text = " ".join(visible_text(response.content.decode()).split())
    assert "Cardiology: Member, 1 Mar 2024 to 31 Mar 2025 (ended)" in text, text
    assert "Recorded Member from 1 Feb 2024 root-user" in text
    assert "Corrected first day 1 Feb 2024 → 1 Mar 2024 root-user" in text
    assert "End recorded last day 31 Mar 2025 root-user" in text
    assert response.content.decode().count('class="revert-link"') == 3
    for word in ("joined_on", "left_on", "None", "is_primary"):
        assert word not in text
