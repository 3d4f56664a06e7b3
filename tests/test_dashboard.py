"""The manager dashboard (doctors/dashboard/): numbers, filters, cache, race."""

import csv
import datetime
import io
import re
import zoneinfo

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Q
from django.template.loader import render_to_string
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from doctors import dashboard, periods
from doctors.context import acting_as
from doctors.dashboard import blocks, views
from doctors.dashboard.caching import LAYOUT, BlockCache
from doctors.dashboard.filters import DashboardFilters
from doctors.models import ActivityEvent, ChangeSet, Department, Doctor, Membership
from tests import dashboard_page
from tests.factories import (
    DepartmentFactory,
    DoctorFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
Verb = ActivityEvent.Verb
URL = "/admin/dashboard/"


def days_ago(days: int, hour: int = 12) -> datetime.datetime:
    today = timezone.localdate() - datetime.timedelta(days=days)
    return datetime.datetime.combine(
        today, datetime.time(hour), timezone.get_current_timezone()
    )


def backdate(events, when):
    ActivityEvent.objects.filter(pk__in=[e.pk for e in events]).update(occurred_at=when)


def import_event(when, *, actor_name="importer", counts=None):
    return ActivityEvent.objects.create(
        occurred_at=when,
        actor_name=actor_name,
        source=ActivityEvent.Source.IMPORT,
        verb=Verb.IMPORTED,
        target_type="doctor",
        target_text="doctors.csv",
        counts=counts or {"created": 3, "updated": 1, "errors": 0},
    )


@pytest.fixture
def clinic():
    """Two departments, doctors in them, and feed events across three months."""
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    cardio = DepartmentFactory(name="Cardiology")
    neuro = DepartmentFactory(name="Neurology")
    DepartmentFactory(name="Closed ward", is_active=False)
    with acting_as(alice, source="admin"):
        doctors = DoctorFactory.create_batch(3)
        for doctor in doctors:
            MembershipFactory(doctor=doctor, department=cardio)
    with acting_as(bob, source="admin"):
        inactive = DoctorFactory(is_active=False)
        MembershipFactory(doctor=inactive, department=neuro)
        MembershipFactory(doctor=doctors[0], department=neuro)
        doctors[1].phone = "+1 555 0101"
        doctors[1].save()
        # Periods that do not cover today: counted nowhere on the dashboard.
        MembershipFactory(
            department=neuro,
            joined_on=datetime.date(2020, 1, 1),
            left_on=datetime.date(2021, 1, 1),
        )
        MembershipFactory(
            department=neuro,
            joined_on=timezone.localdate() + datetime.timedelta(days=30),
        )
    # Move some of what happened out of the last 7 days, and some out of 90.
    older = list(ActivityEvent.objects.filter(actor_name="alice"))
    backdate(older[:2], days_ago(20))
    backdate(older[2:4], days_ago(120))
    import_event(
        days_ago(3), counts={"created": 5, "errors": ["row 4: no email", "row 9"]}
    )
    import_event(days_ago(40))
    return {"cardio": cardio, "neuro": neuro, "doctors": doctors}


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


def expected_events(filters: DashboardFilters) -> list[ActivityEvent]:
    """Events of the period concerning the department, found without the blocks."""
    since, until = filters.bounds()
    events = ActivityEvent.objects.filter(occurred_at__gte=since, occurred_at__lt=until)
    if not filters.department_id:
        return list(events)
    members = set(
        Membership.objects.filter(department=filters.department_id).values_list(
            "doctor_id", flat=True
        )
    )
    return [
        e
        for e in events
        if e.department_id == filters.department_id
        or (e.target_type == "department" and e.target_id == filters.department_id)
        or (e.target_type == "doctor" and e.target_id in members)
    ]


def expected_figures(filters: DashboardFilters) -> dict[str, int]:
    """The same figures, asked of the database independently of the blocks."""
    events = expected_events(filters)
    doctors = Doctor.objects.filter(is_active=True)
    memberships = Membership.objects.filter(
        joined_on__lte=timezone.localdate()
    ).exclude(left_on__lt=timezone.localdate())
    if filters.department_id:
        memberships = memberships.filter(department=filters.department_id)
        doctors = doctors.filter(pk__in=memberships.values("doctor_id"))
    return {
        "active-doctors": doctors.count(),
        "departments": Department.objects.filter(is_active=True).count(),
        "memberships": memberships.count(),
        "changes": len(events),
        "imports": sum(e.verb == Verb.IMPORTED for e in events),
    }


class TestNumbersEqualTheDatabase:
    @pytest.mark.parametrize("period", ["7", "30", "90"])
    def test_figures_for_each_period(self, manager_client, clinic, period):
        """Every figure on the page is what the database says for the period."""
        html = manager_client.get(URL, {"period": period}).content.decode()
        filters = DashboardFilters.last_days(int(period))
        assert dashboard_page.figures(html) == expected_figures(filters)

    def test_figures_for_one_department(self, manager_client, clinic):
        """With a department chosen, the figures count only what concerns it."""
        neuro = clinic["neuro"]
        html = manager_client.get(
            URL, {"period": "90", "department": neuro.pk}
        ).content.decode()
        filters = DashboardFilters.last_days(90, department_id=neuro.pk)
        expected = expected_figures(filters)
        assert dashboard_page.figures(html) == expected
        assert expected["memberships"] == 2 and expected["active-doctors"] == 1

    def test_custom_range(self, manager_client, clinic):
        """A custom range counts exactly the days from "From" to "To"."""
        start, end = (
            timezone.localdate() - datetime.timedelta(days=25),
            (timezone.localdate() - datetime.timedelta(days=15)),
        )
        response = manager_client.get(
            URL, {"period": "custom", "start": start, "end": end}
        )
        assert response.status_code == 200
        filters = DashboardFilters(start=start, end=end, period="custom")
        figures = dashboard_page.figures(response.content.decode())
        assert figures == expected_figures(filters)
        assert figures["changes"] == 2  # the two events moved 20 days back

    def test_doctors_per_department_bars_and_table(self, manager_client, clinic):
        """Each bar's number is the department's doctors today; it links to
        their list."""
        html = manager_client.get(URL).content.decode()
        today = periods.today()
        current = Q(memberships__joined_on__lte=today) & (
            Q(memberships__left_on__isnull=True) | Q(memberships__left_on__gte=today)
        )
        expected = {
            d.name + ("" if d.is_active else " (inactive)"): d.n
            for d in Department.objects.annotate(n=Count("memberships", filter=current))
        }
        assert expected["Neurology"] == 2  # not the leaver, not the joiner
        rows = dashboard_page.table(html, "department-table")
        assert {name: int(count) for name, count in rows} == expected
        changelist = reverse("admin:doctors_doctor_changelist")
        cardio = clinic["cardio"]
        link = f"{changelist}?departments__id__exact={cardio.pk}"
        assert f'<a href="{link}" aria-label="Cardiology: 3 doctors">' in html

    def test_bar_link_opens_the_filtered_doctor_list(self, manager_client, clinic):
        """The bar's link lists exactly that department's doctors."""
        cardio = clinic["cardio"]
        response = manager_client.get(
            reverse("admin:doctors_doctor_changelist"),
            {"departments__id__exact": cardio.pk},
        )
        assert response.status_code == 200
        assert response.context["cl"].result_count == 3
        neuro = manager_client.get(
            reverse("admin:doctors_doctor_changelist"),
            {"departments__id__exact": clinic["neuro"].pk},
        )
        # Members today: the doctor who left and the one who joins later are
        # not listed.
        assert neuro.context["cl"].result_count == 2

    def test_changes_per_day(self, manager_client, clinic):
        """The daily table splits every event of the period into the three series."""
        html = manager_client.get(URL, {"period": "30"}).content.decode()
        rows = dashboard_page.table(html, "daily-table")
        assert len(rows) == 30
        by_day = {
            row[0]: tuple(dashboard_page.number(n) for n in row[1:]) for row in rows
        }

        def day_text(days_back: int) -> str:
            return date_format(timezone.localdate() - datetime.timedelta(days_back))

        today, three_days_ago, twenty_days_ago = day_text(0), day_text(3), day_text(20)
        events_today = ActivityEvent.objects.filter(occurred_at__gte=days_ago(0, 0))
        assert by_day[today] == (
            events_today.exclude(verb__startswith="membership").count(),
            events_today.filter(verb__startswith="membership").count(),
            0,
            0,
        )
        assert by_day[three_days_ago] == (0, 0, 1, 0)
        assert sum(by_day[twenty_days_ago]) == 2
        totals = [sum(column) for column in zip(*by_day.values(), strict=True)]
        figures = dashboard_page.figures(html)
        # "Changes in the period" is the sum of the chart's columns.
        assert sum(totals) == figures["changes"]
        assert totals[2] == figures["imports"]
        assert 'role="img" aria-label="Changes per day, 30 days:' in html

    @pytest.mark.parametrize(
        "zone", ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
    )
    def test_days_are_local_days(self, zone):
        """An event counts on the day it happened where the clinic is."""
        tz = zoneinfo.ZoneInfo(zone)
        today = timezone.localdate(timezone=tz)
        # Just after and just before local midnight, two days back.
        day = today - datetime.timedelta(days=2)
        midnight = datetime.datetime.combine(day, datetime.time.min, tz)
        for moment in (
            midnight + datetime.timedelta(minutes=1),
            midnight - datetime.timedelta(minutes=1),
        ):
            ActivityEvent.objects.create(
                occurred_at=moment,
                source="system",
                verb=Verb.UPDATED,
                target_type="doctor",
                target_text="x",
            )
        with timezone.override(tz):
            rows = blocks.changes_per_day(DashboardFilters.last_days(7))
        counts = {row["day"]: row["edits"] for row in rows}
        assert counts[day] == 1
        assert counts[day - datetime.timedelta(days=1)] == 1
        assert sum(counts.values()) == 2

    def test_recent_activity_top_editors_and_imports(self, manager_client, clinic):
        """Latest events with summaries, who changed most, imports with errors."""
        doctor = clinic["doctors"][1]
        html = manager_client.get(URL, {"period": "90"}).content.decode()
        activity = dashboard_page.table(html, "recent-activity")
        latest = ActivityEvent.objects.filter(
            occurred_at__gte=days_ago(89, 0)
        ).order_by("-occurred_at", "-id")[:50]
        assert [row[4] for row in activity] == [e.target_text for e in latest]
        phone_change = next(row for row in activity if "Phone" in row[5])
        assert phone_change[:2] != ["", ""] and phone_change[1] == "bob"
        assert phone_change[5] == "Phone: — → +1 555 0101"
        url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
        assert f'<a href="{url}">{doctor}</a>' in html
        editors = dashboard_page.table(html, "top-editors")
        in_period = ActivityEvent.objects.filter(occurred_at__gte=days_ago(89, 0))
        assert editors == [
            [row["actor_name"], str(row["n"])]
            for row in in_period.exclude(actor_name="")
            .values("actor_name")
            .annotate(n=Count("id"))
            .order_by("-n", "actor_name")
        ]
        imports = dashboard_page.table(html, "recent-imports")
        assert [row[3:] for row in imports] == [
            ["5 created", "2 row 4: no email row 9"],
            ["3 created, 1 updated", "0"],
        ]

    def test_deleted_target_is_shown_without_a_link(self, manager_client, clinic):
        """A deleted doctor stays in the feed as text, no longer linked."""
        doctor = clinic["doctors"][2]
        url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
        name = str(doctor)
        doctor.delete()
        html = manager_client.get(URL).content.decode()
        assert url not in html
        assert name in html


class TestFilters:
    @pytest.mark.parametrize(
        ("params", "message"),
        [
            (
                {"period": "custom", "start": "2025-02-30", "end": "2025-03-01"},
                "“From” must be a date written as YYYY-MM-DD.",
            ),
            (
                {"period": "custom", "start": "2025-03-05", "end": "2025-03-01"},
                "“To” must be on or after “From”.",
            ),
            (
                {"period": "custom", "start": "2025-03-05"},
                "A custom range needs both a “From” and a “To” date.",
            ),
            (
                {"period": "custom", "start": "2020-01-01", "end": "2024-01-01"},
                "A custom range can span at most 366 days.",
            ),
            ({"period": "12"}, "Select a valid choice. 12 is not one of"),
            ({"department": "999999"}, "There is no department with the id 999999."),
        ],
    )
    def test_bad_filters_get_a_clear_error_and_no_numbers(
        self, manager_client, params, message
    ):
        """Bad input answers 400 with what is wrong, next to the field."""
        response = manager_client.get(URL, params)
        assert response.status_code == 400
        assert message in response.content.decode()
        assert b'id="figure-' not in response.content

    def test_a_range_ending_in_the_future_is_refused(self, manager_client):
        tomorrow = timezone.localdate() + datetime.timedelta(days=1)
        start = tomorrow - datetime.timedelta(days=7)
        response = manager_client.get(
            URL, {"period": "custom", "start": start, "end": tomorrow}
        )
        assert response.status_code == 400
        assert "“To” cannot be in the future." in response.content.decode()

    def test_a_preset_period_ignores_stray_dates(self, manager_client):
        """The form shows what is in force: last 7 days, no custom dates."""
        response = manager_client.get(URL, {"period": "7", "start": "2020-01-01"})
        assert response.status_code == 200
        html = response.content.decode()
        assert 'value="2020-01-01"' not in html
        assert '<option value="7" selected>' in html

    def test_every_field_has_a_label(self, manager_client):
        html = manager_client.get(URL).content.decode()
        for field in ["period", "start", "end", "department"]:
            assert f'<label for="id_{field}">' in html

    def test_no_inline_script_or_style(self, manager_client, clinic):
        """The page works under a strict CSP: no inline scripts, styles, handlers."""
        html = manager_client.get(URL).content.decode()
        assert "<script>" not in html and "<style" not in html
        assert " style=" not in html and " onclick=" not in html
        assert "http://" not in html.replace("http://www.w3.org", "")
        assert "https://" not in html


class TestFeedExport:
    def rows(self, response):
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        text = b"".join(response.streaming_content).decode()
        return list(csv.reader(io.StringIO(text)))

    def test_export_follows_the_filters(self, manager_client, clinic):
        """The CSV holds the events of the chosen period and department."""
        neuro = clinic["neuro"]
        rows = self.rows(
            manager_client.get(
                reverse("admin:dashboard_feed_export"),
                {"period": "90", "department": neuro.pk},
            )
        )
        header, body = rows[0], rows[1:]
        assert header[:4] == ["when", "who", "source", "action"]
        filters = DashboardFilters.last_days(90, department_id=neuro.pk)
        expected = expected_events(filters)
        assert sorted((row[3], row[6], row[7]) for row in body) == sorted(
            (e.get_verb_display(), e.target_text, e.department_text) for e in expected
        )
        assert len(body) == expected_figures(filters)["changes"] > 0

    def test_cells_that_would_run_as_formulas_are_made_text(self, manager_client):
        """= + - @ tab and CR at the start of a cell get a leading apostrophe."""
        for text in ["=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "plain"]:
            ActivityEvent.objects.create(
                source="system",
                verb=Verb.UPDATED,
                target_type="doctor",
                target_text=text,
                actor_name=text,
            )
        body = self.rows(manager_client.get(reverse("admin:dashboard_feed_export")))
        targets = sorted(row[6] for row in body[1:])
        assert targets == sorted(
            ["'=HYPERLINK(1)", "'+1", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "plain"]
        )
        assert sorted(row[1] for row in body[1:]) == targets

    def test_bad_filters_explain_themselves(self, manager_client):
        response = manager_client.get(
            reverse("admin:dashboard_feed_export"),
            {"period": "custom", "start": "yesterday", "end": "2025-01-01"},
        )
        assert response.status_code == 400
        assert "From: “From” must be a date written as YYYY-MM-DD." in (
            response.content.decode()
        )


def test_admin_index_links_the_dashboard_for_managers_only(
    client, manager, clinic_staff
):
    client.force_login(manager)
    assert f'href="{URL}"' in client.get("/admin/").content.decode()
    client.force_login(clinic_staff)
    assert f'href="{URL}"' not in client.get("/admin/").content.decode()


class TestCaching:
    def test_warm_view_runs_no_dashboard_query(
        self, manager_client, clinic, django_assert_num_queries
    ):
        """Served from Redis: only the session and permission lookups remain."""
        manager_client.get(URL)  # cold: computes and stores every block
        with django_assert_num_queries(4) as captured:
            response = manager_client.get(URL)
        assert response.status_code == 200
        touched = [
            q["sql"] for q in captured.captured_queries if "doctors_" in q["sql"]
        ]
        assert touched == []
        assert "COUNT(" not in " ".join(q["sql"] for q in captured.captured_queries)

    def test_blocks_cold_then_warm(self, clinic, django_assert_num_queries):
        filters = DashboardFilters.last_days(30)
        computations = {
            name: (lambda compute=compute: compute(filters))
            for name, compute in {
                "figures": blocks.figures,
                "per_department": blocks.doctors_per_department,
                "per_day": blocks.changes_per_day,
            }.items()
        }
        # figures: 4 counts; per department: 2; per day: 1.
        with django_assert_num_queries(7):
            cold = BlockCache().fetch(computations, filters.cache_key())
        with django_assert_num_queries(0):
            warm = BlockCache().fetch(computations, filters.cache_key())
        assert warm == cold

    def test_blocks_are_stored_with_the_configured_ttl(self, manager_client, settings):
        settings.DASHBOARD_CACHE_SECONDS = 42
        manager_client.get(URL)
        generation = dashboard.current_generation()
        keys = list(cache.iter_keys(f"dashboard:{LAYOUT}:{generation}:*"))
        assert len(keys) == 8  # six blocks, the filter form, the departments
        assert all(0 < cache.ttl(key) <= 42 for key in keys)


@pytest.fixture
def superuser_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.mark.django_db(transaction=True)
class TestFreshness:
    """Real commits: a test wrapped in one transaction would hide on_commit."""

    def test_a_committed_change_shows_on_the_next_view(self, superuser_client, clinic):
        before = dashboard_page.figures(superuser_client.get(URL).content.decode())
        DoctorFactory()
        after = dashboard_page.figures(superuser_client.get(URL).content.decode())
        assert after["active-doctors"] == before["active-doctors"] + 1
        assert after["changes"] == before["changes"] + 1

    def test_a_rolled_back_change_bumps_nothing(self, superuser_client, clinic):
        generation = dashboard.current_generation()
        with pytest.raises(RuntimeError), transaction.atomic():
            DoctorFactory()
            raise RuntimeError
        assert dashboard.current_generation() == generation

    def test_old_numbers_stored_after_a_commit_are_never_served(
        self, superuser_client, clinic, monkeypatch
    ):
        """The race: a reader computes before a commit and stores after it.

        The interleaving is forced: the reader's figures are computed, then a
        change commits (bumping the generation), then the reader stores what it
        computed. The next view must show the change.
        """
        real_figures = blocks.figures
        generation_seen = []

        def figures_then_a_commit(filters):
            old = real_figures(filters)  # the reader's query, before the commit
            generation_seen.append(dashboard.current_generation())
            DoctorFactory(first_name="Committed", last_name="Meanwhile")
            return old  # ...stored after the commit

        monkeypatch.setitem(views.PAGE_BLOCKS, "figures", figures_then_a_commit)
        stale = dashboard_page.figures(superuser_client.get(URL).content.decode())
        monkeypatch.undo()

        # The interleaving happened: the old numbers sit in Redis, under the
        # generation that was current when the reader started.
        (old_generation,) = generation_seen
        assert dashboard.current_generation() == old_generation + 1
        filters = DashboardFilters.last_days(30)
        old_key = (
            f"dashboard:{LAYOUT}:{old_generation}:{periods.today().isoformat()}:"
            f"figures:{filters.cache_key()}"
        )
        assert dashboard_page.figures(cache.get(old_key)) == stale

        fresh = dashboard_page.figures(superuser_client.get(URL).content.decode())
        assert fresh["active-doctors"] == stale["active-doctors"] + 1
        assert fresh == expected_figures(filters)


class RouteReadsToAReplica:
    """A router that sends reads to a database that does not exist."""

    def db_for_read(self, model, **hints):
        return "replica"

    def db_for_write(self, model, **hints):
        return "default"


def test_recomputation_reads_the_primary_database(clinic):
    """Every block query goes to the database for writes, never to a replica."""
    filters = DashboardFilters.last_days(90, department_id=clinic["neuro"].pk)
    with override_settings(DATABASE_ROUTERS=[RouteReadsToAReplica()]):
        for name, compute in {
            "departments": blocks.department_choices,
            "figures": blocks.figures,
            "per_department": blocks.doctors_per_department,
            "per_day": blocks.changes_per_day,
            "recent_activity": blocks.recent_activity,
            "top_editors": blocks.top_editors,
            "recent_imports": blocks.recent_imports,
        }.items():
            assert compute(filters) is not None, name
    assert connection.alias == "default"


class TestPolish:
    def test_numbers_have_thousands_separators_and_dates_one_format(self):
        """One setting writes every number with separators and every date the
        same way, on the dashboard as on the admin's pages."""
        html = render_to_string(
            "admin/doctors/dashboard/figures.html",
            {
                "figures": {
                    "active_doctors": 2867,
                    "departments": 12,
                    "memberships": 104988,
                    "changes": 14,
                    "imports": 1,
                }
            },
        )
        assert dashboard_page.figures(html)["memberships"] == 104988
        assert 'id="figure-active-doctors">2,867<' in html
        assert date_format(datetime.date(2026, 12, 4)) == "4 Dec 2026"
        moment = datetime.datetime(2026, 12, 4, 14, 5, tzinfo=datetime.UTC)
        assert date_format(moment, "DATETIME_FORMAT") == "4 Dec 2026, 14:05"

    def test_a_redo_is_called_a_redo(self, manager_client):
        """The undo of an undo reads "Redone" in the recent activity."""
        imported = ChangeSet.objects.create(source="import")
        undone = ChangeSet.objects.create(source="admin", undoes=imported)
        redone = ChangeSet.objects.create(source="admin", undoes=undone)
        for change_set, text in [(undone, "Undid import #1"), (redone, "Redid")]:
            ActivityEvent.objects.create(
                source="admin",
                verb=Verb.UNDONE,
                target_type="doctor",
                target_text=text,
                change_set=change_set,
            )
        rows = blocks.recent_activity(DashboardFilters.last_days(7))
        assert [row["verb"] for row in rows] == ["Redone", "Undone"]
        html = manager_client.get(URL).content.decode()
        assert "Redone" in html
        # Undos and redos are changes of the period, counted in the chart too.
        assert dashboard_page.figures(html)["changes"] == 2

    def test_preset_periods_hide_the_from_and_to_fields(self, manager_client):
        html = manager_client.get(URL, {"period": "30"}).content.decode()
        assert re.search(r'data-custom-range hidden>\s*<label for="id_start"', html)
        assert re.search(r'data-custom-range hidden>\s*<label for="id_end"', html)
        start = timezone.localdate() - datetime.timedelta(days=3)
        custom = {"period": "custom", "start": start, "end": timezone.localdate()}
        html = manager_client.get(URL, custom).content.decode()
        assert re.search(r'data-custom-range>\s*<label for="id_start"', html)
