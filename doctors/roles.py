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


def grant_in_migration(apps, codename: str, group_name: str) -> None:
    """Give `group_name` the doctors permission `codename`, from a data migration
    that runs before Django's post-migrate signal has created the permissions of
    a model added in the same migrate run."""
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("doctors")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(
        content_type__app_label="doctors", codename=codename
    )
    for group in Group.objects.filter(name=group_name):
        group.permissions.add(permission)
