"""The CSV importer (doctors/importing): strict, atomic, idempotent, in bulk."""

import datetime
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.formats import date_format
from django_tasks_db.models import DBTaskResult

from doctors import dashboard
from doctors.formulas import neutralize, restore
from doctors.importing.runner import import_departments, import_doctors
from doctors.models import ActivityEvent, Department, Doctor, ImportRun, Membership
from tests.factories import DepartmentFactory, DoctorFactory, MembershipFactory

pytestmark = pytest.mark.django_db

HEADER = (
    "license_number,first_name,last_name,email,phone,specialty,departments,is_active"
)


def csv_bytes(*lines: str, header: str = HEADER, encoding="utf-8") -> bytes:
    return "\r\n".join([header, *lines, ""]).encode(encoding)


def run(data: bytes, **options):
    options.setdefault("file_name", "doctors.csv")
    return import_doctors(io.BytesIO(data), **options)


def snapshot() -> dict[str, int]:
    """Row counts of everything an import may write."""
    return {
        "doctors": Doctor.objects.count(),
        "memberships": Membership.objects.count(),
        "doctor history": Doctor.history.count(),
        "membership history": Membership.history.count(),
        "department history": Department.history.count(),
        "feed events": ActivityEvent.objects.count(),
        "tasks": DBTaskResult.objects.count(),
        "doctor values": hash(
            tuple(Doctor.objects.order_by("pk").values_list())
            + tuple(Membership.objects.order_by("pk").values_list())
        ),
    }


@pytest.fixture
def departments():
    """CARD (headed by LIC-HEAD), NEUR and ONC."""
    card = DepartmentFactory(code="CARD", name="Cardiology")
    neur = DepartmentFactory(code="NEUR", name="Neurology")
    onc = DepartmentFactory(code="ONC", name="Oncology")
    head = DoctorFactory(license_number="LIC-HEAD", email="head@clinic.test")
    MembershipFactory(doctor=head, department=card, role="head", is_primary=True)
    return card, neur, onc


GOOD_ROW = "LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,CARD|NEUR,true"

TODAY = timezone.localdate()
YESTERDAY = TODAY - datetime.timedelta(days=1)
LAST_YEAR = TODAY - datetime.timedelta(days=365)
NEXT_MONTH = TODAY + datetime.timedelta(days=30)


def periods_of(doctor) -> list[tuple]:
    """Every period of `doctor`: (code, first day, last day, role, primary)."""
    return sorted(
        Membership.objects.filter(doctor=doctor).values_list(
            "department__code", "joined_on", "left_on", "role", "is_primary"
        ),
        key=lambda values: (values[0], values[1]),
    )


