"""The message after a save: what it did to department memberships, one
sentence per doctor or department."""

from django.contrib import messages

from .. import context, membership_sentences


def report_membership_changes(request, model_admin, *, per: str) -> None:
    """One success message per doctor or department (`per`) for the membership
    changes this request made (the signal receivers collected them)."""
    collected = context.current().membership_changes
    for sentence in membership_sentences.sentences(collected, per=per):
        model_admin.message_user(request, sentence, messages.SUCCESS)
    collected.clear()


def forget_membership_changes() -> None:
    """Changes collected by a save that was rolled back were never made."""
    context.current().membership_changes.clear()


class MembershipMessagesMixin:
    """After a save, one message per changed object saying what happened to its
    memberships, from what the signal receivers collected in this request."""

    membership_message_per: str

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        report_membership_changes(request, self, per=self.membership_message_per)
