"""Background work, run by the task worker (`manage.py db_worker`).

Tasks are enqueued inside the transaction that makes the change: the task row
commits or rolls back with it, so an email goes out only for a committed doctor,
and still goes out if the web process dies right after the commit.
"""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Prefetch
from django.tasks import task

from .models import Doctor, Membership

logger = logging.getLogger(__name__)

# Bulk imports queue one task per this many new doctors, not one per doctor.
WELCOME_BATCH_SIZE = 500


def welcome_email_text(doctor: Doctor) -> tuple[str, str]:
    memberships = list(doctor.memberships.all())
    if memberships:
        departments = ", ".join(m.department.name for m in memberships)
        where = f"You have been added to: {departments}."
    else:
        where = "You have not been added to a department yet."
    subject = f"Welcome to the clinic, {doctor.full_name}"
    body = (
        f"Dear {doctor.full_name},\n\n"
        f"Welcome to the clinic. {where}\n\n"
        f"Your license number on file is {doctor.license_number}.\n"
    )
    return subject, body


@task()
def send_welcome_emails(doctor_ids: list[int]) -> int:
    """Send the welcome email to each doctor that still exists; return how many."""
    memberships = Membership.objects.select_related("department").order_by(
        "-is_primary", "department__name"
    )
    doctors = Doctor.objects.filter(pk__in=doctor_ids).prefetch_related(
        Prefetch("memberships", queryset=memberships)
    )
    sent = 0
    for doctor in doctors:
        subject, body = welcome_email_text(doctor)
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [doctor.email])
        sent += 1
    logger.info("Sent %d welcome email(s)", sent)
    return sent


def queue_welcome_emails(doctor_ids: list[int]) -> None:
    """Queue welcome emails for new doctors, in batches, in this transaction."""
    for start in range(0, len(doctor_ids), WELCOME_BATCH_SIZE):
        send_welcome_emails.enqueue(doctor_ids[start : start + WELCOME_BATCH_SIZE])
