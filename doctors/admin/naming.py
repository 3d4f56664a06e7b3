"""Lists of records named in a message, bounded whatever the selection's size.
(Fields and values as staff read them: doctors.activity.field_label and
value_label.)"""

from collections.abc import Sequence

NAMED_AT_MOST = 5


def names_of(objects: Sequence, *, limit: int = NAMED_AT_MOST) -> str:
    """'Dr Ann Lee, Dr Bo Sun and 3 more' (each object as its str())."""
    names = [str(obj) for obj in objects[:limit]]
    more = len(objects) - len(names)
    if more:
        return f"{', '.join(names)} and {more} more"
    return ", ".join(names)
