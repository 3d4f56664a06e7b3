from django.core.management.base import CommandError

from doctors import context
from doctors.management.base import ClinicCommand
from doctors.models import ActivityEvent, ImportRun
from doctors.runs import undos
from doctors.runs.progress import TerminalProgress


class Command(ClinicCommand):
    help = (
        "Undo an import run (or redo it, when it is undone): preview with "
        "--dry-run. Refused, naming the records, when records the run touched "
        "were changed since, unless --only-untouched."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("run_id", type=int, metavar="RUN_ID")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="show what the undo would change; change nothing",
        )
        parser.add_argument(
            "--only-untouched",
            action="store_true",
            help="undo the records nobody changed since; leave the others",
        )
        parser.add_argument("--reason", default="", help="why, for the history")

    def handle(self, *args, run_id, dry_run, only_untouched, reason, **options):
        run = ImportRun.objects.filter(pk=run_id).first()
        if run is None:
            raise CommandError(f"No import run #{run_id}.")
        try:
            if dry_run:
                result = undos.preview(run, untouched_only=only_untouched)
            else:
                progress = TerminalProgress(self.stdout)
                result = undos.undo_now(
                    run,
                    context.current().actor,
                    source=ActivityEvent.Source.COMMAND,
                    untouched_only=only_untouched,
                    reason=reason,
                    report=progress,
                )
                progress.close()
        except undos.UndoError as error:
            raise CommandError(f"Import run #{run_id}: {error}") from None
        for conflict in result.conflicts:
            self.stderr.write(f"changed since: {conflict}")
        if result.conflict_count > len(result.conflicts):
            self.stderr.write(f"... {result.conflict_count} records in all")
        if dry_run:
            for row in result.rows[:50]:
                details = "; ".join(
                    f"{name}: {now!r} -> {then!r}"
                    for name, (now, then) in row.changes.items()
                )
                self.stdout.write(
                    f"  {row.model} #{row.id} {row.text}: "
                    f"{undos.ACTION_TEXT[row.action]}"
                    + (f" ({details})" if details else "")
                )
        if result.refused:
            raise CommandError(result.summary())
        self.stdout.write(self.style.SUCCESS(result.summary()))