class TestBadInput:
    """Each bad file gets a clear message (row, column) and writes nothing."""

    @pytest.mark.parametrize(
        ("lines", "row", "column", "fragment"),
        [
            (
                ["LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,XRAY,"],
                2,
                "departments",
                "unknown department code XRAY",
            ),
            (
                [GOOD_ROW, "LIC-1,Bo,Ray,bo@clinic.test,,Cardiology,,"],
                3,
                "license_number",
                "LIC-1 is also on row 2",
            ),
            (
                [GOOD_ROW, "LIC-2,Bo,Ray,ANN@Clinic.TEST,,Cardiology,,"],
                3,
                "email",
                "also on row 2",
            ),
            (
                ["LIC-2,Bo,Ray,HEAD@clinic.test,,Cardiology,,"],
                2,
                "email",
                "already belongs to doctor LIC-HEAD",
            ),
            (["LIC-1,Ann,Lee,not-an-email,,Cardiology,,"], 2, "email", "valid email"),
            (
                ["LIC-1,Ann,Lee,ann@clinic.test,,Astrology,,"],
                2,
                "specialty",
                "unknown specialty 'Astrology'",
            ),
            (
                ["LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,,maybe"],
                2,
                "is_active",
                "'maybe' is not one of true/false",
            ),
            (
                ["LIC-1," + "A" * 101 + ",Lee,ann@clinic.test,,Cardiology,,"],
                2,
                "first_name",
                "101 characters; at most 100",
            ),
            (
                ["LIC 1,Ann,Lee,ann@clinic.test,,Cardiology,,"],
                2,
                "license_number",
                "no spaces",
            ),
            (["LIC-1,,Lee,ann@clinic.test,,Cardiology,,"], 2, "first_name", "required"),
            (
                ["LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,CARD:head,"],
                2,
                "departments",
                "CARD already has a head: doctor LIC-HEAD in the database",
            ),
            (
                [
                    "LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,NEUR:head,",
                    "LIC-2,Bo,Ray,bo@clinic.test,,Cardiology,NEUR:head,",
                ],
                3,
                "departments",
                "NEUR can have only one head (row 2 already makes",
            ),
            (
                ["LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,NEUR|NEUR,"],
                2,
                "departments",
                "NEUR is listed twice",
            ),
            (
                ["LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,NEUR:boss,"],
                2,
                "departments",
                "only 'head' may follow",
            ),
            (
                ["LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,NEUR,true,extra"],
                2,
                "",
                "9 cells but the header has 8 columns",
            ),
        ],
    )
    def test_row_problem(self, departments, lines, row, column, fragment):
        before = snapshot()
        result = run(csv_bytes(*lines))
        assert not result.ok
        matching = [
            p
            for p in result.problems
            if p.row == row and p.column == column and fragment in p.message
        ]
        assert matching, [str(p) for p in result.problems]
        assert snapshot() == before
        run_record = ImportRun.objects.get()
        assert run_record.status == ImportRun.Status.FAILED
        assert [row, column] in [error[:2] for error in run_record.errors]

    @pytest.mark.parametrize(
        ("data", "fragment"),
        [
            (b"", "The file is empty."),
            (b"\r\n\r\n", "The file is empty."),
            (csv_bytes(), "header but no rows"),
            (csv_bytes("", " , ,"), "header but no rows"),
            (
                csv_bytes(GOOD_ROW, header=HEADER.replace(",phone", "")),
                "missing column(s): phone",
            ),
            (
                csv_bytes(GOOD_ROW + ",x", header=HEADER + ",notes"),
                "unknown column(s): notes",
            ),
            (csv_bytes(header=HEADER + ",email"), "column(s) given twice: email"),
            (HEADER.replace(",", ";").encode(), "separated by ';'"),
            (b"PK\x03\x04\x14\x00\x06\x00rest-of-a-zip", "Excel workbook (.xlsx)"),
            (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "old Excel workbook (.xls)"),
            (HEADER.encode() + b"\r\nLIC\x00\x01\x02", "binary data"),
            (b"name,age\nBob,4\n", "does not look like the expected CSV file"),
        ],
    )
    def test_file_problem(self, departments, data, fragment):
        before = snapshot()
        result = run(data)
        assert not result.ok
        assert any(fragment in p.message for p in result.problems), [
            str(p) for p in result.problems
        ]
        assert snapshot() == before

    def test_every_problem_is_listed_not_just_the_first(self, departments):
        before = snapshot()
        result = run(
            csv_bytes(
                GOOD_ROW,
                "LIC-2,Bo,Ray,bad,,Nope,XRAY,perhaps",
                "LIC-3,Cy,Day,cy@clinic.test,,Neurology,NEUR,",
                "LIC-4,,Day,cy@clinic.test,,Neurology,,",
            )
        )
        found = {(p.row, p.column) for p in result.problems}
        assert found == {
            (3, "email"),
            (3, "specialty"),
            (3, "departments"),
            (3, "is_active"),
            (5, "first_name"),
            (5, "email"),
        }
        assert snapshot() == before

    def test_explicit_wrong_encoding_says_where(self, departments):
        data = csv_bytes(
            "LIC-1,Zoë,Lee,zoe@clinic.test,,Cardiology,,", encoding="cp1252"
        )
        before = snapshot()
        result = run(data, encoding="utf-8")
        (problem,) = result.problems
        assert "Line 2 is not valid utf-8 text (byte 0xeb)" in problem.message
        assert snapshot() == before


