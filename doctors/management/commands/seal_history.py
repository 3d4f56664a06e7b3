from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from doctors.ledger import chain, guard
from doctors.models import ActivityEvent, ChangeSet, Department, Doctor, Membership

HISTORY_MODELS = (Doctor, Department, Membership)


class Command(BaseCommand):
    help = (
        "Seal into the history chain what is not in it yet: once after upgrading "
        "(the history written before the chain), and after a writer stopped "
        "between its commit and its seal. Check first, with verify_history, "
        "that the rows it names are genuine: sealing vouches for them."
    )

    def handle(self, *args, **options):
        with transaction.atomic():
            chain.lock_head()
            orphans = self._adopt_rows_of_no_change_set()
            sealed = chain.seal_unsealed()
        self.stdout.write(
            f"{sealed} change-set(s) sealed"
            + (f", {orphans} row(s) of no change-set among them" if orphans else "")
            + f". Head: {chain.anchor()}"
        )

    def _adopt_rows_of_no_change_set(self) -> int:
        """History and feed rows written outside any change-set (a shell, data
        from before change-sets) join one new change-set, left open so the
        loop below seals it."""
        tables = [
            model.history.filter(change_set__isnull=True) for model in HISTORY_MODELS
        ]
        tables.append(ActivityEvent.objects.filter(change_set__isnull=True))
        if not any(rows.exists() for rows in tables):
            return 0
        change_set = ChangeSet.objects.create(
            source=ActivityEvent.Source.COMMAND,
            ended_at=timezone.now(),
            description="manage.py seal_history: rows written outside any change-set",
        )
        adopted = 0
        with guard.sanctioned():
            for rows in tables:
                adopted += rows.update(change_set=change_set)
        return adopted
