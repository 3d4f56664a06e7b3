import os
import sys
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from doctors.context import acting_as
from doctors.exporting import write_csv
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
    """A command's stdout, writing text as it is (no extra newline)."""

    def __init__(self, stdout):
        self.stdout = stdout

    def write(self, text: str) -> None:
        self.stdout.write(text, ending="")


def write_to_stdout(command: BaseCommand, write: Callable[[Any], int]) -> int | None:
    """Call `write(stream)` on the command's stdout; the number of data rows it
    wrote, or None when the reader stopped early (`| head`), which is not an
    error."""
    try:
        return write(UnterminatedStdout(command.stdout))
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush does not
        # fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return None


def write_csv_to_stdout(command: BaseCommand, rows) -> int | None:
    """Write CSV `rows` to the command's stdout (see write_to_stdout)."""
    return write_to_stdout(command, lambda stream: write_csv(rows, stream))