class TestEncodingsAndCsvDialect:
    @pytest.mark.parametrize(
        ("encoding", "prefix"),
        [
            ("utf-8", b""),
            ("utf-8", b"\xef\xbb\xbf"),
            ("cp1252", b""),
            ("latin-1", b""),
            ("utf-16", b""),
        ],
    )
    def test_encodings_are_detected(self, departments, encoding, prefix):
        """UTF-8 with or without BOM, Windows-1252, Latin-1 and UTF-16 all read."""
        data = prefix + csv_bytes(
            "LIC-1,Zoë,Müller-Øst,zoe@clinic.test,,Cardiology,CARD,",
            encoding=encoding,
        )
        result = run(data)
        assert result.ok, result.problems
        doctor = Doctor.objects.get(license_number="LIC-1")
        assert (doctor.first_name, doctor.last_name) == ("Zoë", "Müller-Øst")

    def test_cp1252_specific_characters(self, departments):
        """Bytes that are letters in Windows-1252 but not in Latin-1 (€, Š)."""
        data = csv_bytes(
            "LIC-1,Šárka,Euro€,s@clinic.test,,Cardiology,,", encoding="cp1252"
        )
        assert run(data).ok
        assert Doctor.objects.get(license_number="LIC-1").last_name == "Euro€"

    def test_encoding_chosen_explicitly(self, departments):
        data = csv_bytes(
            "LIC-1,Zoë,Lee,zoe@clinic.test,,Cardiology,,", encoding="latin-1"
        )
        result = run(data, encoding="latin-1")
        assert result.ok and result.encoding == "iso8859-1"
        assert Doctor.objects.get(license_number="LIC-1").first_name == "Zoë"

    def test_crlf_quotes_commas_and_blank_lines(self, departments):
        # Line breaks inside quoted cells: see test_import_hostile.py (refused
        # in names, kept in department descriptions).
        data = (
            f"{HEADER}\r\n\r\n"
            'LIC-1,"Ann, Jr","Lee, Second line",ann@clinic.test,"+1 555, ext 2",'
            'cardiology,"CARD | neur",YES\r\n'
            "\r\n,,,,,,,\r\n"
            'LIC-2,Bo,"Say ""hi""",bo@clinic.test,,EMERGENCY MEDICINE,,0\r\n'
        ).encode()
        result = run(data)
        assert result.ok, result.problems
        assert result.total_rows == 2
        ann = Doctor.objects.get(license_number="LIC-1")
        assert (ann.first_name, ann.last_name, ann.phone) == (
            "Ann, Jr",
            "Lee, Second line",
            "+1 555, ext 2",
        )
        assert [m.department.code for m in ann.memberships.order_by("-is_primary")] == [
            "CARD",
            "NEUR",
        ]
        bo = Doctor.objects.get(license_number="LIC-2")
        assert (bo.last_name, bo.specialty, bo.is_active) == (
            'Say "hi"',
            "emergency_medicine",
            False,
        )

    def test_row_numbers_count_blank_lines_like_a_spreadsheet(self, departments):
        result = run(csv_bytes("", GOOD_ROW, "", "LIC-2,Bo,Ray,bad,,Cardiology,,"))
        assert [(p.row, p.column) for p in result.problems] == [(5, "email")]


