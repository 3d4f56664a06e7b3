"""The staff roles and the permissions each one carries.

Kept in one place so that the data migration, the demo data and the permission
tests all agree on what "Clinic staff" and "Managers" may do.
"""

CLINIC_STAFF = "Clinic staff"
MANAGERS = "Managers"

ROLE_PERMISSIONS: dict[str, list[str]] = {
    CLINIC_STAFF: [
        "doctors.view_doctor",
        "doctors.add_doctor",
        "doctors.change_doctor",
        "doctors.import_doctor",
        "doctors.export_doctor",
        "doctors.view_department",
        "doctors.add_department",
        "doctors.change_department",
        "doctors.import_department",
        "doctors.export_department",
        "doctors.view_membership",
        "doctors.add_membership",
        "doctors.change_membership",
        # Taking a doctor out of a department deletes the membership row.
        "doctors.delete_membership",
        "doctors.view_activityevent",
        # Their own import runs only; superusers undo any run.
        "doctors.undo_importrun",
        # Welcome emails that could not be sent, to correct and send again.
        "doctors.view_welcomeemailfailure",
    ],
    MANAGERS: [
        "doctors.view_doctor",
        "doctors.view_department",
        "doctors.view_membership",
        "doctors.view_activityevent",
        "doctors.export_doctor",
        "doctors.export_department",
        "doctors.view_dashboard",
    ],
}
