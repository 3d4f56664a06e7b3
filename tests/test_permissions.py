"""Who may open which admin page: every page, every role."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils.http import urlencode

from doctors.models import ActivityEvent, ChangeSet, ImportRun, WelcomeEmailFailure
from doctors.roles import CLINIC_STAFF, MANAGERS, ROLE_PERMISSIONS
from tests.factories import (
    DepartmentFactory,
    DoctorFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "no_role", "import_only", "clinic_staff", "manager", "superuser"]
OK, DENIED, LOGIN = 200, 403, "login"
# Another user's import run: it does not exist for an importer (404; the admin's
# change page redirects to the index), only a superuser sees it.
NOT_FOUND, ADMIN_MISSING = 404, 302


def allowed_for(*roles):
    """Expected outcome per role: 200 for `roles`, 403 for other staff."""
    return {
        role: LOGIN if role == "anonymous" else OK if role in roles else DENIED
        for role in ROLES
    }


EVERYONE_STAFF = allowed_for(
    "no_role", "import_only", "clinic_staff", "manager", "superuser"
)
READERS = allowed_for("clinic_staff", "manager", "superuser")
EDITORS = allowed_for("clinic_staff", "superuser")
SUPERUSER = allowed_for("superuser")
MANAGERS_ONLY = allowed_for("manager", "superuser")
IMPORTERS = allowed_for("clinic_staff", "superuser")
EXPORTERS = allowed_for("clinic_staff", "manager", "superuser")
NOBODY = allowed_for()
OTHERS_RUN = {**IMPORTERS, "clinic_staff": NOT_FOUND}
OTHERS_RUN_IN_LOG = {**IMPORTERS, "clinic_staff": ADMIN_MISSING}


def build_objects(owner=None):
    department = DepartmentFactory()
    doctor = DoctorFactory()
    MembershipFactory(doctor=doctor, department=department)
    doctor.first_name = "Changed"
    doctor.save()
    event = ActivityEvent.objects.create(
        source="system", verb="created", target_type="doctor", target_text="x"
    )
    user = UserFactory(username="someone-else")
    runs = {
        (kind, whose): ImportRun.objects.create(
            kind=kind,
            status="succeeded",
            source="admin",
            file_name=f"{kind}.csv",
            user=owner if whose == "own" else user,
        )
        for kind in ["doctors", "departments"]
        for whose in ["own", "other"]
    }
    # Runs with something to undo: one of the clinic staff user's, one of
    # someone else's.
    staff_user = UserFactory._meta.model.objects.get(username="staff-user")
    undoable = {
        owner: ImportRun.objects.create(
            kind="doctors",
            status="succeeded",
            source="admin",
            file_name="doctors.csv",
            user=user_object,
            change_set=ChangeSet.objects.create(source="import"),
        )
        for owner, user_object in [("own", staff_user), ("other", user)]
    }
    return {
        "doctor": doctor,
        "department": department,
        "activityevent": event,
        "own_run": undoable["own"],
        "other_run": undoable["other"],
        "changeset": undoable["own"].change_set,
        "user": user,
        "doctor_run": runs["doctors", "own"],
        "department_run": runs["departments", "own"],
        "other_doctor_run": runs["doctors", "other"],
        "other_department_run": runs["departments", "other"],
        "welcomeemailfailure": WelcomeEmailFailure.objects.create(
            doctor=doctor, reason="550 mailbox unavailable", gave_up=True
        ),
    }


def pages(objects):
    """(url, expectation) for every admin page of the project's models."""
    yield reverse("admin:index"), EVERYONE_STAFF
    for model in ["doctor", "department"]:
        obj = objects[model]
        history_id = obj.history.first().history_id
        yield reverse(f"admin:doctors_{model}_changelist"), READERS
        yield reverse(f"admin:doctors_{model}_add"), EDITORS
        yield reverse(f"admin:doctors_{model}_change", args=[obj.pk]), READERS
        yield reverse(f"admin:doctors_{model}_delete", args=[obj.pk]), SUPERUSER
        yield reverse(f"admin:doctors_{model}_history", args=[obj.pk]), READERS
        yield (
            reverse(f"admin:doctors_{model}_simple_history", args=[obj.pk, history_id]),
            READERS,
        )
        # Reverting changes the record and its memberships: editors only.
        moment = obj.history.first().history_date.isoformat()
        yield (
            reverse(f"admin:doctors_{model}_revert", args=[obj.pk])
            + "?"
            + urlencode({"at": moment}),
            EDITORS,
        )
        run = objects[f"{model}_run"]
        yield reverse(f"admin:doctors_{model}_import"), IMPORTERS
        yield reverse(f"admin:doctors_{model}_import_run", args=[run.pk]), IMPORTERS
        yield (
            reverse(f"admin:doctors_{model}_import_progress", args=[run.pk]),
            IMPORTERS,
        )
        other = objects[f"other_{model}_run"]
        yield reverse(f"admin:doctors_{model}_import_run", args=[other.pk]), OTHERS_RUN
        yield (
            reverse(f"admin:doctors_{model}_import_progress", args=[other.pk]),
            OTHERS_RUN,
        )
        yield reverse(f"admin:doctors_{model}_export"), EXPORTERS
    yield (
        reverse("admin:doctors_department_members_on", args=[objects["department"].pk]),
        READERS,
    )
    yield reverse("admin:doctors_importrun_changelist"), IMPORTERS
    yield (
        reverse("admin:doctors_importrun_change", args=[objects["doctor_run"].pk]),
        IMPORTERS,
    )
    yield (
        reverse(
            "admin:doctors_importrun_change", args=[objects["other_doctor_run"].pk]
        ),
        OTHERS_RUN_IN_LOG,
    )
    yield reverse("admin:doctors_importrun_add"), NOBODY
    # Undo: clinic staff for their own runs, superusers for every run.
    own, other = objects["own_run"], objects["other_run"]
    yield reverse("admin:doctors_importrun_undo", args=[own.pk]), IMPORTERS
    yield reverse("admin:doctors_importrun_undo_progress", args=[own.pk]), IMPORTERS
    yield reverse("admin:doctors_importrun_undo", args=[other.pk]), SUPERUSER
    yield (
        reverse("admin:doctors_importrun_undo_progress", args=[other.pk]),
        SUPERUSER,
    )
    change_set = objects["changeset"]
    yield reverse("admin:doctors_changeset_changelist"), READERS
    yield reverse("admin:doctors_changeset_change", args=[change_set.pk]), READERS
    yield reverse("admin:doctors_changeset_add"), NOBODY
    yield reverse("admin:doctors_changeset_delete", args=[change_set.pk]), NOBODY
    event = objects["activityevent"]
    yield reverse("admin:doctors_activityevent_changelist"), READERS
    yield reverse("admin:doctors_activityevent_add"), NOBODY
    yield reverse("admin:doctors_activityevent_change", args=[event.pk]), READERS
    yield reverse("admin:doctors_activityevent_delete", args=[event.pk]), NOBODY
    failure = objects["welcomeemailfailure"]
    yield reverse("admin:doctors_welcomeemailfailure_changelist"), EDITORS
    yield (
        reverse("admin:doctors_welcomeemailfailure_change", args=[failure.pk]),
        EDITORS,
    )
    yield reverse("admin:doctors_welcomeemailfailure_add"), NOBODY
    yield reverse("admin:doctors_welcomeemailfailure_delete", args=[failure.pk]), NOBODY
    yield reverse("admin:password_change"), EVERYONE_STAFF
    user = objects["user"]
    yield reverse("admin:auth_user_changelist"), SUPERUSER
    yield reverse("admin:auth_user_add"), SUPERUSER
    yield reverse("admin:auth_user_change", args=[user.pk]), SUPERUSER
    yield reverse("admin:auth_user_password_change", args=[user.pk]), SUPERUSER
    yield reverse("admin:auth_user_delete", args=[user.pk]), SUPERUSER
    group = Group.objects.get(name=CLINIC_STAFF)
    yield reverse("admin:dashboard"), MANAGERS_ONLY
    yield reverse("admin:dashboard") + "?period=7", MANAGERS_ONLY
    yield reverse("admin:dashboard_feed_export"), MANAGERS_ONLY
    yield reverse("admin:dashboard_feed_export") + "?period=90", MANAGERS_ONLY
    yield reverse("admin:auth_group_changelist"), SUPERUSER
    yield reverse("admin:auth_group_add"), SUPERUSER
    yield reverse("admin:auth_group_change", args=[group.pk]), SUPERUSER
    # Login attempts and lockouts (django-axes): superusers unlock, nobody else.
    yield reverse("admin:axes_accessattempt_changelist"), SUPERUSER
    yield reverse("admin:axes_accesslog_changelist"), SUPERUSER