class TestSemantics:
    def test_created_doctors_get_memberships_history_feed_and_emails(
        self, departments, clinic_staff
    ):
        card, neur, _ = departments
        before_tasks = DBTaskResult.objects.count()
        before_events = ActivityEvent.objects.count()
        result = run(
            csv_bytes(GOOD_ROW, "LIC-2,Bo,Ray,bo@clinic.test,,neurology,NEUR,no"),
            user=clinic_staff,
        )
        assert result.ok and (result.created, result.updated) == (2, 0)
        ann = Doctor.objects.get(license_number="LIC-1")
        memberships = {
            m.department_id: (m.role, m.is_primary) for m in ann.memberships.all()
        }
        assert memberships == {card.pk: ("member", True), neur.pk: ("member", False)}
        assert (
            Doctor.history.filter(history_type="+", license_number="LIC-1").count() == 1
        )
        history = Doctor.history.get(license_number="LIC-1")
        assert history.history_user == clinic_staff
        assert history.history_change_reason == "Import of doctors.csv"
        assert (
            Membership.history.filter(history_type="+", doctor_id=ann.pk).count() == 2
        )
        (event,) = ActivityEvent.objects.filter(verb=ActivityEvent.Verb.IMPORTED)
        assert ActivityEvent.objects.count() == before_events + 1
        assert event.actor == clinic_staff and event.source == "import"
        assert event.counts["file"] == "doctors.csv"
        assert (event.counts["created"], event.counts["memberships_added"]) == (2, 3)
        # One batched welcome task for the two new doctors.
        task = DBTaskResult.objects.order_by("-enqueued_at").first()
        assert DBTaskResult.objects.count() == before_tasks + 1
        assert sorted(task.args_kwargs["args"][0]) == sorted(result.created_ids)
        run_record = ImportRun.objects.get()
        assert (run_record.status, run_record.user, run_record.created) == (
            "succeeded",
            clinic_staff,
            2,
        )

    def test_reimport_is_idempotent(self, departments):
        data = csv_bytes(GOOD_ROW, "LIC-2,Bo,Ray,bo@clinic.test,,neurology,NEUR,no")
        run(data)
        before = snapshot()
        with CaptureQueriesContext(connection) as queries:
            result = run(data)
        assert (result.created, result.updated, result.unchanged) == (0, 0, 2)
        assert {k: v for k, v in snapshot().items()} == before
        writes = [
            q["sql"]
            for q in queries
            if q["sql"].startswith(("INSERT", "UPDATE", "DELETE"))
            and "import_run" not in q["sql"]
            and "importrun" not in q["sql"]
        ]
        assert writes == []

    def test_memberships_become_exactly_the_listed_departments(self, departments):
        """The cell lists current memberships: a department dropped ends its
        period yesterday, a primary flag that changes ends the period
        yesterday and starts the next today, a new department starts today."""
        card, neur, onc = departments
        doctor = DoctorFactory(license_number="LIC-1", email="ann@clinic.test")
        card_period = MembershipFactory(
            doctor=doctor, department=card, is_primary=True, joined_on=LAST_YEAR
        )
        onc_period = MembershipFactory(
            doctor=doctor, department=onc, joined_on=LAST_YEAR
        )
        result = run(csv_bytes("LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,NEUR|CARD,"))
        assert result.ok and result.updated == 1
        assert {m.department.code: m.is_primary for m in doctor.memberships.all()} == {
            "NEUR": True,
            "CARD": False,
        }
        assert result.counts == {
            "memberships_added": 1,
            "memberships_changed": 1,
            "memberships_removed": 1,
        }
        assert periods_of(doctor) == [
            ("CARD", LAST_YEAR, YESTERDAY, "member", True),
            ("CARD", TODAY, None, "member", False),
            ("NEUR", TODAY, None, "member", True),
            ("ONC", LAST_YEAR, YESTERDAY, "member", False),
        ]
        # Ended, not deleted: each ended period has one history row of a change.
        assert not Membership.history.filter(history_type="-").exists()
        ended = Membership.history.get(history_type="~", id=onc_period.pk)
        assert ended.left_on == YESTERDAY
        split = Membership.history.get(history_type="~", id=card_period.pk)
        assert (split.left_on, split.is_primary) == (YESTERDAY, True)

    def test_a_leading_bar_means_no_primary_department(self, departments):
        card, neur, _ = departments
        doctor = DoctorFactory(license_number="LIC-1", email="ann@clinic.test")
        MembershipFactory(doctor=doctor, department=card, is_primary=True)
        result = run(csv_bytes("LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,|NEUR|CARD,"))
        assert result.ok and result.updated == 1
        assert {m.department.code: m.is_primary for m in doctor.memberships.all()} == {
            "NEUR": False,
            "CARD": False,
        }
        # Order after the leading bar does not matter: nothing changes.
        again = run(csv_bytes("LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,|CARD|NEUR,"))
        assert again.unchanged == 1
        # Created by the factory, then one changed (CARD) and one added (NEUR).
        assert Membership.history.filter(doctor_id=doctor.pk).count() == 3

    def test_head_kept_handed_over_and_dropped(self, departments):
        """A head stays head when marked, hands over within one file, and a
        department may be left without head."""
        card, neur, _ = departments
        data = csv_bytes(
            "LIC-HEAD,Jane,Roe,head@clinic.test,,Cardiology,CARD|NEUR:head,",
            "LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,CARD:head,",
        )
        result = run(data)
        assert result.ok, result.problems
        heads = dict(
            Membership.objects.filter(role="head").values_list(
                "department__code", "doctor__license_number"
            )
        )
        assert heads == {"CARD": "LIC-1", "NEUR": "LIC-HEAD"}
        # The old head's membership history says head -> member.
        head_id = Doctor.objects.get(license_number="LIC-HEAD").pk
        change = Membership.history.filter(
            history_type="~", department_id=card.pk, doctor_id=head_id
        ).get()
        assert change.role == "member"
        result = run(csv_bytes("LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,,"))
        assert result.ok
        assert not Membership.objects.filter(department=card, role="head").exists()

    def test_changed_fields_are_updated_with_history(self, departments):
        doctor = DoctorFactory(license_number="LIC-1", email="ann@clinic.test")
        result = run(
            csv_bytes("LIC-1,Annie,Lee,ANN@clinic.test,+1 555,Neurology,,false")
        )
        assert result.ok and result.updated == 1
        doctor.refresh_from_db()
        assert (
            doctor.first_name,
            doctor.email,
            doctor.phone,
            doctor.specialty,
            doctor.is_active,
        ) == ("Annie", "ANN@clinic.test", "+1 555", "neurology", False)
        latest = doctor.history.first()
        assert latest.history_type == "~" and latest.first_name == "Annie"

    def test_no_welcome_email_for_updated_doctors(self, departments):
        DoctorFactory(license_number="LIC-1", email="ann@clinic.test")
        tasks_before = DBTaskResult.objects.count()
        result = run(csv_bytes("LIC-1,Annie,Lee,ann@clinic.test,,Neurology,,"))
        assert result.ok and result.updated == 1
        assert DBTaskResult.objects.count() == tasks_before

    def test_dry_run_changes_and_queues_nothing(self, departments):
        before = snapshot()
        with CaptureQueriesContext(connection) as queries:
            result = run(
                csv_bytes(GOOD_ROW, "LIC-HEAD,Janet,Roe,head@clinic.test,,,CARD,"),
                dry_run=True,
            )
        # (Row 3 lacks a specialty: the dry run reports it.)
        assert [(p.row, p.column) for p in result.problems] == [(3, "specialty")]
        result = run(
            csv_bytes(
                GOOD_ROW, "LIC-HEAD,Janet,Roe,head@clinic.test,,cardiology,CARD,"
            ),
            dry_run=True,
        )
        assert result.ok and (result.created, result.updated) == (1, 1)
        changes = {c.key: c for c in result.row_changes}
        assert changes["LIC-1"].action == "new"
        assert changes["LIC-HEAD"].changes["first_name"][1] == "Janet"
        assert changes["LIC-HEAD"].changes["departments"] == ["CARD:head", "CARD"]
        assert snapshot() == before
        writes = [
            q["sql"]
            for q in queries
            if q["sql"].startswith(("INSERT", "UPDATE", "DELETE"))
            and "importrun" not in q["sql"]
        ]
        assert writes == []
        assert ImportRun.objects.filter(status="previewed", dry_run=True).count() == 2

    def test_chunks_do_not_change_the_outcome(self, departments):
        """Rows spread over many chunks: duplicates and heads are found across them."""
        lines = [
            f"LIC-{n},N{n},Lee,n{n}@clinic.test,,Cardiology,NEUR|CARD,"
            for n in range(25)
        ]
        lines.append("LIC-3,Dup,Lee,dup@clinic.test,,Cardiology,,")
        result = import_doctors(
            io.BytesIO(csv_bytes(*lines)), file_name="x.csv", chunk_size=4
        )
        assert [(p.row, p.column) for p in result.problems] == [(27, "license_number")]
        result = import_doctors(
            io.BytesIO(csv_bytes(*lines[:-1])), file_name="x.csv", chunk_size=4
        )
        assert result.ok and result.created == 25
        assert (
            Membership.objects.filter(doctor__first_name__startswith="N").count() == 50
        )


