"""Database constraint violations, told to staff as messages rather than 500s."""

from django.contrib import messages
from django.db import IntegrityError
from django.http import HttpResponseRedirect

from ..integrity import explain_integrity_error
from .membership_messages import forget_membership_changes

__all__ = ["ConstraintSafeAdminMixin", "explain_integrity_error"]


class ConstraintSafeAdminMixin:
    """Turns a constraint violation that slipped past validation into a message.

    Form validation catches duplicates and second heads, but two staff saving at
    the same moment can both pass it; the database then refuses the second save,
    and the user should read why rather than meet a server error.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except IntegrityError as error:
            forget_membership_changes()
            self.message_user(
                request,
                f"Nothing was saved: {explain_integrity_error(error)} "
                "Someone may have saved a change at the same time; please review.",
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())