@pytest.fixture
def import_only(db):
    """May import doctors and departments, but not change them: may not import."""
    user = UserFactory(username="import-only")
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="doctors",
            codename__in=["import_doctor", "import_department"],
        )
    )
    return user


@pytest.fixture
def users(staff_without_role, import_only, clinic_staff, manager, superuser):
    return {
        "no_role": staff_without_role,
        "import_only": import_only,
        "clinic_staff": clinic_staff,
        "manager": manager,
        "superuser": superuser,
    }


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(client, users, role):
    """Each role gets exactly the pages its job needs, and 403 elsewhere."""
    objects = build_objects(owner=users.get(role))
    if role != "anonymous":
        client.force_login(users[role])
    outcomes = {}
    run_pages = reverse("admin:doctors_importrun_changelist")
    for url, expectation in pages(objects):
        response = client.get(url)
        if response.status_code == 302 and response["Location"].startswith(run_pages):
            # A finished import's result page leads to its one page, the
            # import log's: whoever got here is let in there too.
            response = client.get(response["Location"])
        expected = expectation[role]
        if expected == LOGIN:
            ok = response.status_code == 302 and response["Location"].startswith(
                reverse("admin:login")
            )
        else:
            ok = response.status_code == expected
        outcomes[url] = (response.status_code, expected, ok)
    wrong = {url: o[:2] for url, o in outcomes.items() if not o[2]}
    assert not wrong, f"{role}: (got, expected) {wrong}"


def test_staff_without_role_sees_no_models(client, staff_without_role):
    client.force_login(staff_without_role)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert response.context["app_list"] == []


def test_roles_carry_exactly_the_declared_permissions():
    for name, codes in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=name)
        granted = {
            f"{p.content_type.app_label}.{p.codename}"
            for p in group.permissions.select_related("content_type")
        }
        assert granted == set(codes), name


def test_managers_cannot_change_and_staff_cannot_delete_doctors(
    client, manager, clinic_staff
):
    doctor = DoctorFactory(first_name="Before")
    url = reverse("admin:doctors_doctor_change", args=[doctor.pk])
    client.force_login(manager)
    response = client.post(url, {"first_name": "After"})
    assert response.status_code == 403
    client.force_login(clinic_staff)
    response = client.post(
        reverse("admin:doctors_doctor_delete", args=[doctor.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    doctor.refresh_from_db()
    assert doctor.first_name == "Before"


def test_group_names_are_the_documented_ones():
    assert set(Group.objects.values_list("name", flat=True)) >= {CLINIC_STAFF, MANAGERS}
