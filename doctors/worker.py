"""The task worker's heartbeat, for /healthz.

`manage.py run_worker` runs django-tasks-db's worker loop (the same one as
`manage.py db_worker`) and writes a WorkerHeartbeat row as the loop goes round:
at start, then at most every WORKER_HEARTBEAT_SECONDS. The beat is tied to the
loop, not to a side thread, so a worker stuck in one task stops beating.
The same loop clears up runs (doctors.runs: imports.sweep, status.sweep) every
IMPORT_SWEEP_SECONDS: stored files nobody confirmed, runs left "running"; and
once a day (doctors.ledger.daily) logs the history chain's anchor and erases
the personal data past PERSONAL_DATA_RETENTION_DAYS.
"""

import datetime
import logging
import os
import socket
import time

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker

from .ledger import daily as ledger_daily
from .models import WorkerHeartbeat
from .runs import imports, status

logger = logging.getLogger(__name__)


def heartbeat_seconds() -> float:
    return float(getattr(settings, "WORKER_HEARTBEAT_SECONDS", 10))


def sweep_seconds() -> float:
    return float(getattr(settings, "IMPORT_SWEEP_SECONDS", 300))


def record_heartbeat(worker_id: str, *, started_at: datetime.datetime) -> None:
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={
            "hostname": socket.gethostname()[:255],
            "pid": os.getpid(),
            "started_at": started_at,
            "last_beat_at": timezone.now(),
        },
    )


def forget_old_heartbeats(*, older_than: datetime.timedelta) -> int:
    """Rows of workers gone for long only clutter /healthz."""
    deleted, _ = WorkerHeartbeat.objects.filter(
        last_beat_at__lt=timezone.now() - older_than
    ).delete()
    return deleted


class HeartbeatWorker(Worker):
    """django-tasks-db's Worker, beating each time its loop comes round.

    Worker.run() tests `self.running` at the top of every pass of its loop (and
    before sleeping); reading it here records a heartbeat when one is due. That
    keeps the upstream loop as it is instead of copying it.
    """

    def __init__(self, **kwargs):
        self._running = True
        self._started_at = timezone.now()
        self._next_beat = 0.0
        self._next_sweep = 0.0
        self._next_daily = 0.0
        super().__init__(**kwargs)

    @property
    def running(self) -> bool:
        if self._running and time.monotonic() >= self._next_beat:
            self.beat()
        if self._running and time.monotonic() >= self._next_sweep:
            self.sweep()
        if self._running and time.monotonic() >= self._next_daily:
            self.daily()
        return self._running

    @running.setter
    def running(self, value: bool) -> None:
        self._running = value

    def beat(self) -> None:
        try:
            record_heartbeat(self.worker_id, started_at=self._started_at)
        except DatabaseError:
            # The loop itself reports a database that is gone; a heartbeat that
            # could not be written only means /healthz will say so.
            logger.warning("Could not record the worker heartbeat", exc_info=True)
        self._next_beat = time.monotonic() + heartbeat_seconds()

    def sweep(self) -> None:
        try:
            imports.sweep()
            status.sweep()
        except DatabaseError:
            logger.warning("Could not clear up import runs", exc_info=True)
        self._next_sweep = time.monotonic() + sweep_seconds()

    def daily(self) -> None:
        try:
            ledger_daily.run()
        except Exception:
            # The task loop must go on whatever the retention sweep met; the
            # next day's run tries again.
            logger.exception("Could not run the daily history work")
        self._next_daily = time.monotonic() + ledger_daily.SECONDS
