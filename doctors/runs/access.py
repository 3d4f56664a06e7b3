"""Who may see a run, and who may act on it: the one rule for imports,
undos, redos and reverts. Views and commands ask here; none decides itself.

- see: a user sees their own runs; who may view the import log
  (doctors.view_importrun, every superuser) sees every run. A run's page
  quotes values from its file that may not be in the database yet;
- import: the import permission of the model and its change permission (an
  import rewrites existing rows); membership periods: importing doctors, and
  adding and changing memberships;
- confirm a previewed import: only the user who uploaded it (they saw the
  preview it imports);
- undo or redo an import: doctors.undo_importrun, for one's own runs;
  superusers every run;
- revert a doctor or department: change permission on it and on memberships
  (a revert restores both).
"""

from django.db.models import Model, QuerySet

from ..models import ImportRun, Run

REVERT_PERMISSIONS = (
    "doctors.add_membership",
    "doctors.change_membership",
    "doctors.delete_membership",
)


def may_import(user, model: type[Model]) -> bool:
    opts = model._meta
    return user.has_perm(f"{opts.app_label}.import_{opts.model_name}") and (
        user.has_perm(f"{opts.app_label}.change_{opts.model_name}")
    )


def may_import_memberships(user) -> bool:
    """Membership periods come with the doctors: who may import doctors and
    add and change memberships may import a memberships file."""
    from ..models import Doctor

    return may_import(user, Doctor) and user.has_perms(
        ("doctors.add_membership", "doctors.change_membership")
    )


def may_import_anything(user) -> bool:
    """Whether `user` may import doctors or departments (and so open the log)."""
    from ..models import Department, Doctor

    return any(may_import(user, model) for model in (Doctor, Department))


def sees_every_run(user) -> bool:
    return user.has_perm("doctors.view_importrun")


def visible_runs(user) -> QuerySet[ImportRun]:
    """The import runs `user` may open."""
    runs = ImportRun.objects.all()
    return runs if sees_every_run(user) else runs.filter(user_id=user.pk)


def may_confirm(user, run: ImportRun) -> bool:
    return run.user_id is not None and run.user_id == user.pk


def may_undo(user, run: ImportRun) -> bool:
    """Whether `user` may undo (or redo) import `run`."""
    if not user.has_perm("doctors.undo_importrun"):
        return False
    return user.is_superuser or (run.user_id is not None and run.user_id == user.pk)


def may_revert(user, obj) -> bool:
    """Whether `user` may revert doctor or department `obj` (fields and
    memberships)."""
    opts = obj._meta
    return user.has_perm(
        f"{opts.app_label}.change_{opts.model_name}"
    ) and user.has_perms(REVERT_PERMISSIONS)


def owns_attempt(user, attempt: Run) -> bool:
    """An undo, redo or revert page is confirmed only by whom it was shown to."""
    return attempt.user_id is not None and attempt.user_id == user.pk
