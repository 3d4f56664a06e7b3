"""How a change to a membership period reads, with its dates: one sentence for
the feed, the history pages and the timeline ("Left Cardiology on 31 Mar
2026", "Head of Cardiology from 2 Mar 2026 (was member)", "Corrected in
Cardiology: first day 1 Mar 2026 → 3 Mar 2026"), and the phrases the admin's
messages group by doctor or department.

A feed event of a membership carries what happened to its period in its
changes, under EVENT_KEY, as [None, PeriodEvent]: the verbs stay the three
membership verbs (added, changed, removed), so filters, exports and undo
that read verbs keep working, and the period event says which kind of
addition, change or removal it was. Events written before periods existed
carry none and read as they always did.
"""

import datetime
from typing import Any

from django.utils.formats import date_format

from . import periods
from .periods import PeriodEvent

EVENT_KEY = "period_event"
# The fields of a period, in the order a sentence names them.
PERIOD_FIELDS = ("joined_on", "left_on", "role", "is_primary")
FIELD_WORDS = {
    "joined_on": "first day",
    "left_on": "last day",
    "role": "role",
    "is_primary": "primary department",
}
ROLE_WORDS = {"member": "member", "head": "head"}


def event_of(changes: dict[str, Any] | None) -> str | None:
    """The PeriodEvent an event's changes carry, or None (an older event)."""
    pair = (changes or {}).get(EVENT_KEY)
    return pair[1] if pair else None


def event_label(event: str) -> str:
    """ "Joined", "Left", "Changed from a date", "Corrected", "Cancelled…"."""
    return str(PeriodEvent(event).label)


def _date(value: Any) -> datetime.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def day_text(value: Any) -> str:
    """A stored day in the clinic's format, "—" for none."""
    day = _date(value)
    return date_format(day) if day is not None else "—"


def _value_text(name: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if name in ("joined_on", "left_on"):
        return day_text(value)
    if name == "role":
        return ROLE_WORDS.get(value, str(value))
    if value in (True, "true"):
        return "yes"
    if value in (False, "false"):
        return "no"
    return str(value)


def _old(changes: dict, name: str) -> Any:
    pair = changes.get(name)
    return pair[0] if pair else None


def _new(changes: dict, name: str) -> Any:
    pair = changes.get(name)
    return pair[1] if pair else None


def _holding(changes: dict, index: int) -> str:
    """ "as head (primary department)" for the role and flag a period holds."""
    role = (changes.get("role") or [None, None])[index]
    primary = (changes.get("is_primary") or [None, None])[index]
    parts = [
        "as head" if role == "head" else "",
        "(primary department)" if primary else "",
    ]
    return " ".join(part for part in parts if part)


def _changed_parts(changes: dict, department: str, day: str) -> list[str]:
    """The role and primary flag that changed from `day`, one part each."""
    parts = []
    if "role" in changes and _old(changes, "role") != _new(changes, "role"):
        parts.append(
            f"{_value_text('role', _new(changes, 'role')).capitalize()} of "
            f"{department} from {day} "
            f"(was {_value_text('role', _old(changes, 'role'))})"
        )
    if "is_primary" in changes and bool(_old(changes, "is_primary")) != bool(
        _new(changes, "is_primary")
    ):
        if _new(changes, "is_primary"):
            parts.append(f"{department} is the primary department from {day}")
        else:
            parts.append(f"{department} is no longer the primary department from {day}")
    return parts


def corrections(changes: dict) -> str:
    """ "first day 1 Mar 2026 → 3 Mar 2026; role member → head"."""
    return "; ".join(
        f"{FIELD_WORDS[name]} {_value_text(name, _old(changes, name))} → "
        f"{_value_text(name, _new(changes, name))}"
        for name in PERIOD_FIELDS
        if name in changes and _old(changes, name) != _new(changes, name)
    )


def feed_sentence(event: str, department: str, changes: dict) -> str:
    """What happened to a doctor's period in `department`, with its dates."""
    if event == PeriodEvent.STARTED:
        text = f"Joined {department} on {day_text(_new(changes, 'joined_on'))}"
        if _new(changes, "left_on"):
            text += f" (last day {day_text(_new(changes, 'left_on'))})"
        holding = _holding(changes, 1)
        return f"{text} {holding}" if holding else text
    if event == PeriodEvent.ENDED:
        return f"Left {department} on {day_text(_new(changes, 'left_on'))}"
    if event == PeriodEvent.CANCELLED:
        first = _date(_old(changes, "joined_on"))
        last = _date(_old(changes, "left_on"))
        period = periods.describe(first, last) if first else ""
        return f"Cancelled the period in {department} {period}".rstrip()
    if event == PeriodEvent.CHANGED:
        day = day_text(_new(changes, "joined_on"))
        parts = _changed_parts(changes, department, day)
        return "; ".join(parts) or f"Changed in {department} from {day}"
    if event == PeriodEvent.CORRECTED:
        return f"Corrected in {department}: {corrections(changes)}"
    return department


def message_phrase(
    event: str | None, changes: dict, *, per: str
) -> tuple[str, str | None]:
    """A phrase for the admin's message, with "{}" where the other side's name
    goes (several changes worded alike share one phrase: "joined Cardiology,
    Neurology on 4 Dec 2026"), and the day it is about. `per` is the side the
    message is about: "doctor" (names are departments) or "department"
    (names are doctors)."""
    if event is None:  # a period deleted with its doctor or department
        return ("removed from {}" if per == "doctor" else "removed {}"), None
    if event == PeriodEvent.STARTED:
        day = day_text(_new(changes, "joined_on"))
        holding = _holding(changes, 1)
        holding = f" {holding}" if holding else ""
        if per == "doctor":
            return f"joined {{}} on {day}{holding}", day
        return f"{{}} joined on {day}{holding}", day
    if event == PeriodEvent.ENDED:
        day = day_text(_new(changes, "left_on"))
        return ("left {} on " if per == "doctor" else "{} left on ") + day, day
    if event == PeriodEvent.CANCELLED:
        first = _date(_old(changes, "joined_on"))
        period = (
            periods.describe(first, _date(_old(changes, "left_on"))) if first else ""
        )
        if per == "doctor":
            return f"period in {{}} {period} cancelled", None
        return f"period of {{}} {period} cancelled", None
    if event == PeriodEvent.CHANGED:
        day = day_text(_new(changes, "joined_on"))
        if per == "doctor":
            parts = _changed_parts(changes, "{}", day)
            return "; ".join(p[:1].lower() + p[1:] for p in parts), day
        parts = []
        if "role" in changes and _old(changes, "role") != _new(changes, "role"):
            parts.append(
                f"{{}} {_value_text('role', _new(changes, 'role'))} from {day} "
                f"(was {_value_text('role', _old(changes, 'role'))})"
            )
        if "is_primary" in changes and bool(_old(changes, "is_primary")) != bool(
            _new(changes, "is_primary")
        ):
            parts.append(
                f"the primary department of {{}} from {day}"
                if _new(changes, "is_primary")
                else f"no longer the primary department of {{}} from {day}"
            )
        return "; ".join(parts), day
    # A correction.
    if per == "doctor":
        return f"corrected in {{}}: {corrections(changes)}", None
    return f"{{}}'s period corrected: {corrections(changes)}", None
