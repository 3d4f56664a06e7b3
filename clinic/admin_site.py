from django.contrib import admin


class ClinicAdminSite(admin.AdminSite):
    site_header = "Clinic admin"
    site_title = "Clinic admin"
    index_title = "Doctors, departments and memberships"
