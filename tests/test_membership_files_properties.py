"""Properties of the memberships import (Hypothesis): whatever the cells, it
raises nothing but reports problems, writes all or nothing, keeps its problem
list bounded; and on well-formed rows it accepts a file exactly when the
periods after it keep every rule, leaving exactly those periods."""

import csv
import datetime
import io
import json

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doctors.importing import validation
from doctors.importing.memberships.runner import import_memberships
from doctors.importing.memberships.values import MEMBERSHIP_COLUMNS
from doctors.models import Membership
from tests.test_membership_files import build_clinic, periods

pytestmark = pytest.mark.django_db

SETTINGS = settings(
    max_examples=60,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
BOUND = 5
D = datetime.date

# Cells as people (and attackers) type them: any text, control characters,
# separators, formulas, and values that are almost right.
cells = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "A-1",
            "B-2",
            "CARD",
            "card",
            "head",
            "Head",
            "member",
            "yes",
            "0",
            "2020-01-01",
            "2020-02-30",
            "99999-01-01",
            "2020-1-1",
            "=1+2",
            "0001-01-01",
        ]
    ),
    st.text(alphabet="|:,\"'\r\n\t\x00 =+-@0123456789", max_size=20),
)
hostile_rows = st.lists(st.lists(cells, min_size=0, max_size=8), max_size=12)


@pytest.fixture
def clinic(monkeypatch):
    """A small problem bound, so that a few rows exceed it."""
    monkeypatch.setattr(validation, "MAX_PROBLEMS", BOUND)
    return build_clinic()


def csv_file(records) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(MEMBERSHIP_COLUMNS)
    writer.writerows(records)
    return text.getvalue().encode("utf-8", "surrogatepass")


def isolated(data: bytes, name: str = "p.csv"):
    """Import, then roll back: each example starts from the same clinic."""
    before = (periods(), Membership.history.count())
    with transaction.atomic():
        result = import_memberships(io.BytesIO(data), file_name=name)
        after = (periods(), Membership.history.count())
        transaction.set_rollback(True)
    return before, after, result


@SETTINGS
@given(records=hostile_rows)
def test_any_cells_are_imported_whole_or_refused_with_bounded_problems(clinic, records):
    before, after, result = isolated(csv_file(records))
    assert len(result.problems) <= BOUND + 1
    assert all(len(p.message) <= validation.MESSAGE_LIMIT for p in result.problems)
    if not result.ok:
        assert after == before
        assert all(p.row is None or p.row >= 1 for p in result.problems)
    else:
        assert result.created + result.updated + result.unchanged == result.total_rows


@SETTINGS
@given(records=hostile_rows)
def test_any_json_values_are_imported_whole_or_refused(clinic, records):
    objects = [
        dict(zip(MEMBERSHIP_COLUMNS, record, strict=False)) for record in records
    ]
    data = json.dumps(objects).encode("utf-8", "surrogatepass")
    before, after, result = isolated(data, "p.json")
    assert len(result.problems) <= BOUND + 1
    if not result.ok:
        assert after == before


# Well-formed rows over a few doctors, departments and days, so that they
# often meet each other and the stored periods.
DAYS = [D(2018, 1, 1), D(2019, 1, 1), D(2021, 6, 30), D(2022, 1, 1), D(2023, 1, 1)]
period_rows = st.lists(
    st.tuples(
        st.sampled_from(["A-1", "B-2"]),
        st.sampled_from(["CARD", "NEUR"]),
        st.sampled_from(["member", "head"]),
        st.booleans(),
        st.sampled_from(DAYS),
        st.one_of(st.none(), st.integers(min_value=0, max_value=900)),
    ),
    min_size=1,
    max_size=5,
)


def keeps_the_rules(state: dict) -> bool:
    """Whether `state` ((license, code, first day) -> (role, primary, last
    day)) has no doctor twice in a department, no two heads of a department
    and no two primary departments of a doctor on any day."""
    far = D(2100, 1, 1)
    spans = [
        (lic, code, role, primary, first, last or far)
        for (lic, code, first), (role, primary, last) in state.items()
    ]
    for i, a in enumerate(spans):
        for b in spans[i + 1 :]:
            if a[4] > b[5] or b[4] > a[5]:
                continue
            if a[:2] == b[:2]:
                return False
            if a[1] == b[1] and a[2] == b[2] == "head":
                return False
            if a[0] == b[0] and a[3] and b[3]:
                return False
    return True


@SETTINGS
@given(rows=period_rows)
def test_a_file_is_accepted_exactly_when_the_periods_after_it_keep_the_rules(
    clinic, rows
):
    records = []
    state = {(p[0], p[1], p[4]): (p[2], p[3], p[5]) for p in periods()}
    keys = set()
    for lic, code, role, primary, first, length in rows:
        last = None if length is None else first + datetime.timedelta(days=length)
        records.append(
            [
                lic,
                code,
                role,
                "true" if primary else "false",
                first.isoformat(),
                last.isoformat() if last else "",
            ]
        )
        keys.add((lic, code, first))
        state[(lic, code, first)] = (role, primary, last)
    named_once = len(keys) == len(rows)
    before, after, result = isolated(csv_file(records))
    expected_ok = named_once and keeps_the_rules(state)
    assert result.ok == expected_ok, [str(p) for p in result.problems]
    if expected_ok:
        assert after[0] == [
            (lic, code, role, primary, first, last)
            for (lic, code, first), (role, primary, last) in sorted(state.items())
        ]
    else:
        assert after == before
        assert all(p.row is not None and p.row >= 2 for p in result.problems)
