"""Background work, run by the task worker (`manage.py db_worker`).

Tasks are enqueued inside the transaction that makes the change: the task row
commits or rolls back with it, so an email goes out only for a committed doctor,
and still goes out if the web process dies right after the commit.

Welcome emails are sent one by one: a doctor whose email cannot be sent (a
refused address, the mail server down) never stops the others. Each failure is
recorded (WelcomeEmailFailure: doctor, reason, attempts) and, unless it is
permanent, tried again by a later task, up to WELCOME_EMAIL_MAX_ATTEMPTS times
with a delay that doubles each time. A task that gives up on any doctor ends
as failed, which /healthz counts.
"""

import datetime
import logging
import smtplib
import unicodedata

from django.conf import settings
from django.core.mail import EmailMessage, mailers
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.tasks import task
from django.utils import timezone

from .models import Doctor, Membership, WelcomeEmailFailure

logger = logging.getLogger(__name__)

# Bulk imports queue one task per this many new doctors, not one per doctor.
WELCOME_BATCH_SIZE = 500
# Retries yield to first attempts waiting in the queue.
RETRY_PRIORITY = -10
REASON_MAX_LENGTH = WelcomeEmailFailure._meta.get_field("reason").max_length


class WelcomeEmailsFailed(Exception):
    """Some welcome emails were not sent and will not be tried again."""


def one_line(text: str) -> str:
    """`text` fit for a mail header: whitespace runs (line breaks included) become
    one space, other control characters go."""
    collapsed = " ".join(text.split())
    return "".join(ch for ch in collapsed if unicodedata.category(ch) != "Cc")


def welcome_email_text(doctor: Doctor) -> tuple[str, str]:
    memberships = list(doctor.memberships.all())
    if memberships:
        departments = ", ".join(one_line(m.department.name) for m in memberships)
        where = f"You have been added to: {departments}."
    else:
        where = "You have not been added to a department yet."
    name = one_line(doctor.full_name)
    subject = f"Welcome to the clinic, {name}"
    body = (
        f"Dear {name},\n\n"
        f"Welcome to the clinic. {where}\n\n"
        f"Your license number on file is {one_line(doctor.license_number)}.\n"
    )
    return subject, body


def is_permanent(error: Exception) -> bool:
    """Would sending again fail the same way? A refused header or address does;
    a mail server that is down or busy may not."""
    if isinstance(error, ValueError):  # Django's BadHeaderError, a bad address
        return True
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    return False


def failure_reason(error: Exception) -> str:
    reason = one_line(f"{type(error).__name__}: {error}")
    if len(reason) > REASON_MAX_LENGTH:
        reason = reason[: REASON_MAX_LENGTH - 1] + "…"
    return reason


def retry_delay(attempt: int) -> datetime.timedelta:
    """The wait before attempt `attempt + 1`: doubling from the first retry."""
    return datetime.timedelta(
        seconds=settings.WELCOME_EMAIL_RETRY_SECONDS * 2 ** (attempt - 1)
    )


# smtplib's errors about one message; any other OSError (smtplib's errors are
# OSErrors too) means the connection to the mail server is gone.
MESSAGE_ERRORS = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
)


def send_each(doctors: list[Doctor]) -> tuple[list[int], dict[int, Exception]]:
    """Send each doctor their email on one mail connection; (sent, failed).

    An email that fails is recorded and the next one is sent. If the mail
    server cannot be reached, or the connection drops, the rest wait for the
    retry instead of each waiting for a timeout of its own.
    """
    sent: list[int] = []
    failed: dict[int, Exception] = {}
    mailer = mailers.default
    try:
        mailer.open()
    except Exception as error:
        return sent, dict.fromkeys((doctor.pk for doctor in doctors), error)
    try:
        for index, doctor in enumerate(doctors):
            try:
                subject, body = welcome_email_text(doctor)
                message = EmailMessage(
                    subject, body, settings.DEFAULT_FROM_EMAIL, [doctor.email]
                )
                mailer.send_messages([message])
            except OSError as error:
                if isinstance(error, MESSAGE_ERRORS):
                    failed[doctor.pk] = error
                    continue
                failed.update(dict.fromkeys((d.pk for d in doctors[index:]), error))
                break
            except Exception as error:
                failed[doctor.pk] = error
            else:
                sent.append(doctor.pk)
    finally:
        try:
            mailer.close()
        except Exception:
            logger.warning("Closing the mail connection failed", exc_info=True)
    return sent, failed


