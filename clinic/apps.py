from django.contrib.admin.apps import AdminConfig


class ClinicAdminConfig(AdminConfig):
    """The admin, with the clinic's own site as `admin.site`."""

    default_site = "clinic.admin_site.ClinicAdminSite"

    def ready(self):
        super().ready()
        # Registers the project's deployment checks (`check --deploy`).
        from clinic import security  # noqa: F401
