from django.contrib.admin.apps import AdminConfig


class ClinicAdminConfig(AdminConfig):
    """The admin, with the clinic's own site as `admin.site`."""

    default_site = "clinic.admin_site.ClinicAdminSite"
