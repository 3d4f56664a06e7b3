"""How a membership period is written in a file, for import and export.

Values are the stored ones, not labels: role `member` or `head`, primary
`true` or `false` (the doctors file's other spellings of a boolean, yes/no
and 1/0, are read too), dates as ISO 8601 (2024-03-01); an empty last day
means the period has no end yet.
"""

import datetime
import re

from ...models import Membership
from ..values import FALSE_WORDS, TRUE_WORDS

MEMBERSHIP_COLUMNS = (
    "license_number",
    "department",
    "role",
    "primary",
    "joined_on",
    "left_on",
)
COLUMN_HELP = {
    "license_number": "The doctor's license number.",
    "department": "The department's code (CARD).",
    "role": "member or head.",
    "primary": "true or false (yes/no and 1/0 are read too): whether this is the "
    "doctor's primary department over the period.",
    "joined_on": "The period's first day, as 2024-03-01. With the license number "
    "and the department it names the period: a stored period with these three "
    "is corrected, otherwise a new one is created.",
    "left_on": "The period's last day (included), as 2025-05-31; empty while it lasts.",
}
ROLES = {choice.value: choice.value for choice in Membership.Role}
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_role(text: str) -> str | None:
    return ROLES.get(text.strip().lower())


def parse_primary(text: str) -> bool | None:
    """True or False for the doctors file's boolean words; None for anything
    else, empty included (a primary flag is never assumed)."""
    word = text.strip().lower()
    if not word:
        return None
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def parse_date(text: str) -> datetime.date | None:
    """The date `text` writes as YYYY-MM-DD, or None."""
    text = text.strip()
    if not ISO_DATE.fullmatch(text):
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return None


def format_date(value: datetime.date | None) -> str:
    return value.isoformat() if value is not None else ""


def period_row(
    license_number: str,
    code: str,
    role: str,
    is_primary: bool,
    joined_on: datetime.date,
    left_on: datetime.date | None,
) -> list:
    """One period as a file's row of typed values (doctors.sheets writes
    them): dates as ISO text, so that every format reads back the same."""
    return [
        license_number,
        code,
        role,
        is_primary,
        format_date(joined_on),
        format_date(left_on),
    ]
