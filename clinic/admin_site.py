from django.contrib import admin
from django.urls import path


class ClinicAdminSite(admin.AdminSite):
    site_header = "Clinic admin"
    site_title = "Clinic admin"
    index_title = "Doctors, departments and memberships"
    # The admin is the whole product: no public site to link to.
    site_url = None
    # Nothing reads as a dash, the same everywhere.
    empty_value_display = "—"

    def get_urls(self):
        # The manager dashboard lives inside the admin: its header, navigation,
        # login redirect and styles.
        return [
            path(
                "dashboard/",
                self.admin_view(self.dashboard_view),
                name="dashboard",
            ),
            path(
                "dashboard/feed.csv",
                self.admin_view(self.feed_export_view),
                name="dashboard_feed_export",
            ),
            *super().get_urls(),
        ]

    def autocomplete_view(self, request):
        # Doctors are labelled with their license and primary department.
        from doctors.admin.autocomplete import ClinicAutocompleteJsonView

        return ClinicAutocompleteJsonView.as_view(admin_site=self)(request)

    def dashboard_view(self, request):
        from doctors.dashboard import views

        return views.dashboard(request, self)

    def feed_export_view(self, request):
        from doctors.dashboard import views

        return views.feed_export(request, self)
