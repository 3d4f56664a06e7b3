"""Signal receivers: thin, each with a sender and a dispatch_uid.

Connected in DoctorsConfig.ready(). Each skips raw (fixture) saves and hands off
to the module that owns the behaviour: activity (the feed), dashboard (its
cache generation, bumped once when the transaction commits) and tasks (the
welcome email). Bulk paths, which send no signal per row, call the same
functions once.

Membership changes arrive by two roads. Saves of Membership rows (the admin,
doctors.period_changes, MembershipQuerySet.end, which `remove()` and `clear()`
end periods through) send post_save; a cancelled period, or one deleted with
its doctor or department, post_delete. Each save carries what it did to its
period (`period_event`), which the feed words; a save without one has it
inferred (activity.period_event_of). `add()` and `set()` from either side
insert rows in bulk and send only m2m_changed, so m2m_changed is used for
additions only and each change becomes exactly one event; for the same
reason simple-history writes no history row for `add()`/`set()`; m2m_history
does.

Receivers are held strongly (weak=False): with weak references, importing this
module again would let the first functions be collected while the dispatch_uid
kept the new ones out, leaving no receiver at all.
"""

from django.db.models.signals import (
    m2m_changed,
    post_delete,
    post_save,
    pre_delete,
    pre_save,
)
from django.dispatch import receiver
from simple_history.signals import pre_create_historical_record

from . import activity, context, dashboard, m2m_history, tasks
from .models import Department, Doctor, Membership

TRACKED = (Doctor, Department, Membership)
HISTORIES = tuple(model.history.model for model in TRACKED)


def _connect_for_each(signal, senders, name):
    def decorator(func):
        for sender in senders:
            signal.connect(
                func,
                sender=sender,
                weak=False,
                dispatch_uid=f"doctors.{name}.{sender.__name__}",
            )
        return func

    return decorator


@_connect_for_each(pre_save, TRACKED, "note_pending_changes")
def note_pending_changes(sender, instance, raw=False, **kwargs):
    if raw:
        return
    instance._pending_changes = activity.pending_changes(instance)
    if instance._pending_changes == {}:
        # Nothing changed: no feed event, and no history row either.
        instance.skip_history_when_saving = True


@_connect_for_each(post_save, (Doctor, Department), "record_saved")
def record_saved(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    activity.record_saved(
        instance, created=created, changes=getattr(instance, "_pending_changes", None)
    )
    if _changed(instance, created):
        dashboard.bump_generation_on_commit()
    _forget_pending(instance)


@receiver(
    post_save, sender=Doctor, dispatch_uid="doctors.welcome_new_doctor", weak=False
)
def welcome_new_doctor(sender, instance, created, raw=False, **kwargs):
    if raw or not created:
        return
    tasks.queue_welcome_emails([instance.pk])


@receiver(
    post_save, sender=Membership, dispatch_uid="doctors.membership_saved", weak=False
)
def membership_saved(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    activity.record_membership_saved(
        instance, created=created, changes=getattr(instance, "_pending_changes", None)
    )
    if _changed(instance, created):
        dashboard.bump_generation_on_commit()
    _forget_pending(instance)


@receiver(
    post_delete,
    sender=Membership,
    dispatch_uid="doctors.membership_deleted",
    weak=False,
)
def membership_deleted(sender, instance, origin=None, **kwargs):
    activity.record_membership_deleted(instance)
    instance.__dict__.pop("period_event", None)
    dashboard.bump_generation_on_commit()


@_connect_for_each(pre_delete, (Doctor, Department), "remember_names")
def remember_names(sender, instance, **kwargs):
    activity.remember_names_before_cascade(instance)


@_connect_for_each(post_delete, (Doctor, Department), "record_deleted")
def record_deleted(sender, instance, **kwargs):
    activity.record_deleted(instance)
    activity.forget_cascade_names()
    dashboard.bump_generation_on_commit()


@receiver(
    m2m_changed,
    sender=Doctor.departments.through,
    dispatch_uid="doctors.m2m_added",
    weak=False,
)
def memberships_added(sender, instance, action, reverse, pk_set, raw=False, **kwargs):
    if raw or action != "post_add" or not pk_set:
        return
    activity.record_memberships_added(instance=instance, pk_set=pk_set, reverse=reverse)
    dashboard.bump_generation_on_commit()


@receiver(
    m2m_changed,
    sender=Doctor.departments.through,
    dispatch_uid="doctors.m2m_added_history",
    weak=False,
)
def membership_history_for_added(
    sender, instance, action, reverse, pk_set, raw=False, **kwargs
):
    # add() and set() insert the rows in bulk: simple-history sees no save.
    if raw or action != "post_add" or not pk_set:
        return
    m2m_history.record_added_by_m2m(instance=instance, pk_set=pk_set, reverse=reverse)


@_connect_for_each(pre_create_historical_record, HISTORIES, "history_change_set")
def history_change_set(sender, history_instance, **kwargs):
    change_set = context.current_change_set()
    if change_set is None:
        return
    history_instance.change_set = change_set
    if not history_instance.history_change_reason and change_set.reason:
        history_instance.history_change_reason = change_set.reason[:100]
    context.count(history_instance.instance_type._meta.model_name)


def _changed(instance, created: bool) -> bool:
    """Whether a save changed the row (a save that changed nothing has
    pending changes {})."""
    return created or getattr(instance, "_pending_changes", None) != {}


def _forget_pending(instance) -> None:
    instance.__dict__.pop("_pending_changes", None)
    instance.__dict__.pop("skip_history_when_saving", None)
    # The kind of change a save made (doctors.period_changes) holds for that
    # save only.
    instance.__dict__.pop("period_event", None)
    activity.remember_saved_values(instance)
