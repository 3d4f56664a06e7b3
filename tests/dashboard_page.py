"""Reading numbers back from the rendered dashboard page."""

import re
from html.parser import HTMLParser

FIGURES = ["active-doctors", "departments", "memberships", "changes", "imports"]


def figures(html: str) -> dict[str, int]:
    found = {}
    for name in FIGURES:
        match = re.search(rf'id="figure-{name}">([\d,]+)<', html)
        assert match, f"figure {name} is not on the page"
        found[name] = number(match.group(1))
    return found


def number(text: str) -> int:
    """A number as the page writes it, thousands separators and all ("2,867")."""
    assert re.fullmatch(r"\d{1,3}(,\d{3})*", text), f"{text!r} is not a number"
    return int(text.replace(",", ""))


class _TableReader(HTMLParser):
    def __init__(self, table_id: str):
        super().__init__()
        self.table_id = table_id
        self.depth = 0
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self.depth = 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if not self.depth:
            return
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join(" ".join(self.cell).split()))
            self.cell = None
        elif tag == "table":
            self.depth = 0

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def table(html: str, table_id: str) -> list[list[str]]:
    """The body rows of the table with `table_id` (header row dropped)."""
    reader = _TableReader(table_id)
    reader.feed(html)
    assert reader.rows, f"no table {table_id} on the page"
    return reader.rows[1:]
