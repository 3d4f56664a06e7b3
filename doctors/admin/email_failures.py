"""Welcome emails that could not be sent: who, why, and what happens next.

The worker records them (doctors.tasks); staff read them here, correct the
doctor's address on the doctor's page and send the email again.
"""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from .. import tasks
from ..models import WelcomeEmailFailure
from .readonly import ReadOnlyAdminMixin


@admin.register(WelcomeEmailFailure)
class WelcomeEmailFailureAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "doctor_link",
        "email",
        "attempts",
        "reason",
        "failed_at",
        "retry_at",
        "gave_up",
    ]
    list_filter = ["gave_up"]
    search_fields = ["doctor__last_name", "doctor__license_number", "doctor__email"]
    # The doctor's name, email and link on every row: one join, not a query a row.
    list_select_related = ["doctor"]
    ordering = ["-failed_at", "-id"]
    show_full_result_count = False
    actions = ["send_again"]

    @admin.display(description="doctor", ordering="doctor__last_name")
    def doctor_link(self, failure: WelcomeEmailFailure):
        doctor = failure.doctor
        url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
        return format_html(
            '<a href="{}">{}</a> ({})', url, doctor.full_name, doctor.license_number
        )

    @admin.display(description="email", ordering="doctor__email")
    def email(self, failure: WelcomeEmailFailure) -> str:
        return failure.doctor.email

    def has_send_again_permission(self, request) -> bool:
        # Sending to a corrected address is part of keeping doctors up to date.
        return request.user.has_perm("doctors.change_doctor")

    @admin.action(
        description="Send the welcome email again (those given up on)",
        permissions=["send_again"],
    )
    def send_again(self, request, queryset):
        queued = tasks.resend_given_up(queryset)
        if queued:
            self.message_user(
                request,
                f"Queued {queued} welcome email(s) again, each with a fresh set "
                "of attempts.",
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request,
                "None of the selected emails was given up on; the worker is still "
                "trying them.",
                messages.WARNING,
            )
