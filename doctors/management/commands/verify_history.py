from django.core.management.base import BaseCommand, CommandError

from doctors.ledger import verify

SHOWN_PROBLEMS = 20


class Command(BaseCommand):
    help = (
        "Check the history chain: every change-set, feed event and history row "
        "as it was sealed. Exits non-zero naming the first bad link, its table "
        "and row."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--anchor",
            metavar="HASH",
            help=(
                "A hash printed earlier by manage.py history_anchor: the chain "
                "must still contain it (catches a chain cut back to before it)."
            ),
        )

    def handle(self, *args, anchor=None, **options):
        if anchor is not None:
            anchor = anchor.split()[0].lower() if anchor.split() else ""
            if not verify.ANCHOR_PATTERN.match(anchor):
                raise CommandError(
                    "--anchor: give the 64 hexadecimal characters that "
                    "manage.py history_anchor printed first."
                )
        report = verify.verify(anchor=anchor)
        if report.ok:
            self.stdout.write(
                f"The history chain verifies: {report.links} links, "
                f"{report.rows} rows, head {report.head_hash or '(empty)'}."
            )
            return
        problems = sorted(report.problems)
        lines = [f"The history chain does not verify. First problem: {problems[0]}"]
        if len(problems) > 1:
            lines.append(f"{len(problems) - 1} more:")
            lines.extend(f"  {problem}" for problem in problems[1:SHOWN_PROBLEMS])
            if len(problems) > SHOWN_PROBLEMS:
                lines.append(f"  ... and {len(problems) - SHOWN_PROBLEMS} more.")
        raise CommandError("\n".join(lines))
