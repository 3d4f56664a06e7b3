"""Erasing a departed doctor's personal data (GDPR article 17).

Removes the doctor's names, email, phone and license number from the doctor
row, every history row, feed event (text and changes), change-set descriptions
and reasons that quote them, stored import files, previews and problem lists,
background tasks' results, and the dashboard pages cached in Redis. What
remains reads "Erased doctor #N" and keeps the facts that are not personal
(departments, roles, dates), so counts, members on a date and the timeline
stay right.

The history chain commits to personal values through keyed commitments
(doctors.ledger.canonical): before the values and the key go, the commitment
of every affected row is kept (ErasedCommitment), so the chain still verifies
and an anchor taken before the erasure still matches. The erasure is itself a
change-set (who, when, why; not what was erased), and an Erasure row plus a
line in the replay file (ERASURE_REPLAY_FILE) let `manage.py replay_erasures`
erase the doctor again after a restore from an older backup.
"""

import datetime
import hashlib
import io
import json
import logging
import re
import secrets
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from .. import context, dashboard
from ..importing import storage
from ..models import (
    ActivityEvent,
    ChainLink,
    ChangeSet,
    Department,
    Doctor,
    ErasedCommitment,
    Erasure,
    ImportRun,
    Membership,
    PersonalDataKey,
    WelcomeEmailFailure,
)
from . import canonical, chain, guard
from .chain import Keyring

logger = logging.getLogger(__name__)

ERASED_FIRST_NAME = "Erased doctor"
ERASED_VALUE = "(erased)"
FILE_DISCARDED = (
    "The file was discarded: it named a doctor whose personal data was erased. "
    "Upload it again without that doctor."
)
# A zipped sheet (xlsx, ods) larger than this once unpacked is discarded
# unread rather than searched.
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
SQLITE_SEARCH_INDEXES = ("doctors_doctor_fts", "doctors_activityevent_fts")


class ErasureError(Exception):
    """The erasure was refused; nothing was changed."""


def erased_label(doctor_id: int) -> str:
    return f"Erased doctor #{doctor_id}"


@dataclass
class ErasureResult:
    doctor_id: int
    change_set: ChangeSet | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return erased_label(self.doctor_id)

    def summary(self) -> str:
        parts = [f"{count} {what}" for what, count in self.counts.items() if count]
        done = ", ".join(parts) or "no other records"
        return f"{self.label}: personal data removed ({done})."


def license_hash(salt: str, license_number: str) -> str:
    return hashlib.sha256(f"{salt}:{license_number}".encode()).hexdigest()


def is_erased(doctor_id: int) -> bool:
    return Erasure.objects.filter(doctor_id=doctor_id).exists()


def find_doctor(license_number: str) -> Doctor:
    """The doctor to erase, by license number; ErasureError when unknown or
    already erased (an erased doctor's old number no longer finds them)."""
    license_number = license_number.strip()
    doctor = Doctor.objects.filter(license_number=license_number).first()
    if doctor is None:
        for record in Erasure.objects.only("doctor_id", "license_salt", "license_hash"):
            if license_hash(record.license_salt, license_number) == record.license_hash:
                raise ErasureError(
                    f"The doctor with license number {license_number} was already "
                    f"erased ({erased_label(record.doctor_id)}); nothing was changed."
                )
        raise ErasureError(
            f"No doctor has the license number {license_number}; nothing was changed."
        )
    return doctor


