"""Every stored membership period as rows of a memberships file.

The same columns the import reads (values.MEMBERSHIP_COLUMNS), with the
stored values: a file exported here and imported back changes nothing. The
periods are read as a stream (a server-side cursor on PostgreSQL);
doctors.exporting.write writes them in any of the import's formats, memory flat.
"""

from collections.abc import Iterator

from ...models import Membership
from .values import MEMBERSHIP_COLUMNS, period_row

CHUNK_SIZE = 2000


def membership_rows() -> Iterator[list]:
    """The header, then one row per period (every period, ended or not), by
    license number, department code and first day."""
    yield list(MEMBERSHIP_COLUMNS)
    periods = (
        Membership.objects.order_by(
            "doctor__license_number", "department__code", "joined_on"
        )
        .values_list(
            "doctor__license_number",
            "department__code",
            "role",
            "is_primary",
            "joined_on",
            "left_on",
        )
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for values in periods:
        yield period_row(*values)
