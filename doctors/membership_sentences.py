"""Sentences telling an admin user what a save did to department memberships.

Built from the changes the signal receivers collected during the request, so
every road (either page, inline or not) reads the same, and a save that changed
no membership says nothing.
"""

import dataclasses
from collections import defaultdict

from .activity import MembershipChange, Verb


def _join(names: list[str]) -> str:
    return ", ".join(dict.fromkeys(names))


def _became(change: MembershipChange, field: str, value) -> bool:
    old_new = change.changes.get(field)
    return bool(old_new) and old_new[1] == value and old_new[0] != value


def _lost(change: MembershipChange, field: str, value) -> bool:
    old_new = change.changes.get(field)
    return (
        change.verb == Verb.MEMBERSHIP_CHANGED
        and bool(old_new)
        and old_new[0] == value
        and old_new[1] != value
    )


# How each kind of change reads, seen from the doctor's or the department's page.
PHRASES = {
    "doctor": {
        "added": "added to {}",
        "removed": "removed from {}",
        "head": "now head of {}",
        "not_head": "no longer head of {}",
        "primary": "primary department now {}",
        "not_primary": "{} no longer primary",
        "joined_on": "joining date changed in {}",
    },
    "department": {
        "added": "added {}",
        "removed": "removed {}",
        "head": "{} is now head",
        "not_head": "{} is no longer head",
        "primary": "now the primary department of {}",
        "not_primary": "no longer the primary department of {}",
        "joined_on": "joining date changed for {}",
    },
}


def sentence(subject: str, changes: list[MembershipChange], *, per: str) -> str:
    """e.g. "Dr Jane Roe: added to Cardiology, Neurology; removed from Oncology;
    now head of Cardiology." for `per="doctor"`."""
    other_side = "department_text" if per == "doctor" else "doctor_text"
    kept = [c for c in changes if c.verb != Verb.MEMBERSHIP_REMOVED]
    updated = [c for c in kept if c.verb == Verb.MEMBERSHIP_CHANGED]
    kinds = {
        "added": [c for c in changes if c.verb == Verb.MEMBERSHIP_ADDED],
        "removed": [c for c in changes if c.verb == Verb.MEMBERSHIP_REMOVED],
        "head": [c for c in kept if _became(c, "role", "head")],
        "not_head": [c for c in kept if _lost(c, "role", "head")],
        "primary": [c for c in kept if _became(c, "is_primary", True)],
        "not_primary": [c for c in kept if _lost(c, "is_primary", True)],
        "joined_on": [c for c in updated if "joined_on" in c.changes],
    }
    if per == "doctor" and kinds["primary"]:
        # "primary department now X" already says the old one is not.
        kinds["not_primary"] = []
    parts = [
        PHRASES[per][kind].format(_join([getattr(c, other_side) for c in found]))
        for kind, found in kinds.items()
        if found
    ]
    return f"{subject}: {'; '.join(parts)}."


def primary_moves(
    changes: list[MembershipChange],
) -> tuple[list[str], list[MembershipChange]]:
    """A sentence for each doctor whose primary department moved from one
    department to another ("Dr X's primary department is now Cardiology (was
    Neurology)."), and the changes left to tell without those flags."""
    gained = {c.doctor_id: c for c in changes if _became(c, "is_primary", True)}
    lost = {c.doctor_id: c for c in changes if _lost(c, "is_primary", True)}
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
        others = {k: v for k, v in change.changes.items() if k != "is_primary"}
        if others or change.verb != Verb.MEMBERSHIP_CHANGED:
            rest.append(dataclasses.replace(change, changes=others))
    moves = [
        f"{gained[doctor].doctor_text}'s primary department is now "
        f"{gained[doctor].department_text} (was {lost[doctor].department_text})."
        for doctor in moved
    ]
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
