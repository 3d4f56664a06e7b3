from doctors.activity import MembershipChange
from doctors.membership_sentences import sentences


def change(
    verb,
    event,
    doctor="Dr Jane Roe",
    department="Cardiology",
    doctor_id=1,
    **changes,
):
    return MembershipChange(
        verb=verb,
        doctor_id=doctor_id,
        doctor_text=doctor,
        department_id=hash(department) % 1000,
        department_text=department,
        changes={**changes, "period_event": [None, event]},
    )


def started(first, role="member", primary=False, **kwargs):
    return change(
        "membership_added",
        "started",
        joined_on=[None, first],
        left_on=[None, None],
        role=[None, role],
        is_primary=[None, primary],
        **kwargs,
    )


def test_one_sentence_per_doctor_in_reading_order_with_the_days():
    found = sentences(
        [
            started("2026-12-04", department="Cardiology", role="head"),
            started("2026-12-04", department="Neurology"),
            change(
                "membership_removed",
                "ended",
                department="Oncology",
                left_on=[None, "2026-12-03"],
            ),
            started("2026-12-04", doctor="Dr Max Moe", doctor_id=2),
        ],
        per="doctor",
    )
    assert found == [
        "Dr Jane Roe: joined Cardiology on 4 Dec 2026 as head; joined Neurology "
        "on 4 Dec 2026; left Oncology on 3 Dec 2026.",
        "Dr Max Moe: joined Cardiology on 4 Dec 2026.",
    ]


def test_changes_from_a_date_say_the_day_and_what_was():
    found = sentences(
        [
            change(
                "membership_changed",
                "changed",
                department="Cardiology",
                joined_on=[None, "2026-03-02"],
                role=["head", "member"],
                is_primary=[False, False],
            ),
            change(
                "membership_changed",
                "changed",
                department="Neurology",
                joined_on=[None, "2026-03-02"],
                is_primary=[True, False],
            ),
        ],
        per="doctor",
    )
    assert found == [
        "Dr Jane Roe: member of Cardiology from 2 Mar 2026 (was head); "
        "Neurology is no longer the primary department from 2 Mar 2026."
    ]


def test_a_cancelled_and_a_corrected_period():
    found = sentences(
        [
            change(
                "membership_removed",
                "cancelled",
                joined_on=["2026-12-10", None],
                left_on=[None, None],
            ),
            change(
                "membership_changed",
                "corrected",
                department="Neurology",
                joined_on=["2026-03-01", "2026-03-03"],
            ),
        ],
        per="doctor",
    )
    assert found == [
        "Dr Jane Roe: period in Cardiology from 10 Dec 2026 cancelled; corrected "
        "in Neurology: first day 1 Mar 2026 → 3 Mar 2026."
    ]


def test_department_side_sentences_group_doctors_worded_alike():
    found = sentences(
        [
            started("2026-12-04", doctor="Dr Ann Lee", doctor_id=1),
            started("2026-12-04", doctor="Dr Bo Ek", doctor_id=2),
            change(
                "membership_changed",
                "changed",
                doctor="Dr Cy Twombly",
                doctor_id=3,
                joined_on=[None, "2026-12-07"],
                role=["member", "head"],
            ),
        ],
        per="department",
    )
    assert found == [
        "Cardiology: Dr Ann Lee, Dr Bo Ek joined on 4 Dec 2026; Dr Cy Twombly "
        "head from 7 Dec 2026 (was member)."
    ]


def test_nothing_collected_means_no_sentence():
    assert sentences([], per="doctor") == []


def test_a_moved_primary_is_one_sentence_naming_both_departments_and_the_day():
    found = sentences(
        [
            change(
                "membership_changed",
                "changed",
                department="Neurology",
                joined_on=[None, "2026-12-04"],
                is_primary=[True, False],
            ),
            change(
                "membership_changed",
                "changed",
                department="Cardiology",
                joined_on=[None, "2026-12-04"],
                is_primary=[False, True],
            ),
            change(
                "membership_changed",
                "changed",
                doctor="Dr Max Moe",
                doctor_id=2,
                department="Cardiology",
                joined_on=[None, "2026-12-04"],
                is_primary=[False, True],
            ),
        ],
        per="department",
    )
    assert found == [
        "Dr Jane Roe's primary department is Cardiology from 4 Dec 2026 "
        "(was Neurology).",
        "Cardiology: the primary department of Dr Max Moe from 4 Dec 2026.",
    ]


def test_a_period_deleted_with_its_doctor_reads_as_removed():
    removed = MembershipChange(
        verb="membership_removed",
        doctor_id=1,
        doctor_text="Dr Jane Roe",
        department_id=1,
        department_text="Cardiology",
        changes={"role": ["member", None]},
    )
    assert sentences([removed], per="doctor") == [
        "Dr Jane Roe: removed from Cardiology."
    ]
