"""Lists of records named in a message, bounded whatever the selection's size;
fields named as staff read them."""

from collections.abc import Sequence

from django.core.exceptions import FieldDoesNotExist

NAMED_AT_MOST = 5


def names_of(objects: Sequence, *, limit: int = NAMED_AT_MOST) -> str:
    """'Dr Ann Lee, Dr Bo Sun and 3 more' (each object as its str())."""
    names = [str(obj) for obj in objects[:limit]]
    more = len(objects) - len(names)
    if more:
        return f"{', '.join(names)} and {more} more"
    return ", ".join(names)


def field_label(model, name: str) -> str:
    """A file column as staff read it: the field's verbose name when the
    column is a field ("License number"), else the column in words."""
    try:
        label = model._meta.get_field(name).verbose_name
    except FieldDoesNotExist:
        label = name.replace("_", " ")
    return str(label)[:1].upper() + str(label)[1:]
