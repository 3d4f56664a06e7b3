"""History rows for the membership road simple-history does not see.

simple-history writes a history row from post_save and post_delete. Django's
`add()` and `set()` on a many-to-many with a through model insert the through
rows with `bulk_create`, which sends neither: without this module a doctor
added to a department from either side would have no history row, and every
point-in-time answer would miss the membership. (`remove()`, `clear()` and
cascades delete row by row and do send post_delete.)
"""

from . import context
from .activity import newest_periods
from .models import Department, Doctor, Membership


def record_added_by_m2m(
    *, instance: Doctor | Department, pk_set: set[int], reverse: bool
) -> None:
    """Write the "+" history rows of the memberships `add()`/`set()` just made."""
    if reverse:  # department.doctors.add(...)
        lookup = {"department": instance, "doctor_id__in": pk_set}
    else:  # doctor.departments.add(...)
        lookup = {"doctor": instance, "department_id__in": pk_set}
    # Only the periods just inserted, not earlier periods of the same pairs.
    added = newest_periods(Membership.objects.filter(**lookup))
    change_set = context.current_change_set()
    history_rows = Membership.history.bulk_history_create(
        added,
        default_user=context.current().actor,
        default_change_reason=change_set.reason[:100] if change_set else "",
        # bulk_history_create sends no pre_create_historical_record: the
        # change-set is set here as that receiver would have set it.
        custom_historical_attrs={"change_set": change_set},
    )
    context.count("membership", len(history_rows))