def record_outcome(
    sent: list[int], failed: dict[int, Exception], attempt: int
) -> list[int]:
    """Store the failures, queue the retries; return the doctors given up on."""
    max_attempts = settings.WELCOME_EMAIL_MAX_ATTEMPTS
    now = timezone.now()
    retry_at = now + retry_delay(attempt)
    retry = [
        pk
        for pk, error in failed.items()
        if attempt < max_attempts and not is_permanent(error)
    ]
    given_up = set(failed) - set(retry)
    gave_up = [pk for pk in failed if pk in given_up]
    with transaction.atomic():
        if sent:  # a retry, or a resend after a fix, got through
            WelcomeEmailFailure.objects.filter(doctor_id__in=sent).delete()
        if failed:
            WelcomeEmailFailure.objects.bulk_create(
                [
                    WelcomeEmailFailure(
                        doctor_id=pk,
                        attempts=attempt,
                        reason=failure_reason(error),
                        failed_at=now,
                        retry_at=None if pk in given_up else retry_at,
                        gave_up=pk in given_up,
                    )
                    for pk, error in failed.items()
                ],
                update_conflicts=True,
                unique_fields=["doctor"],
                update_fields=[
                    "attempts",
                    "reason",
                    "failed_at",
                    "retry_at",
                    "gave_up",
                ],
            )
        if retry:
            send_welcome_emails.using(
                run_after=retry_at, priority=RETRY_PRIORITY
            ).enqueue(retry, attempt=attempt + 1)
    for pk, error in failed.items():
        logger.warning(
            "Welcome email to doctor #%s not sent (attempt %d of %d): %s; %s",
            pk,
            attempt,
            max_attempts,
            failure_reason(error),
            "giving up"
            if pk in given_up
            else f"next attempt at {retry_at.isoformat(timespec='seconds')}",
        )
    return gave_up


@task()
def send_welcome_emails(doctor_ids: list[int], attempt: int = 1) -> int:
    """Send the welcome email to each doctor that still exists; return how many.

    Raises WelcomeEmailsFailed, after the others are sent, when any doctor's
    email is given up on.
    """
    memberships = Membership.objects.select_related("department").order_by(
        "-is_primary", "department__name"
    )
    doctors = list(
        Doctor.objects.filter(pk__in=doctor_ids).prefetch_related(
            Prefetch("memberships", queryset=memberships)
        )
    )
    sent, failed = send_each(doctors)
    gave_up = record_outcome(sent, failed, attempt)
    logger.info("Sent %d welcome email(s)", len(sent))
    if gave_up:
        named = ", ".join(f"#{pk}" for pk in gave_up[:20])
        more = f" and {len(gave_up) - 20} more" if len(gave_up) > 20 else ""
        raise WelcomeEmailsFailed(
            f"{len(gave_up)} welcome email(s) not sent for good (doctors {named}"
            f"{more}); the reasons are in the welcome email failures"
        )
    return len(sent)


def queue_welcome_emails(doctor_ids: list[int]) -> None:
    """Queue welcome emails for new doctors, in batches, in this transaction."""
    for start in range(0, len(doctor_ids), WELCOME_BATCH_SIZE):
        send_welcome_emails.enqueue(doctor_ids[start : start + WELCOME_BATCH_SIZE])


def resend_given_up(failures: QuerySet[WelcomeEmailFailure]) -> int:
    """Queue again, with a fresh set of attempts, the welcome emails given up on
    among `failures` (after, say, a wrong address was corrected); return how many."""
    with transaction.atomic():
        given_up = failures.filter(gave_up=True)
        doctor_ids = list(given_up.values_list("doctor_id", flat=True))
        given_up.update(gave_up=False, attempts=0, retry_at=None)
        queue_welcome_emails(doctor_ids)
    return len(doctor_ids)
