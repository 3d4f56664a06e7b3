"""Sentences telling an admin user what a save did to department memberships.

Built from the changes the signal receivers collected during the request, so
every road (either page, inline or not, the member list's actions) reads the
same, and a save that changed no membership says nothing. Each change says
what happened to a period and on which day (period_words): "Dr Jane Roe:
left Oncology on 3 Dec 2026; head of Cardiology from 4 Dec 2026 (was
member)." Changes worded alike share one phrase: "Cardiology: Dr Ann Lee, Dr
Cy Twombly joined on 4 Dec 2026."
"""

from collections import defaultdict

from . import period_words
from .activity import MembershipChange
from .periods import PeriodEvent


def _join(names: list[str]) -> str:
    return ", ".join(dict.fromkeys(names))


def sentence(subject: str, changes: list[MembershipChange], *, per: str) -> str:
    """e.g. "Dr Jane Roe: joined Cardiology, Neurology on 4 Dec 2026; left
    Oncology on 3 Dec 2026." for `per="doctor"`."""
    other_side = "department_text" if per == "doctor" else "doctor_text"
    phrases: dict[str, list[str]] = {}
    for change in changes:
        phrase, _ = period_words.message_phrase(
            change.period_event, change.changes, per=per
        )
        if phrase:
            phrases.setdefault(phrase, []).append(getattr(change, other_side))
    parts = [phrase.replace("{}", _join(names)) for phrase, names in phrases.items()]
    return f"{subject}: {'; '.join(parts)}."


def _primary_flag(change: MembershipChange, index: int) -> bool | None:
    pair = change.changes.get("is_primary")
    return bool(pair[index]) if pair else None


def primary_moves(
    changes: list[MembershipChange],
) -> tuple[list[str], list[MembershipChange]]:
    """A sentence for each doctor whose primary department moved from one
    department to another on one day ("Dr X's primary department is
    Cardiology from 4 Dec 2026 (was Neurology)."), and the changes left to
    tell."""
    changed = [c for c in changes if c.period_event == PeriodEvent.CHANGED]
    gained = {
        c.doctor_id: c
        for c in changed
        if _primary_flag(c, 1) and _primary_flag(c, 0) is False
    }
    lost = {
        c.doctor_id: c
        for c in changed
        if _primary_flag(c, 0) and _primary_flag(c, 1) is False
    }
    moved = [doctor for doctor in gained if doctor in lost]
    if not moved:
        return [], changes
    told = {id(gained[doctor]) for doctor in moved} | {
        id(lost[doctor]) for doctor in moved
    }
    rest = []
    for change in changes:
        if id(change) not in told:
            rest.append(change)
            continue
        # The move is told; a role that changed on the same day still is.
        role = change.changes.get("role")
        if role and role[0] != role[1]:
            others = {k: v for k, v in change.changes.items() if k != "is_primary"}
            rest.append(
                MembershipChange(
                    verb=change.verb,
                    doctor_id=change.doctor_id,
                    doctor_text=change.doctor_text,
                    department_id=change.department_id,
                    department_text=change.department_text,
                    changes=others,
                )
            )
    moves = []
    for doctor in moved:
        day = period_words.day_text(gained[doctor].changes["joined_on"][1])
        moves.append(
            f"{gained[doctor].doctor_text}'s primary department is "
            f"{gained[doctor].department_text} from {day} "
            f"(was {lost[doctor].department_text})."
        )
    return moves, rest


def sentences(changes: list[MembershipChange], *, per: str) -> list[str]:
    """One sentence per changed doctor (`per="doctor"`) or department; seen
    from the departments, a primary department that moved is one sentence
    naming both (primary_moves)."""
    moves: list[str] = []
    if per == "department":
        moves, changes = primary_moves(changes)
    grouped: dict[int, list[MembershipChange]] = defaultdict(list)
    names: dict[int, str] = {}
    for change in changes:
        key = getattr(change, f"{per}_id")
        grouped[key].append(change)
        names[key] = getattr(change, f"{per}_text")
    return moves + [
        sentence(names[key], group, per=per) for key, group in grouped.items()
    ]
