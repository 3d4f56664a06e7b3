from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant_view_to_clinic_staff(apps, schema_editor):
    """Clinic staff read the welcome emails that could not be sent."""
    app_config = apps.get_app_config("doctors")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(
        content_type__app_label="doctors", codename="view_welcomeemailfailure"
    )
    for group in Group.objects.filter(name="Clinic staff"):
        group.permissions.add(permission)


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