def erase_doctor(
    doctor: Doctor,
    *,
    reason: str,
    user=None,
    source: str = ActivityEvent.Source.COMMAND,
    replayed_from: Erasure | None = None,
) -> ErasureResult:
    """Erase `doctor`'s personal data as one change-set. ErasureError (nothing
    changed) when the doctor is already erased or no reason is given."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise ErasureError("Give the reason for the erasure; nothing was changed.")
    result = ErasureResult(doctor_id=doctor.pk)
    with guard.sanctioned():
        # No link is sealed while keys and commitments change.
        chain.lock_head()
        doctor = Doctor.objects.select_for_update().filter(pk=doctor.pk).first()
        if doctor is None:
            raise ErasureError("The doctor no longer exists; nothing was changed.")
        if is_erased(doctor.pk):
            raise ErasureError(
                f"{erased_label(doctor.pk)} was already erased; nothing was changed."
            )
        finder = _Finder(doctor)
        with context.acting_as(
            user,
            source=source,
            description="Erasure of personal data",
            reason=finder.scrub(reason)[:255],
        ) as change:
            keyring = Keyring(create=False)
            result.counts["history rows"] = _erase_history(doctor.pk, finder, keyring)
            result.counts["feed events"] = _erase_events(doctor.pk, finder, keyring)
            result.counts["change-set descriptions"] = _erase_change_sets(
                finder, keyring
            )
            result.counts["import runs"] = _erase_import_runs(finder)
            result.counts["task results"] = _erase_task_results(finder)
            _erase_doctor_row(doctor)
            PersonalDataKey.objects.filter(
                kind=PersonalDataKey.Kind.DOCTOR, object_id=doctor.pk
            ).delete()
            WelcomeEmailFailure.objects.filter(doctor_id=doctor.pk).delete()
            dashboard.bump_generation_on_commit()
            ActivityEvent.objects.create(
                verb=ActivityEvent.Verb.ERASED,
                source=source,
                actor=change.actor,
                actor_name=change.actor.get_username() if change.actor else "",
                target_type="doctor",
                target_id=doctor.pk,
                target_text=erased_label(doctor.pk),
                change_set=context.current_change_set(),
            )
            context.count("events")
            record = _record(doctor, change, replayed_from)
        result.change_set = change.change_set
        _clean_search_indexes()
        transaction.on_commit(_delete_cached_pages, robust=True)
        transaction.on_commit(lambda: _append_replay_line(record), robust=True)
    return result


class _Finder:
    """Where a doctor's personal values appear in free text."""

    def __init__(self, doctor: Doctor):
        self.doctor_id = doctor.pk
        values = {
            doctor.first_name,
            doctor.last_name,
            doctor.email,
            doctor.phone,
            doctor.license_number,
            f"{doctor.first_name} {doctor.last_name}",
            doctor.full_name,
        }
        self.values = sorted(
            {v.strip() for v in values if v and len(v.strip()) >= 2},
            key=len,
            reverse=True,
        )
        alternatives = "|".join(re.escape(value) for value in self.values)
        self.pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)

    def any_in(self, *fields: str) -> Q:
        query = Q()
        for value in self.values:
            for name in fields:
                query |= Q(**{f"{name}__icontains": value})
        return query

    def scrub(self, text: str) -> str:
        return self.pattern.sub(erased_label(self.doctor_id), text)

    def scrub_json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, list):
            return [self.scrub_json(item) for item in value]
        if isinstance(value, dict):
            return {
                self.scrub(key): self.scrub_json(item) for key, item in value.items()
            }
        return value

    def names(self, data: bytes) -> bool:
        """Whether a stored import file names the doctor (a zipped sheet that
        cannot be read counts as naming them)."""
        texts = []
        if data[:4] == b"PK\x03\x04":
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    members = archive.infolist()
                    if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
                        return True
                    texts = [
                        archive.read(m).decode("utf-8", "replace") for m in members
                    ]
            except (zipfile.BadZipFile, OSError, RuntimeError):
                return True
        else:
            for encoding in ("utf-8", "utf-16", "cp1252"):
                try:
                    texts.append(data.decode(encoding))
                except UnicodeDecodeError:
                    continue
            if not texts:
                texts.append(data.decode("latin-1"))
        text = "\n".join(texts).casefold()
        return any(value.casefold() in text for value in self.values)


