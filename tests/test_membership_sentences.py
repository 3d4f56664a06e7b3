from doctors.activity import MembershipChange
from doctors.membership_sentences import sentences


def change(verb, doctor="Dr Jane Roe", department="Cardiology", doctor_id=1, **changes):
    return MembershipChange(
        verb=verb,
        doctor_id=doctor_id,
        doctor_text=doctor,
        department_id=hash(department) % 1000,
        department_text=department,
        changes=changes,
    )


def test_one_sentence_per_doctor_in_reading_order():
    found = sentences(
        [
            change("membership_added", department="Cardiology", role=[None, "head"]),
            change("membership_added", department="Neurology", role=[None, "member"]),
            change("membership_removed", department="Oncology", role=["member", None]),
            change("membership_added", doctor="Dr Max Moe", doctor_id=2),
        ],
        per="doctor",
    )
    assert found == [
        "Dr Jane Roe: added to Cardiology, Neurology; removed from Oncology; "
        "now head of Cardiology.",
        "Dr Max Moe: added to Cardiology.",
    ]


def test_role_and_primary_changes_read_naturally():
    found = sentences(
        [
            change(
                "membership_changed", department="Cardiology", role=["head", "member"]
            ),
            change(
                "membership_changed", department="Neurology", is_primary=[True, False]
            ),
        ],
        per="doctor",
    )
    assert found == [
        "Dr Jane Roe: no longer head of Cardiology; Neurology no longer primary."
    ]


def test_a_removed_head_is_only_reported_as_removed():
    found = sentences(
        [change("membership_removed", role=["head", None], is_primary=[True, None])],
        per="doctor",
    )
    assert found == ["Dr Jane Roe: removed from Cardiology."]


def test_department_side_sentences():
    found = sentences(
        [
            change("membership_added", doctor="Dr Ann Lee", doctor_id=1),
            change(
                "membership_changed",
                doctor="Dr Cy Twombly",
                doctor_id=3,
                role=["member", "head"],
            ),
        ],
        per="department",
    )
    assert found == ["Cardiology: added Dr Ann Lee; Dr Cy Twombly is now head."]


def test_nothing_collected_means_no_sentence():
    assert sentences([], per="doctor") == []


def test_a_moved_primary_is_one_sentence_naming_both_departments():
    found = sentences(
        [
            change(
                "membership_changed", department="Neurology", is_primary=[True, False]
            ),
            change(
                "membership_changed",
                department="Cardiology",
                is_primary=[False, True],
                joined_on=["2024-01-01", "2024-02-01"],
            ),
            change(
                "membership_changed",
                doctor="Dr Max Moe",
                doctor_id=2,
                department="Cardiology",
                is_primary=[False, True],
            ),
        ],
        per="department",
    )
    assert found == [
        "Dr Jane Roe's primary department is now Cardiology (was Neurology).",
        "Cardiology: now the primary department of Dr Max Moe; joining date "
        "changed for Dr Jane Roe.",
    ]