class TestPeriods:
    """The `departments` cell keeps meaning current memberships; periods keep
    their days."""

    def test_dropping_a_code_ends_the_period_yesterday(self, departments):
        card, neur, _ = departments
        doctor = DoctorFactory(license_number="LIC-1", email="ann@clinic.test")
        MembershipFactory(doctor=doctor, department=card, joined_on=LAST_YEAR)
        MembershipFactory(doctor=doctor, department=neur, joined_on=LAST_YEAR)
        result = run(csv_bytes("LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,|NEUR,"))
        assert result.ok, result.problems
        assert periods_of(doctor) == [
            ("CARD", LAST_YEAR, YESTERDAY, "member", False),
            ("NEUR", LAST_YEAR, None, "member", False),
        ]
        assert [d.code for d in doctor.departments.all()] == ["NEUR"]
        # Who was in Cardiology yesterday still has the answer.
        assert Membership.objects.covering(YESTERDAY).filter(department=card).count()

    def test_a_period_that_started_today_is_cancelled(self, departments):
        card, *_ = departments
        doctor = DoctorFactory(license_number="LIC-1", email="ann@clinic.test")
        period = MembershipFactory(doctor=doctor, department=card, joined_on=TODAY)
        result = run(csv_bytes("LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,,"))
        assert result.ok, result.problems
        assert periods_of(doctor) == []
        cancelled = Membership.history.get(id=period.pk, history_type="-")
        assert cancelled.joined_on == TODAY

    def test_a_dropped_code_cancels_the_later_periods_there(self, departments):
        card, *_ = departments
        doctor = DoctorFactory(license_number="LIC-1", email="ann@clinic.test")
        MembershipFactory(
            doctor=doctor, department=card, joined_on=LAST_YEAR, left_on=NEXT_MONTH
        )
        later = NEXT_MONTH + datetime.timedelta(days=1)
        MembershipFactory(doctor=doctor, department=card, joined_on=later)
        result = run(csv_bytes("LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,,"))
        assert result.ok, result.problems
        assert periods_of(doctor) == [("CARD", LAST_YEAR, YESTERDAY, "member", False)]

    def test_readding_later_starts_a_new_period(self, departments):
        card, *_ = departments
        doctor = DoctorFactory(license_number="LIC-1", email="ann@clinic.test")
        MembershipFactory(
            doctor=doctor, department=card, joined_on=LAST_YEAR, left_on=YESTERDAY
        )
        result = run(csv_bytes("LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,CARD,"))
        assert result.ok, result.problems
        assert result.counts["memberships_added"] == 1
        assert periods_of(doctor) == [
            ("CARD", LAST_YEAR, YESTERDAY, "member", False),
            ("CARD", TODAY, None, "member", True),
        ]
        # Importing the same file again changes nothing.
        again = run(csv_bytes("LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,CARD,"))
        assert again.ok and again.unchanged == 1
        assert len(periods_of(doctor)) == 2

    def test_a_department_with_only_a_later_period_refuses_the_row(self, departments):
        card, neur, _ = departments
        doctor = DoctorFactory(license_number="LIC-1", email="ann@clinic.test")
        MembershipFactory(doctor=doctor, department=neur, joined_on=NEXT_MONTH)
        before = snapshot()
        result = run(csv_bytes("LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,NEUR,"))
        assert not result.ok
        [problem] = result.problems
        assert (problem.row, problem.column) == (2, "departments")
        assert "NEUR" in problem.message
        assert date_format(NEXT_MONTH) in problem.message
        assert snapshot() == {**before, "feed events": before["feed events"]}
        # Left out of the cell, the later period is kept as it is.
        result = run(csv_bytes("LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,CARD,"))
        assert result.ok, result.problems
        assert periods_of(doctor) == [
            ("CARD", TODAY, None, "member", True),
            ("NEUR", NEXT_MONTH, None, "member", False),
        ]

    def test_a_primary_from_today_may_not_reach_a_later_primary(self, departments):
        card, neur, _ = departments
        doctor = DoctorFactory(license_number="LIC-1", email="ann@clinic.test")
        MembershipFactory(
            doctor=doctor, department=neur, joined_on=NEXT_MONTH, is_primary=True
        )
        result = run(csv_bytes("LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,CARD,"))
        assert not result.ok
        [problem] = result.problems
        assert "primary" in problem.message and "NEUR" in problem.message
        assert date_format(NEXT_MONTH) in problem.message
        # Without a primary department the row is fine.
        assert run(csv_bytes("LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,|CARD,")).ok

    def test_a_head_from_today_may_not_reach_a_later_head(self, departments):
        card, neur, _ = departments
        MembershipFactory(department=neur, role="head", joined_on=NEXT_MONTH)
        result = run(csv_bytes("LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,NEUR:head,"))
        assert not result.ok
        [problem] = result.problems
        assert "NEUR" in problem.message and date_format(NEXT_MONTH) in problem.message

    def test_a_head_change_from_today_splits_the_periods(self, departments):
        """Handing over CARD in one file: the old head's period ends yesterday
        and a member's period starts today; the new head's likewise."""
        card, *_ = departments
        Membership.objects.filter(department=card).update(joined_on=LAST_YEAR)
        head = Doctor.objects.get(license_number="LIC-HEAD")
        doctor = DoctorFactory(license_number="LIC-1", email="ann@clinic.test")
        MembershipFactory(doctor=doctor, department=card, joined_on=LAST_YEAR)
        # The new head's row comes first, in another chunk than the old head's.
        data = csv_bytes(
            "LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,|CARD:head,",
            "LIC-HEAD,Jane,Roe,head@clinic.test,,Cardiology,CARD,",
        )
        result = run(data, chunk_size=1)
        assert result.ok, result.problems
        assert result.counts["memberships_changed"] == 2
        assert periods_of(head) == [
            ("CARD", LAST_YEAR, YESTERDAY, "head", True),
            ("CARD", TODAY, None, "member", True),
        ]
        assert periods_of(doctor) == [
            ("CARD", LAST_YEAR, YESTERDAY, "member", False),
            ("CARD", TODAY, None, "head", False),
        ]
        # One head on every day.
        for day in (LAST_YEAR, YESTERDAY, TODAY):
            heads = Membership.objects.covering(day).filter(
                department=card, role="head"
            )
            assert heads.count() == 1

    def test_the_preview_compares_with_current_periods(self, departments):
        card, neur, _ = departments
        doctor = DoctorFactory(license_number="LIC-1", email="ann@clinic.test")
        MembershipFactory(
            doctor=doctor, department=neur, joined_on=LAST_YEAR, left_on=YESTERDAY
        )
        MembershipFactory(doctor=doctor, department=card, joined_on=LAST_YEAR)
        result = run(
            csv_bytes("LIC-1,Ann,Lee,ann@clinic.test,,Cardiology,|CARD,"),
            dry_run=True,
        )
        # A past period in NEUR is no current membership: the departments
        # do not change (the factory's names and specialty do).
        assert result.ok
        [change] = result.row_changes
        assert "departments" not in change.changes