def _keep_commitments(table: canonical.Table, rows: list[tuple], keyring) -> int:
    """Keep the commitment of each sealed row's personal values before the
    values and the key go. A row whose change-set is not sealed yet keeps
    nothing: it will be sealed as it is after the erasure."""
    sealed_sets = set(
        ChainLink.objects.filter(
            change_set_id__in={row[table.change_set_index] for row in rows}
        ).values_list("change_set_id", flat=True)
    )
    rows = [row for row in rows if row[table.change_set_index] in sealed_sets]
    keyring.prepare({key for row in rows if (key := table.key_of(row)) is not None})
    kept = [
        ErasedCommitment(
            table=table.tag,
            row_id=row[0],
            commitment=table.sealed_personal(row, keyring.commit),
        )
        for row in rows
        if table.key_of(row) is not None
    ]
    ErasedCommitment.objects.bulk_create(kept, batch_size=2000, ignore_conflicts=True)
    return len(kept)


def _erased_doctor_values(doctor_id: int) -> dict[str, str]:
    return {
        "first_name": ERASED_FIRST_NAME,
        "last_name": f"#{doctor_id}",
        "email": f"erased-{doctor_id}@erased.invalid",
        "phone": "",
        "license_number": f"ERASED-{doctor_id}",
    }


def _scrub_reasons(model, rows: list[tuple], finder: _Finder) -> None:
    """Take the doctor's values out of the history rows' reasons."""
    for row in rows:
        reason = row[-1]
        if reason and finder.pattern.search(reason):
            model._base_manager.filter(history_id=row[0]).update(
                history_change_reason=finder.scrub(reason)[:100]
            )


def _erase_history(doctor_id: int, finder: _Finder, keyring: Keyring) -> int:
    history = Doctor.history.filter(id=doctor_id)
    rows = list(history.order_by("history_id").values_list(*canonical.DOCTORS.columns))
    _keep_commitments(canonical.DOCTORS, rows, keyring)
    history.update(**_erased_doctor_values(doctor_id))
    _scrub_reasons(Doctor.history.model, rows, finder)
    # Membership rows are sealed under the doctor's key too: their
    # commitments must stay when the key goes.
    memberships = Membership.history.filter(doctor_id=doctor_id)
    membership_rows = list(
        memberships.order_by("history_id").values_list(*canonical.MEMBERSHIPS.columns)
    )
    _keep_commitments(canonical.MEMBERSHIPS, membership_rows, keyring)
    _scrub_reasons(Membership.history.model, membership_rows, finder)
    departments = Department.history.filter(
        finder.any_in("history_change_reason")
    ).order_by("history_id")
    department_rows = [
        row
        for row in departments.values_list(*canonical.DEPARTMENTS.columns)
        if finder.pattern.search(row[-1] or "")
    ]
    _keep_commitments(canonical.DEPARTMENTS, department_rows, keyring)
    _scrub_reasons(Department.history.model, department_rows, finder)
    return len(rows) + len(membership_rows) + len(department_rows)


def _erase_events(doctor_id: int, finder: _Finder, keyring: Keyring) -> int:
    events = ActivityEvent.objects.filter(target_type="doctor", target_id=doctor_id)
    rows = list(events.order_by("id").values_list(*canonical.EVENTS.columns))
    _keep_commitments(canonical.EVENTS, rows, keyring)
    personal = canonical.PERSONAL_DOCTOR_FIELDS
    rewritten = []
    for row in rows:
        changes = row[canonical.EventTable.CHANGES] or {}
        if any(name in changes for name in personal):
            erased = {
                name: (
                    [None if v in (None, "") else ERASED_VALUE for v in values]
                    if name in personal
                    else values
                )
                for name, values in changes.items()
            }
            rewritten.append(ActivityEvent(pk=row[0], changes=erased))
    label = erased_label(doctor_id)
    events.update(target_text=label)
    ActivityEvent.objects.bulk_update(rewritten, ["changes"], batch_size=500)
    return len(rows)


