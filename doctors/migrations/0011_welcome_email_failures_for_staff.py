from django.db import migrations


def grant_view_to_clinic_staff(apps, schema_editor):
    """Clinic staff read the welcome emails that could not be sent."""
    from doctors.roles import CLINIC_STAFF, grant_in_migration

    grant_in_migration(apps, "view_welcomeemailfailure", CLINIC_STAFF)


def revoke_view(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name="Clinic staff"):
        group.permissions.remove(
            *Permission.objects.filter(
                content_type__app_label="doctors",
                codename="view_welcomeemailfailure",
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("doctors", "0010_size_search_indexes"),
    ]

    operations = [
        migrations.RunPython(grant_view_to_clinic_staff, revoke_view),
    ]
