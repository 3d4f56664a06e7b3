from django.core.management.base import BaseCommand

from doctors.ledger import chain


class Command(BaseCommand):
    help = (
        "Print the head of the history chain as HASH COUNT TIME, to keep outside "
        "the database (then: manage.py verify_history --anchor HASH)."
    )

    def handle(self, *args, **options):
        self.stdout.write(str(chain.anchor()))