def _erase_change_sets(finder: _Finder, keyring: Keyring) -> int:
    found = [
        row
        for row in ChangeSet.objects.filter(finder.any_in("description", "reason"))
        .order_by("id")
        .values_list(*canonical.CHANGE_SETS.columns)
        if finder.pattern.search(row[-2]) or finder.pattern.search(row[-1])
    ]
    if not found:
        return 0
    ids = [row[0] for row in found]
    _keep_commitments(canonical.CHANGE_SETS, found, keyring)
    # Department history rows are sealed under their change-set's key, which
    # goes too.
    department_rows = list(
        Department.history.filter(change_set_id__in=ids).values_list(
            *canonical.DEPARTMENTS.columns
        )
    )
    _keep_commitments(canonical.DEPARTMENTS, department_rows, keyring)
    for row in found:
        ChangeSet.objects.filter(pk=row[0]).update(
            description=finder.scrub(row[-2])[:255],
            reason=finder.scrub(row[-1])[:255],
        )
    PersonalDataKey.objects.filter(
        kind=PersonalDataKey.Kind.CHANGE_SET, object_id__in=ids
    ).delete()
    return len(found)


def _erase_import_runs(finder: _Finder) -> int:
    touched = 0
    runs = ImportRun.objects.only(
        "pk", "file_name", "reason", "preview", "errors", "counts"
    )
    for run in runs.iterator(chunk_size=200):
        text = json.dumps(
            [run.file_name, run.reason, run.preview, run.errors, run.counts],
            ensure_ascii=False,
        )
        if finder.pattern.search(text):
            ImportRun.objects.filter(pk=run.pk).update(
                file_name=finder.scrub(run.file_name)[:255],
                reason=finder.scrub(run.reason)[:255],
                preview=finder.scrub_json(run.preview),
                errors=finder.scrub_json(run.errors),
                counts=finder.scrub_json(run.counts),
            )
            touched += 1
    stored = ImportRun.objects.exclude(content=b"").values_list("pk", "status")
    for run_id, status in list(stored):
        if not finder.names(storage.load(run_id)):
            continue
        ImportRun.objects.filter(pk=run_id).update(content=b"", seen=b"")
        if status in (ImportRun.Status.PREVIEWED, ImportRun.Status.QUEUED):
            ImportRun.objects.filter(pk=run_id).update(
                status=ImportRun.Status.FAILED,
                finished_at=timezone.now(),
                error_count=1,
                errors=[[None, "", FILE_DISCARDED]],
            )
        touched += 1
    return touched


def _erase_task_results(finder: _Finder) -> int:
    """Background tasks' results and tracebacks (a refused welcome email
    quotes the address)."""
    from django_tasks_db.models import DBTaskResult

    found = DBTaskResult.objects.filter(
        finder.any_in("traceback", "return_value", "args_kwargs")
    ).only("pk", "traceback", "return_value", "args_kwargs")
    touched = 0
    for result in found.iterator(chunk_size=200):
        DBTaskResult.objects.filter(pk=result.pk).update(
            traceback=finder.scrub(result.traceback or ""),
            return_value=finder.scrub_json(result.return_value),
            args_kwargs=finder.scrub_json(result.args_kwargs),
        )
        touched += 1
    return touched


def _erase_doctor_row(doctor: Doctor) -> None:
    Doctor.objects.filter(pk=doctor.pk).update(
        **_erased_doctor_values(doctor.pk), updated_at=timezone.now()
    )


def _record(doctor: Doctor, change, replayed_from: Erasure | None) -> Erasure:
    if replayed_from is not None:
        salt, hashed = replayed_from.license_salt, replayed_from.license_hash
        erased_at = replayed_from.erased_at
    else:
        salt = secrets.token_hex(16)
        hashed = license_hash(salt, doctor.license_number)
        erased_at = timezone.now()
    return Erasure.objects.create(
        doctor_id=doctor.pk,
        license_salt=salt,
        license_hash=hashed,
        erased_at=erased_at,
        erased_by=change.actor,
        change_set=context.current_change_set(),
    )


def _clean_search_indexes() -> None:
    """SQLite's full-text indexes keep a deleted row's words in their segments
    until they are merged: merge them now, so no copy of the database holds
    them."""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for table in SQLITE_SEARCH_INDEXES:
            cursor.execute(f"INSERT INTO {table} ({table}) VALUES ('optimize')")


