from django.core.management.base import BaseCommand

from doctors.ledger import erasure


class Command(BaseCommand):
    help = (
        "Erase again the doctors on the erasure replay list whose personal data "
        "is back, after restoring the database from an older backup."
    )

    def handle(self, *args, **options):
        results = erasure.replay()
        for result in results:
            self.stdout.write(result.summary())
        self.stdout.write(
            f"{len(results)} erasure(s) replayed; the replay list has "
            f"{len(erasure.replay_entries())} erased doctor(s)."
        )
