"""The life of a revert (a doctor or a department back to how it stood at a
moment), in one place.

    preview -> a status row (Run, "previewed") records the digest of the plan
               the user is shown;
    confirm -> claimed once (previewed -> running): a second submission of the
               same page does nothing and is told what became of the first;
               the revert is applied only if the plan still has the digest
               shown (doctors.timetravel.revert.apply_revert), in the
               request's change-set; its outcome goes on the status row.

Reverts always run here: one record and its memberships.
"""

import datetime
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.utils import timezone

from .. import context
from ..integrity import explain_integrity_error
from ..models import Department, Doctor, Run
from ..timetravel import revert
from . import access
from .status import OUT_OF_DATE, attempt_shown, claim, describe, finish, moment_text


@dataclass(frozen=True)
class RevertOutcome:
    """What became of a confirm: `plan` when the revert was done; otherwise
    `refusal` says why nothing was done."""

    attempt: Run | None
    plan: revert.RevertPlan | None = None
    refusal: str = ""
    # The page was confirmed before: `refusal` says what became of it.
    submitted_again: bool = False


def title(obj: Doctor | Department, moment: datetime.datetime) -> str:
    return f"revert of {obj} to {moment_text(moment)}"


def prepare(
    obj: Doctor | Department, moment: datetime.datetime, user
) -> tuple[Run, revert.RevertPlan]:
    """What reverting `obj` to `moment` would change, and the status row a
    confirm of this preview claims. RevertError when it cannot be done."""
    if not access.may_revert(user, obj):
        raise PermissionDenied
    plan = revert.plan_revert(obj, moment)
    attempt = Run.objects.create(
        kind=Run.Kind.REVERT,
        title=title(obj, moment)[:255],
        user=user,
        subject_type=obj._meta.model_name,
        subject_id=obj.pk,
        moment=moment,
        digest=plan.digest,
    )
    return attempt, plan


def confirm(
    obj: Doctor | Department, user, *, attempt_id: int | None, skip_conflicts: bool
) -> RevertOutcome:
    """Revert `obj` as previewed on the page of status row `attempt_id`: once,
    however often and however concurrently that page is submitted."""
    if not access.may_revert(user, obj):
        raise PermissionDenied
    attempt = attempt_shown(
        user,
        attempt_id,
        kind=Run.Kind.REVERT,
        subject_type=obj._meta.model_name,
        subject_id=obj.pk,
    )
    if attempt is None:
        return RevertOutcome(None, refusal=OUT_OF_DATE)
    claimed = claim(
        Run.objects.filter(pk=attempt.pk, status=Run.Status.PREVIEWED),
        status=Run.Status.RUNNING,
        claimed_at=timezone.now(),
        untouched_only=skip_conflicts,
        reason=context.current().reason[:255],
    )
    attempt.refresh_from_db()
    if not claimed:
        return RevertOutcome(attempt, refusal=describe(attempt), submitted_again=True)
    try:
        plan = revert.apply_revert(
            obj,
            attempt.moment,
            expected_digest=attempt.digest,
            skip_conflicts=skip_conflicts,
        )
    except revert.RevertError as error:
        finish(attempt, Run.Status.REFUSED, str(error), shown=True)
        return RevertOutcome(attempt, refusal=str(error))
    except IntegrityError as error:
        message = explain_integrity_error(error)
        finish(attempt, Run.Status.FAILED, message, shown=True)
        return RevertOutcome(attempt, refusal=message)
    finish(
        attempt,
        Run.Status.SUCCEEDED,
        summary(obj, plan),
        change_set=context.current().change_set,
        shown=True,
    )
    return RevertOutcome(attempt, plan=plan)


def summary(obj: Doctor | Department, plan: revert.RevertPlan) -> str:
    restored = [c for c in plan.fields if not c.conflict]
    steps = [s for s in plan.memberships if not s.conflict]
    return (
        f"{obj} reverted to {moment_text(plan.moment)}: "
        f"{len(restored)} field(s), {len(steps)} membership change(s)."
    )