@pytest.mark.django_db(transaction=True)
def test_one_cache_bump_after_commit_and_none_for_a_failed_import():
    """The dashboard generation moves once per committed import, never for a
    failed one."""
    DepartmentFactory(code="CARD")
    DepartmentFactory(code="NEUR")
    generation = dashboard.current_generation()
    assert run(csv_bytes(GOOD_ROW, "LIC-2,Bo,Ray,bo@clinic.test,,Cardiology,,")).ok
    assert dashboard.current_generation() == generation + 1
    assert not run(csv_bytes("LIC-3,Bo,Ray,bad,,Cardiology,,")).ok
    assert dashboard.current_generation() == generation + 1


class TestDepartments:
    DEPT_HEADER = "code,name,description,is_active"

    def test_create_update_and_problems(self):
        DepartmentFactory(code="CARD", name="Cardiology")
        data = csv_bytes(
            "CARD,Cardiology,Heart,true",
            "neur,Neurology,,no",
            header=self.DEPT_HEADER,
        )
        result = import_departments(io.BytesIO(data), file_name="d.csv")
        assert result.ok and (result.created, result.updated) == (1, 1)
        assert Department.objects.get(code="NEUR").is_active is False
        assert Department.objects.get(code="CARD").description == "Heart"
        before = snapshot()
        data = csv_bytes(
            "ONC,Neurology,,",
            "ONC,Oncology,,",
            "B@D,Bad,,",
            header=self.DEPT_HEADER,
        )
        result = import_departments(io.BytesIO(data), file_name="d.csv")
        assert {(p.row, p.column) for p in result.problems} == {
            (2, "name"),
            (3, "code"),
            (4, "code"),
        }
        assert snapshot() == before
        assert Department.objects.count() == 2


