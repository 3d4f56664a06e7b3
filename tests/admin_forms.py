"""POST data for the doctor and department admin pages, as the browser sends it."""

from html.parser import HTMLParser

from doctors.concurrency import version_of
from doctors.models import Department, Doctor, Membership

INLINE_PREFIX = "memberships"


def _inline(rows: list[dict], initial: int) -> dict:
    data = {
        f"{INLINE_PREFIX}-TOTAL_FORMS": str(len(rows)),
        f"{INLINE_PREFIX}-INITIAL_FORMS": str(initial),
        f"{INLINE_PREFIX}-MIN_NUM_FORMS": "0",
        f"{INLINE_PREFIX}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        for key, value in row.items():
            if value is True:
                value = "on"
            if value is False or value is None:
                continue
            data[f"{INLINE_PREFIX}-{index}-{key}"] = str(value)
    return data


def membership_row(
    membership: Membership | None = None,
    *,
    other: int | None = None,
    side: str,
    role: str = Membership.Role.MEMBER,
    is_primary: bool = False,
    delete: bool = False,
    joined_on: str | None = None,
) -> dict:
    """One inline row; `side` is the field the row picks ("department" or "doctor")."""
    row = {
        "id": membership.pk if membership else None,
        side: other,
        "role": role,
        "joined_on": joined_on
        or (membership.joined_on.isoformat() if membership else "2024-01-01"),
        "is_primary": is_primary,
        "DELETE": delete,
    }
    if membership is not None:
        owner = "doctor" if side == "department" else "department"
        row[owner] = getattr(membership, f"{owner}_id")
    return row


def _page(values: dict, rows, opened_with: dict | None = None) -> dict:
    data = {key: value for key, value in values.items() if value is not False}
    # The values the page showed when it was opened, sent back by the browser in
    # hidden "initial-" inputs (what tells the form which fields were edited).
    for key, value in (opened_with or {}).items():
        data[f"initial-{key}"] = str(value)
    if data.get("is_active") is True:
        data["is_active"] = "on"
    initial = sum(1 for row in rows if row.get("id"))
    data.update(_inline(list(rows), initial))
    return data


def doctor_form(doctor: Doctor | None = None, rows=(), **fields) -> dict:
    """The doctor page as submitted right after opening it (current version)."""
    values = {
        "license_number": "LIC-NEW-1",
        "first_name": "Jane",
        "last_name": "Roe",
        "email": "jane.roe@clinic.test",
        "phone": "",
        "specialty": "cardiology",
        "is_active": True,
    }
    if doctor is not None:
        values.update({name: getattr(doctor, name) for name in values})
        values["version"] = version_of(doctor)
    opened_with = (
        {k: v for k, v in values.items() if k != "version"} if doctor else None
    )
    values.update(fields)
    return _page(values, rows, opened_with)


def department_form(department: Department | None = None, rows=(), **fields) -> dict:
    values = {
        "code": "NEW",
        "name": "New department",
        "description": "",
        "is_active": True,
    }
    if department is not None:
        values.update({name: getattr(department, name) for name in values})
        values["version"] = version_of(department)
    opened_with = (
        {k: v for k, v in values.items() if k != "version"} if department else None
    )
    values.update(fields)
    return _page(values, rows, opened_with)


class _FormFields(HTMLParser):
    """The fields a browser submits from one <form> of a page (successful
    controls: named, enabled, checked boxes only, the selected options)."""

    def __init__(self, form_id: str):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_multiple = False
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.inside = attributes.get("id") == self.form_id
            return
        if not self.inside or "disabled" in attributes:
            return
        name = attributes.get("name")
        if tag == "input" and name:
            kind = attributes.get("type", "text")
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attributes:
                return
            default = "on" if kind in ("checkbox", "radio") else ""
            self.fields.append((name, attributes.get("value") or default))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in attributes:
            self.fields.append((self._select, attributes.get("value") or ""))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            text = "".join(self._text)
            self.fields.append((self._textarea, text.removeprefix("\n")))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)


def submitted_fields(html: str, form_id: str) -> list[tuple[str, str]]:
    """What pressing Save on the page's form `form_id` sends, as (name, value)."""
    parser = _FormFields(form_id)
    parser.feed(html)
    return parser.fields


def as_post_data(fields: list[tuple[str, str]]) -> dict:
    """(name, value) pairs as the test client's data (a list for repeated names)."""
    data: dict[str, list[str]] = {}
    for name, value in fields:
        data.setdefault(name, []).append(value)
    return data
