from django.apps import AppConfig


class DoctorsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "doctors"
    verbose_name = "Clinic"

    def ready(self):
        # Receivers connect with dispatch_uids, so importing again adds nothing.
        # The bulk paths' `__any_of` lookup (doctors.bulk.AnyOf).
        from . import (
            bulk,  # noqa: F401
            signals,  # noqa: F401
        )