class TestFormulaSafety:
    @pytest.mark.parametrize(
        "value",
        [
            "=1+2",
            "+1 555",
            "-5",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "'=x",
            "''=x",
            "'x",
            "x",
            "",
        ],
    )
    def test_neutralize_restores_exactly(self, value):
        cell = neutralize(value)
        assert restore(cell) == value
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_a_constraint_violation_while_writing_rolls_everything_back(
    departments, monkeypatch
):
    """Should the database refuse a write all checks let through, the whole
    import is undone and the run says why."""
    from django.db import IntegrityError

    from doctors.importing import writer

    real_write = writer.DoctorWriter.write
    calls = []

    def write_then_fail(self, plan):
        real_write(self, plan)
        calls.append(plan)
        if len(calls) == 2:
            raise IntegrityError(
                "duplicate key value violates unique constraint "
                '"doctor_email_unique_ci"'
            )

    monkeypatch.setattr(writer.DoctorWriter, "write", write_then_fail)
    before = snapshot()
    lines = [f"LIC-{n},A,B,a{n}@clinic.test,,Cardiology,NEUR," for n in range(6)]
    result = import_doctors(
        io.BytesIO(csv_bytes(*lines)), file_name="x.csv", chunk_size=3
    )
    assert len(calls) == 2
    (problem,) = result.problems
    assert problem.message == (
        "Nothing was imported: A doctor with that email already exists."
    )
    assert (result.created, result.updated) == (0, 0)
    assert snapshot() == before
    assert ImportRun.objects.get().status == "failed"
