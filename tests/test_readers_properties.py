"""Properties of the readers (Hypothesis): whatever the bytes, a workbook or
JSON reader raises nothing but the importer's own error, in bounded memory and
time. Fed arbitrary bytes, zip archives built from the parts of the real
workbooks under tests/fixtures/sheets (some parts left out, others swapped,
cut or altered), and real workbooks with bytes changed. The readers run in
this process here: the reading process would hide a reader's own exceptions
behind its refusal."""

import io
import time
import tracemalloc
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from doctors.importing.errors import ImportFileError
from doctors.importing.readers.limits import ReaderLimits
from doctors.importing.readers.table import TableRequest, read_table
from doctors.resources import DOCTOR_COLUMNS

FIXTURES = Path(__file__).parent / "fixtures" / "sheets"
WORKBOOKS = {
    name: (FIXTURES / name).read_bytes()
    for name in ("doctors.xlsx", "doctors.ods", "merged.xlsx", "merged.ods")
}
PARTS = {
    (source, name): archive.read(name)
    for source, data in WORKBOOKS.items()
    for archive in [zipfile.ZipFile(io.BytesIO(data))]
    for name in archive.namelist()
}
PART_NAMES = sorted({name for _, name in PARTS})
SETTINGS = settings(
    max_examples=40,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# What reading one of these small files may cost, at most.
MAX_SECONDS = 2.0
MAX_MEMORY = 32 * 1_048_576
# Low enough that the limits themselves are reached by some examples.
LIMITS = ReaderLimits(
    xml_elements=5_000,
    columns=200,
    rows=500,
    cell_chars=2_000,
    shared_strings=500,
    styles=500,
    json_object_chars=20_000,
)


def read_within_bounds(name: str, data: bytes) -> None:
    """Read every row of `data`; only ImportFileError may come out, and only
    within the time and memory bounds."""
    request = TableRequest(
        columns=tuple(DOCTOR_COLUMNS), file_name=name, sheet_name="Doctors"
    )
    tracemalloc.start()
    started = time.perf_counter()
    try:
        for _ in read_table(io.BytesIO(data), request, LIMITS).rows():
            pass
    except ImportFileError as error:
        assert error.message
    finally:
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert seconds < MAX_SECONDS
    assert peak < MAX_MEMORY


file_names = st.sampled_from(["f.xlsx", "f.ods", "f.json", "f.xlsm"])


@SETTINGS
@given(name=file_names, data=st.binary(max_size=3000))
def test_arbitrary_bytes(name, data):
    read_within_bounds(name, data)


@SETTINGS
@given(name=file_names, data=st.binary(max_size=400))
def test_arbitrary_bytes_after_a_zip_or_json_start(name, data):
    for start in (b"PK\x03\x04", b"[", b'[{"license_number": '):
        read_within_bounds(name, start + data)


def _altered(data: bytes, cuts: list[tuple[int, bytes]]) -> bytes:
    for position, insert in cuts:
        at = position % (len(data) + 1)
        data = data[:at] + insert + data[at + len(insert) :]
    return data


alterations = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=1 << 16),
        st.sampled_from(
            [b"", b"<", b">", b"\x00", b"<!DOCTYPE x>", b"</row>", b"<c/>", b"&a;"]
        )
        | st.binary(min_size=1, max_size=8),
    ),
    max_size=4,
)


@SETTINGS
@given(
    parts=st.lists(
        st.tuples(
            st.sampled_from(PART_NAMES),
            st.sampled_from(sorted(PARTS)),
            alterations,
        ),
        min_size=1,
        max_size=12,
    ),
    name=file_names,
)
def test_zip_archives_built_from_real_parts(parts, name):
    """Any part under any name, cut and altered: a workbook put together
    wrongly, as an attacker or a broken program would."""
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w") as archive:
        for part_name, source, cuts in parts:
            if part_name in archive.namelist():
                continue
            archive.writestr(part_name, _altered(PARTS[source], cuts))
    read_within_bounds(name, stream.getvalue())


@SETTINGS
@given(source=st.sampled_from(sorted(WORKBOOKS)), cuts=alterations)
# A member's name in its local header that is not UTF-8 (UnicodeDecodeError).
@example(source="doctors.ods", cuts=[(30, b"\x80")])
# An unknown zip version in the directory (NotImplementedError).
@example(source="doctors.ods", cuts=[(8297, b"<!DOCTYPE x>")])
def test_real_workbooks_with_bytes_changed(source, cuts):
    read_within_bounds(source, _altered(WORKBOOKS[source], cuts))


@SETTINGS
@given(
    source=st.sampled_from(sorted(WORKBOOKS)),
    part=st.sampled_from(["content.xml", "xl/worksheets/sheet2.xml", "xl/styles.xml"]),
    cuts=alterations,
)
def test_real_workbooks_with_one_part_altered(source, part, cuts):
    """The part changed before it is packed, so the archive stays sound and
    the XML readers meet the damage."""
    with zipfile.ZipFile(io.BytesIO(WORKBOOKS[source])) as original:
        stream = io.BytesIO()
        with zipfile.ZipFile(stream, "w") as archive:
            for item in original.infolist():
                body = original.read(item)
                if item.filename == part:
                    body = _altered(body, cuts)
                archive.writestr(item, body)
    read_within_bounds(source, stream.getvalue())


json_tokens = st.sampled_from(
    [
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        '"license_number"',
        '"first_name"',
        '"x"',
        "1",
        "-0",
        "1e5",
        "1e999",
        "NaN",
        "Infinity",
        "-Infinity",
        "null",
        "true",
        "9" * 60,
        '"\\ud800"',
        "\ufeff",
        " ",
        "\n",
    ]
)


@SETTINGS
@given(tokens=st.lists(json_tokens, max_size=60))
def test_json_made_of_json_tokens(tokens):
    read_within_bounds("f.json", ("[" + "".join(tokens)).encode())
