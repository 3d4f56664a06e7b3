"""Two staff act on the same member rows at the same moment, through a live server.

Each pair of requests is sent by two threads released together, as two browsers
would, against pytest-django's live server (one thread and one database
connection per request on PostgreSQL). After each try, every request either
changed what it asked for or was refused with a message naming the doctor, and
the feed, replayed from the state before the try, gives the stored row.
"""

import datetime
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from functools import partial
from html import unescape
from http.cookies import SimpleCookie

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils.formats import date_format

from doctors import concurrency, periods
from doctors.models import ActivityEvent, Membership
from tests.at_once import at_once
from tests.factories import (
    DepartmentFactory,
    DoctorFactory,
    MembershipFactory,
    UserFactory,
)
from tests.test_members import row_post

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="on SQLite the live server shares the test's one connection, so "
        "two requests cannot run at the same moment",
    ),
]

TRIES = 12
LIST_URL = reverse("admin:doctors_membership_changelist")
MESSAGE = re.compile(r'<li class="(success|warning|error|info)">(.*?)</li>', re.S)
TRACKED = ("role", "is_primary", "joined_on", "left_on")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """One logged-in person: their own session and CSRF cookies, kept by hand
    (the standard cookie jar will not keep cookies for "localhost")."""

    def __init__(self, live_server, user):
        client = Client()
        client.force_login(user)
        self.base = live_server.url
        self.csrf = secrets.token_hex(16)
        self.cookies = {
            "sessionid": client.cookies["sessionid"].value,
            "csrftoken": self.csrf,
        }
        self.opener = urllib.request.build_opener(_NoRedirects)

    def _open(self, url: str, body: bytes | None = None):
        request = urllib.request.Request(self.base + url, body)
        request.add_header(
            "Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        )
        try:
            response = self.opener.open(request, timeout=60)
        except urllib.error.HTTPError as error:  # the redirect after a POST
            response = error
        with response:
            for header in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(header).items():
                    self.cookies[name] = morsel.value
            return response.status, response.headers, response.read().decode()

    def post(self, url: str, data: dict) -> list[str]:
        """POST as the page's form would; the messages of the page shown after."""
        body = urllib.parse.urlencode(
            {**data, "csrfmiddlewaretoken": self.csrf}, doseq=True
        ).encode()
        status, headers, page = self._open(url, body)
        if status == 302:
            location = urllib.parse.urlsplit(headers["Location"])
            status, headers, page = self._open(
                location.path + (f"?{location.query}" if location.query else "")
            )
        assert status == 200, (status, page[-2000:])
        self.last_page = page
        return [
            unescape(re.sub(r"<[^>]+>", "", text)) for _, text in MESSAGE.findall(page)
        ]


def action(membership: Membership, name: str) -> dict:
    """The member list's form as sent with one row ticked and an action chosen:
    the version of the row as the page showed it rides along. A removal is
    sent as its confirmation page sends it."""
    return {
        "action": name,
        "_selected_action": [str(membership.pk)],
        "index": "0",
        f"row-version-{membership.pk}": concurrency.version_of(membership),
        **(
            {"post": "yes", "last_day": periods.yesterday().isoformat()}
            if name == "remove_selected"
            else {}
        ),
    }


def state(membership: Membership) -> dict:
    row = Membership.objects.filter(pk=membership.pk).values(*TRACKED).first()
    return row and {
        **row,
        "joined_on": row["joined_on"].isoformat(),
        "left_on": row["left_on"] and row["left_on"].isoformat(),
    }


def replay_feed(before: dict, membership: Membership, since: int) -> dict:
    """The row as the feed tells it: each change's old value must be the value
    before it, and its new value becomes the row's."""
    row = dict(before)
    events = ActivityEvent.objects.filter(
        pk__gt=since,
        target_id=membership.doctor_id,
        department_id=membership.department_id,
        verb__startswith="membership_",
    ).order_by("pk")
    for event in events:
        if event.verb == "membership_removed":
            return None
        for field, (old, new) in event.changes.items():
            if field in row:
                if row[field] != old:
                    return {"inconsistent": (field, row[field], event.changes)}
                row[field] = new
    return row


def refused(messages: list[str], doctor) -> bool:
    return any(str(doctor) in m and "Nothing was changed" in m for m in messages)


def in_place_edit(membership: Membership, **changes) -> dict:
    """The member list's form as sent after editing one row in place."""
    return row_post(membership, **changes)


def fresh_row(department, first_name: str, **fields) -> Membership:
    """The department's only member, made anew for one try."""
    Membership.objects.filter(department=department).delete()
    return MembershipFactory(
        department=department,
        doctor=DoctorFactory(first_name=first_name, last_name="Moss"),
        **fields,
    )


def last_event_id() -> int:
    return (
        ActivityEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    )


@pytest.fixture
def two_people(live_server):
    return (
        Browser(live_server, UserFactory(username="alice", is_superuser=True)),
        Browser(live_server, UserFactory(username="bob", is_superuser=True)),
    )


def test_make_head_and_unset_primary_on_one_row_lose_nothing(two_people):
    alice, bob = two_people
    department = DepartmentFactory(name="Cardiology")
    url = f"{LIST_URL}?department={department.pk}"
    lost = feed_wrong = 0
    for attempt in range(TRIES):
        Membership.objects.filter(department=department).delete()
        MembershipFactory(department=department, role="head")
        row = MembershipFactory(
            department=department,
            is_primary=True,
            doctor=DoctorFactory(first_name=f"Ann{attempt}", last_name="Lee"),
        )
        before = state(row)
        since = last_event_id()
        made_head, unset = at_once(
            partial(alice.post, url, action(row, "make_head")),
            partial(bob.post, url, action(row, "unset_primary")),
        )
        stored = state(row)
        feed_wrong += replay_feed(before, row, since) != stored
        head_kept = stored["role"] == "head" or refused(made_head, row.doctor)
        unset_kept = stored["is_primary"] is False or refused(unset, row.doctor)
        lost += not (head_kept and unset_kept)
    assert (lost, feed_wrong) == (0, 0), (
        f"{lost} of {TRIES} tries lost a change; in {feed_wrong} the feed differs "
        "from the stored row"
    )


def test_two_people_make_two_doctors_head_at_once(two_people):
    """Both pages showed the same head; the second "Make head" to arrive would
    demote a head its person never saw, so it is refused, never applied."""
    alice, bob = two_people
    department = DepartmentFactory(name="Neurology")
    url = f"{LIST_URL}?department={department.pk}"
    for attempt in range(TRIES):
        Membership.objects.filter(department=department).delete()
        old = MembershipFactory(department=department, role="head")
        first = MembershipFactory(
            department=department,
            doctor=DoctorFactory(first_name=f"Bea{attempt}", last_name="Ash"),
        )
        second = MembershipFactory(
            department=department,
            doctor=DoctorFactory(first_name=f"Cy{attempt}", last_name="Oak"),
        )
        since = last_event_id()
        seen = {
            f"row-version-{m.pk}": concurrency.version_of(m)
            for m in (old, first, second)
        }
        by_alice, by_bob = at_once(
            partial(alice.post, url, {**action(first, "make_head"), **seen}),
            partial(bob.post, url, {**action(second, "make_head"), **seen}),
        )
        heads = list(Membership.objects.filter(department=department, role="head"))
        assert len(heads) == 1
        winner = heads[0]
        assert winner.pk in (first.pk, second.pk)
        loser, loser_messages = (
            (second, by_bob) if winner.pk == first.pk else (first, by_alice)
        )
        assert any(
            "Nothing was changed" in m and str(winner.doctor) in m
            for m in loser_messages
        ), loser_messages
        for membership in (old, first, second):
            before = {
                "role": "head" if membership is old else "member",
                "is_primary": False,
                "joined_on": membership.joined_on.isoformat(),
                "left_on": None,
            }
            assert replay_feed(before, membership, since) == (state(membership))


def test_the_same_action_twice_at_once_changes_once_and_says_so(two_people):
    alice, bob = two_people
    department = DepartmentFactory(name="Oncology")
    url = f"{LIST_URL}?department={department.pk}"
    for attempt in range(TRIES):
        row = fresh_row(department, f"Di{attempt}")
        since = last_event_id()
        first, second = at_once(
            partial(alice.post, url, action(row, "make_head")),
            partial(bob.post, url, action(row, "make_head")),
        )
        events = ActivityEvent.objects.filter(pk__gt=since, verb="membership_changed")
        assert events.count() == 1
        already = (
            f"{row.doctor} is already head of Oncology on "
            f"{date_format(periods.today())}."
        )
        assert sorted([already in first, already in second]) == [False, True], (
            first,
            second,
        )


@pytest.mark.parametrize(
    ("name", "start", "already"),
    [
        ("remove_selected", {}, "{doctor} was already removed from Surgery."),
        (
            "set_primary",
            {},
            "Surgery is already the primary department of {doctor} on {today}.",
        ),
        (
            "unset_primary",
            {"is_primary": True},
            "Surgery is already not the primary department of {doctor} on {today}.",
        ),
    ],
)
def test_each_action_sent_twice_at_once_changes_once(two_people, name, start, already):
    alice, bob = two_people
    department = DepartmentFactory(name="Surgery")
    url = f"{LIST_URL}?department={department.pk}"
    for attempt in range(TRIES // 2):
        row = fresh_row(department, f"Eve{attempt}", **start)
        since = last_event_id()
        first, second = at_once(
            partial(alice.post, url, action(row, name)),
            partial(bob.post, url, action(row, name)),
        )
        events = ActivityEvent.objects.filter(
            pk__gt=since, verb__startswith="membership_"
        )
        assert events.count() == 1
        sentence = already.format(doctor=row.doctor, today=date_format(periods.today()))
        assert sorted([sentence in first, sentence in second]) == [False, True], (
            first,
            second,
        )


def test_an_in_place_edit_sent_twice_at_once_is_saved_once(two_people):
    alice, bob = two_people
    department = DepartmentFactory(name="Radiology")
    url = f"{LIST_URL}?department={department.pk}"
    for attempt in range(TRIES // 2):
        row = fresh_row(
            department, f"Flo{attempt}", joined_on=datetime.date(2020, 1, 1)
        )
        since = last_event_id()
        edit = in_place_edit(row, joined_on="2021-06-01")
        first, second = at_once(
            partial(alice.post, url, edit), partial(bob.post, url, edit)
        )
        events = list(
            ActivityEvent.objects.filter(pk__gt=since, verb__startswith="membership_")
        )
        assert [event.changes for event in events] == [
            {
                "joined_on": ["2020-01-01", "2021-06-01"],
                "period_event": [None, "corrected"],
            }
        ]
        sentence = f"Already saved, left as it is: {row}."
        assert sorted([sentence in first, sentence in second]) == [False, True], (
            first,
            second,
        )


def test_in_place_edits_of_one_row_by_two_people_lose_nothing(two_people):
    """Alice corrects the first day while Bob sets the last day: one of them
    is saved and the other is refused in the row, naming the doctor."""
    alice, bob = two_people
    department = DepartmentFactory(name="Urology")
    url = f"{LIST_URL}?department={department.pk}"
    for attempt in range(TRIES // 2):
        row = fresh_row(
            department, f"Gus{attempt}", joined_on=datetime.date(2020, 1, 1)
        )
        before = state(row)
        since = last_event_id()
        dated, ended = at_once(
            partial(alice.post, url, in_place_edit(row, joined_on="2021-06-01")),
            partial(bob.post, url, in_place_edit(row, left_on="2030-12-31")),
        )
        stored = state(row)
        assert replay_feed(before, row, since) == stored
        saved_date = stored["joined_on"] == "2021-06-01"
        assert saved_date != (stored["left_on"] == "2030-12-31")
        refused_page = bob.last_page if saved_date else alice.last_page
        assert f"{row} was changed by" in unescape(refused_page)
        assert "since you opened this page" in refused_page
        assert (dated if saved_date else ended) == [
            f"Urology: {row.doctor}'s period corrected: first day 1 Jan 2020 → "
            "1 Jun 2021."
            if saved_date
            else f"Urology: {row.doctor}'s period corrected: last day — → 31 Dec 2030."
        ]


def test_deactivating_doctors_twice_at_once_changes_them_once(two_people):
    alice, bob = two_people
    url = reverse("admin:doctors_doctor_changelist")
    for attempt in range(TRIES // 2):
        doctors = [
            DoctorFactory(first_name=f"Hal{attempt}", last_name=name, is_active=True)
            for name in ("Ives", "Judd")
        ]
        since = last_event_id()
        data = {
            "action": "deactivate",
            "index": "0",
            "_selected_action": [str(doctor.pk) for doctor in doctors],
        }
        first, second = at_once(
            partial(alice.post, url, data), partial(bob.post, url, data)
        )
        events = ActivityEvent.objects.filter(pk__gt=since, verb="bulk_updated")
        assert [event.counts for event in events] == [
            {"doctors": 2, "is_active": False}
        ]
        done = "2 doctors marked inactive."
        already = f"Already inactive, left as they were: {doctors[0]}, {doctors[1]}."
        assert sorted([done in first, done in second]) == [False, True]
        assert sorted([already in first, already in second]) == [False, True]


def test_adding_the_same_doctors_twice_at_once_adds_them_once(two_people):
    alice, bob = two_people
    department = DepartmentFactory(name="Pathology")
    url = reverse("admin:doctors_membership_add_doctors")
    for attempt in range(TRIES // 2):
        doctors = [
            DoctorFactory(first_name=f"Ida{attempt}", last_name=name)
            for name in ("Kerr", "Lamb")
        ]
        since = last_event_id()
        data = {
            "department": str(department.pk),
            "doctors": [str(doctor.pk) for doctor in doctors],
            "joined_on": "2026-01-05",
        }
        first, second = at_once(
            partial(alice.post, url, data), partial(bob.post, url, data)
        )
        added = ActivityEvent.objects.filter(pk__gt=since, verb="membership_added")
        assert added.count() == 2
        done = f"Pathology: {doctors[0]}, {doctors[1]} joined on 5 Jan 2026."
        assert sorted([done in first, done in second]) == [False, True]
        refused_page = unescape(bob.last_page if done in first else alice.last_page)
        for doctor in doctors:
            assert f"{doctor} is already in Pathology from 5 Jan 2026." in refused_page


def test_make_head_of_two_rows_without_versions_at_once_leaves_one_head(
    two_people,
):
    """Alice and Bob each run "Make head" on another row of a searched list
    (the current head not on their pages): both lock the department first,
    so one waits for the other; the department ends with one head on every
    day and neither request fails."""
    alice, bob = two_people
    department = DepartmentFactory(name="Cardiology")
    for attempt in range(TRIES // 2):
        Membership.objects.filter(department=department).delete()
        MembershipFactory(department=department, role="head")
        first = MembershipFactory(
            department=department,
            doctor=DoctorFactory(first_name=f"Ann{attempt}", last_name="Lee"),
        )
        second = MembershipFactory(
            department=department,
            doctor=DoctorFactory(first_name=f"Bo{attempt}", last_name="Sun"),
        )
        searched = f"{LIST_URL}?department={department.pk}&q=Lee"
        url = f"{LIST_URL}?department={department.pk}"
        unversioned = {"action": "make_head", "index": "0"}
        by_alice, by_bob = at_once(
            partial(
                alice.post, searched, {**unversioned, "_selected_action": [first.pk]}
            ),
            partial(bob.post, url, {**unversioned, "_selected_action": [second.pk]}),
        )
        heads = list(
            Membership.objects.current().filter(department=department, role="head")
        )
        assert len(heads) == 1, (by_alice, by_bob)
        assert heads[0].pk in (first.pk, second.pk)
