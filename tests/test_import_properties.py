"""Properties of the importer (Hypothesis): whatever the bytes or the rows, it
raises nothing but its own error, writes nothing when a row is refused, and
keeps the problem list bounded."""

import csv
import io

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doctors.importing import validation
from doctors.importing.parsing import CsvSource, ImportFileError
from doctors.importing.runner import import_doctors
from doctors.resources import DOCTOR_COLUMNS
from tests.factories import DepartmentFactory
from tests.test_importing import HEADER, snapshot

pytestmark = pytest.mark.django_db

SETTINGS = settings(
    max_examples=60,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
BOUND = 5

# Cells as people (and attackers) type them: any text, control characters and
# separators included, and values that are almost right.
cells = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["", "CARD", "CARD:head", "|CARD", "Cardiology", "yes", "0", "a@b.test"]
    ),
    st.text(alphabet="|:,\"'\r\n\t\x00 =+-@", max_size=20),
)
rows = st.lists(st.lists(cells, min_size=0, max_size=10), min_size=0, max_size=15)


@pytest.fixture
def bounded(monkeypatch):
    """A small problem bound, so that a few rows exceed it."""
    monkeypatch.setattr(validation, "MAX_PROBLEMS", BOUND)
    DepartmentFactory(code="CARD", name="Cardiology")


def write_rows(records) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(DOCTOR_COLUMNS)
    writer.writerows(records)
    return text.getvalue().encode("utf-8", "surrogatepass")


def import_isolated(data: bytes):
    """Import, then undo whatever a valid file wrote: each example starts alike."""
    before = snapshot()
    with transaction.atomic():
        result = import_doctors(io.BytesIO(data), file_name="h.csv")
        after = snapshot()
        transaction.set_rollback(True)
    return before, after, result


def assert_bounded(result) -> None:
    # The one error that stops reading the file is kept beyond the bound.
    assert len(result.problems) <= BOUND + 1
    assert result.problem_count >= len(result.problems)
    assert all(len(p.message) <= validation.MESSAGE_LIMIT for p in result.problems)


@SETTINGS
@given(data=st.binary(max_size=2000))
def test_any_bytes_are_refused_cleanly(bounded, data):
    before, after, result = import_isolated(data)
    assert not result.ok
    assert after == before
    assert_bounded(result)


@SETTINGS
@given(tail=st.binary(max_size=2000))
def test_any_bytes_after_a_good_header_read_as_rows_or_one_file_error(tail):
    numbers = []
    try:
        source = CsvSource(
            io.BytesIO(HEADER.encode() + b"\r\n" + tail), columns=DOCTOR_COLUMNS
        )
        for row in source.rows():
            numbers.append(row.number)
            assert row.error or set(row.cells) == set(DOCTOR_COLUMNS)
            assert all(isinstance(value, str) for value in row.cells.values())
    except ImportFileError as error:
        assert error.message
    assert numbers == sorted(set(numbers))
    assert all(number >= 2 for number in numbers)


@SETTINGS
@given(records=rows)
def test_any_rows_write_all_or_nothing(bounded, records):
    before, after, result = import_isolated(write_rows(records))
    assert_bounded(result)
    if not result.ok:
        assert after == before
        assert all(p.row is None or p.row >= 1 for p in result.problems)
    else:
        assert result.created + result.updated + result.unchanged == result.total_rows
