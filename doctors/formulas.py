"""Formula escaping of spreadsheet cells, for every file the app writes or reads.

Spreadsheets run a cell that starts with = + - @ (or a tab or carriage return)
as a formula (OWASP "CSV injection"). A file the app writes puts a "'" in front
of such a cell, and an import takes exactly that "'" away again, so values
survive the round trip unchanged.
"""

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _looks_neutralized(cell: str) -> bool:
    """A "'" (or several) in front of what would be a formula."""
    bare = cell.lstrip("'")
    return bare != cell and bare.startswith(FORMULA_TRIGGERS)


def neutralize(value: str) -> str:
    """The cell to write for `value` so that no spreadsheet runs it."""
    if value.startswith(FORMULA_TRIGGERS) or _looks_neutralized(value):
        return "'" + value
    return value


def restore(cell: str) -> str:
    """The value a cell written by `neutralize` stands for."""
    return cell[1:] if _looks_neutralized(cell) else cell
