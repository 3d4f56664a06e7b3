"""How values are written in the files of doctors and departments, shared by import
and export. The columns themselves are declared once, in doctors.resources.

Doctors: license_number,first_name,last_name,email,phone,specialty,departments,
is_active. `departments` holds department codes separated by "|", the first
being the primary department; a code may carry ":head" (CARD:head) when the
doctor heads that department, and a leading "|" (|CARD|NEUR) says that none of
them is primary. So a file can say everything the memberships hold, and an
export read back changes nothing. Departments: code,name,description,is_active.

Formula escaping (a "'" in front of a cell a spreadsheet would run) is
doctors.formulas, shared with every other file the app writes.
"""

from ..models import Specialty

DEPARTMENT_SEPARATOR = "|"
HEAD_MARKER = ":head"

TRUE_WORDS = {"true", "yes", "1", ""}
FALSE_WORDS = {"false", "no", "0"}

# Value or label, any case -> the stored value.
SPECIALTY_LOOKUP = {
    **{choice.value.lower(): choice.value for choice in Specialty},
    **{choice.label.lower(): choice.value for choice in Specialty},
}


def format_bool(value: bool) -> str:
    return "true" if value else "false"


def parse_bool(text: str) -> bool | None:
    """True/False for the accepted words (empty is true), None otherwise."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def format_departments(
    entries: list[tuple[str, bool]], *, has_primary: bool = True
) -> str:
    """(code, is_head) pairs, primary first -> "CARD:head|NEUR"."""
    text = DEPARTMENT_SEPARATOR.join(
        f"{code}{HEAD_MARKER}" if is_head else code for code, is_head in entries
    )
    if entries and not has_primary:
        text = DEPARTMENT_SEPARATOR + text
    return text