def _delete_cached_pages() -> None:
    """Delete every cached dashboard block (of every generation) from Redis:
    any of them may name the doctor. The generation key itself stays."""
    iter_keys = getattr(cache, "iter_keys", None)
    if iter_keys is None:
        cache.clear()
        return
    doomed = [
        key for key in iter_keys("dashboard:*") if key != dashboard.GENERATION_KEY
    ]
    if doomed:
        cache.delete_many(doomed)


# The replay list ----------------------------------------------------------------


def replay_file() -> Path:
    return Path(
        getattr(settings, "ERASURE_REPLAY_FILE", None)
        or Path(settings.VAR_DIR) / "erasures.jsonl"
    )


def _append_replay_line(record: Erasure) -> None:
    line = {
        "doctor_id": record.doctor_id,
        "license_salt": record.license_salt,
        "license_hash": record.license_hash,
        "erased_at": record.erased_at.isoformat(),
    }
    path = replay_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(line, sort_keys=True) + "\n")
    except OSError:
        logger.exception(
            "Could not add erased doctor #%s to the erasure replay file %s",
            record.doctor_id,
            path,
        )


def replay_entries() -> list[Erasure]:
    """The erasures to re-apply: the replay file's and the table's."""
    entries: dict[int, Erasure] = {}
    path = replay_file()
    if path.exists():
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                entries[int(data["doctor_id"])] = Erasure(
                    doctor_id=int(data["doctor_id"]),
                    license_salt=str(data["license_salt"]),
                    license_hash=str(data["license_hash"]),
                    erased_at=datetime.datetime.fromisoformat(data["erased_at"]),
                )
            except (ValueError, KeyError, TypeError):
                logger.warning(
                    "Erasure replay file %s: line %d unreadable", path, number
                )
    for record in Erasure.objects.all():
        entries.setdefault(record.doctor_id, record)
    return sorted(entries.values(), key=lambda entry: entry.doctor_id)


def replay(*, user=None) -> list[ErasureResult]:
    """Erase again every doctor on the replay list whose data is back (a
    restore from a backup older than the erasure)."""
    done = []
    for entry in replay_entries():
        if is_erased(entry.doctor_id):
            continue
        doctor = Doctor.objects.filter(pk=entry.doctor_id).first()
        if doctor is None:
            continue
        if license_hash(entry.license_salt, doctor.license_number) != (
            entry.license_hash
        ):
            continue  # not the doctor that was erased (or renumbered since)
        done.append(
            erase_doctor(
                doctor,
                reason=f"Replay of the erasure of {entry.erased_at:%Y-%m-%d}",
                user=user,
                replayed_from=entry,
            )
        )
    return done


# Undo, redo and revert -----------------------------------------------------------


def undo_refusal(change_set_id: int) -> str:
    """Why an undo or redo of the change-set must be refused ("" if it need
    not): it touched a doctor whose personal data was erased, and restoring
    its rows could bring that data back."""
    erased = Erasure.objects.values("doctor_id")
    touched = (
        Doctor.history.filter(change_set_id=change_set_id, id__in=erased)
        .values_list("id", flat=True)
        .first()
    )
    if touched is None:
        touched = (
            Membership.history.filter(change_set_id=change_set_id, doctor_id__in=erased)
            .values_list("doctor_id", flat=True)
            .first()
        )
    if touched is None:
        return ""
    return (
        f"it changed {erased_label(touched)}, whose personal data was erased: "
        "undoing or redoing it could bring that data back. Nothing was changed."
    )


def revert_refusal(obj) -> str:
    """Why a revert of `obj` must be refused ("" if it need not)."""
    if isinstance(obj, Doctor) and is_erased(obj.pk):
        return (
            f"{erased_label(obj.pk)}: this doctor's personal data was erased, and "
            "a revert could bring it back. Nothing was changed."
        )
    return ""
