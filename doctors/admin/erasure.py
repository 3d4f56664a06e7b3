"""The doctor list's "Erase personal data" action, with its confirmation page.

Only users with the permission of its own (doctors.erase_doctor; superusers
have every permission) see it. The confirmation page lists the doctors and
asks why; doctors.ledger.erasure does the work, one change-set per doctor.
"""

from django.contrib import messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.translation import ngettext

from ..ledger import erasure
from ..models import ActivityEvent, Erasure

# Erasures confirmed on one page at most: each is its own change-set.
MAX_AT_ONCE = 50


class ErasureAdminMixin:
    """Adds the erase_personal_data action to a doctor admin."""

    def has_erase_permission(self, request) -> bool:
        return request.user.has_perm("doctors.erase_doctor")

    def erase_personal_data(self, request, queryset):
        doctors = list(queryset.order_by("pk")[: MAX_AT_ONCE + 1])
        if len(doctors) > MAX_AT_ONCE:
            self.message_user(
                request,
                f"Select at most {MAX_AT_ONCE} doctors to erase at once.",
                messages.ERROR,
            )
            return None
        erased_ids = set(
            Erasure.objects.filter(doctor_id__in=[d.pk for d in doctors]).values_list(
                "doctor_id", flat=True
            )
        )
        reason = " ".join(request.POST.get("erasure_reason", "").split())
        error = ""
        if request.POST.get("post") == "yes":
            if reason:
                return self._erase(request, doctors, reason)
            error = "Give the reason for the erasure."
        context = {
            **self.admin_site.each_context(request),
            "title": "Erase personal data",
            "opts": self.model._meta,
            "doctors": [(d, d.pk in erased_ids) for d in doctors],
            "queryset": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "reason": reason,
            "error": error,
            "media": self.media,
        }
        return TemplateResponse(
            request, "admin/doctors/erase_confirmation.html", context
        )

    erase_personal_data.short_description = "Erase personal data of selected doctors"
    erase_personal_data.allowed_permissions = ("erase",)

    def _erase(self, request, doctors, reason: str):
        done, refused = [], []
        for doctor in doctors:
            try:
                done.append(
                    erasure.erase_doctor(
                        doctor,
                        reason=reason,
                        user=request.user,
                        source=ActivityEvent.Source.ADMIN,
                    )
                )
            except erasure.ErasureError as error:
                refused.append(str(error))
        if done:
            labels = ", ".join(result.label for result in done)
            self.message_user(
                request,
                ngettext(
                    "Personal data erased: %(labels)s.",
                    "Personal data of %(count)d doctors erased: %(labels)s.",
                    len(done),
                )
                % {"count": len(done), "labels": labels},
                messages.SUCCESS,
            )
        for message in refused:
            self.message_user(request, message, messages.ERROR)
        return None
