"""Ending periods the admin already holds (rows read with their doctor and
department, so the feed names them without a query each).

The rule is MembershipQuerySet.end's: the period ends on `last_day`
(yesterday when not given: no longer a member today), and a period that starts
after that day never happened and is cancelled. A period already ended by
then is left as it is.
"""

import datetime

from .. import periods
from ..models import Membership
from ..periods import PeriodEvent


def end_period(
    membership: Membership, last_day: datetime.date | None = None
) -> PeriodEvent | None:
    """End or cancel one period; what was done (None: already ended)."""
    last_day = last_day or periods.yesterday()
    if membership.left_on is not None and membership.left_on <= last_day:
        return None
    if membership.joined_on > last_day:
        membership.cancel()
        return PeriodEvent.CANCELLED
    membership.left_on = last_day
    membership.period_event = PeriodEvent.ENDED
    membership.save(update_fields=["left_on"])
    return PeriodEvent.ENDED
