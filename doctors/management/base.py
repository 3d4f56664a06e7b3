from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from doctors.context import acting_as
from doctors.models import ActivityEvent


class ClinicCommand(BaseCommand):
    """A command whose changes the feed attributes to --user, from "command"."""

    def add_arguments(self, parser):
        parser.add_argument(
            "--user",
            metavar="USERNAME",
            help="Whose name the change-history feed shows for this run.",
        )

    def execute(self, *args, **options):
        username = options.get("user")
        user = None
        if username:
            try:
                user = get_user_model().objects.get_by_natural_key(username)
            except get_user_model().DoesNotExist:
                raise CommandError(f"--user: no user named {username!r}.") from None
        name = type(self).__module__.rpartition(".")[2]
        with acting_as(
            user, source=ActivityEvent.Source.COMMAND, description=f"manage.py {name}"
        ):
            return super().execute(*args, **options)


class UnterminatedStdout:
    """A command's stdout, writing CSV lines as they are (no extra newline)."""

    def __init__(self, stdout):
        self.stdout = stdout

    def write(self, text: str) -> None:
        self.stdout.write(text, ending="")
