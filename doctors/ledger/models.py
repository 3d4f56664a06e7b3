"""The tables of the history chain and of erasures (imported by doctors.models)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ChainHead(models.Model):
    """The newest link of the history chain: one row, locked by every writer
    that adds a link, so concurrent writers make one linear chain."""

    position = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, blank=True)
    sealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "history chain head"

    def __str__(self) -> str:
        return f"history chain at link {self.position}"


class ChainLink(models.Model):
    """One change-set in the history chain.

    `manifest` lists the rows the change-set wrote, table by table in a fixed
    order, each as its id and the first 16 bytes of the SHA-256 of its
    canonical form (doctors.ledger.canonical); the link's hash commits to the
    previous hash, this link's header and the manifest. Verification compares
    the tables with the manifests to name the row that changed.
    """

    position = models.PositiveBigIntegerField(unique=True)
    change_set = models.OneToOneField(
        "doctors.ChangeSet",
        on_delete=models.PROTECT,
        related_name="chain_link",
    )
    previous_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, unique=True)
    # Rows of each table the manifest lists: {"event": 1, "doctor": 120, ...}.
    rows = models.JSONField(default=dict)
    manifest = models.BinaryField(editable=False)
    sealed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position"]
        verbose_name = "history chain link"

    def __str__(self) -> str:
        return f"link {self.position} (change-set #{self.change_set_id})"


class PersonalDataKey(models.Model):
    """The random key of the keyed commitments of one doctor's (or one
    change-set's) personal values. Erasure deletes it with the values."""

    class Kind(models.TextChoices):
        DOCTOR = "doctor", "Doctor"
        CHANGE_SET = "changeset", "Change-set"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    object_id = models.BigIntegerField()
    key = models.BinaryField(max_length=32)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "object_id"], name="personal_data_key_unique"
            )
        ]

    def __str__(self) -> str:
        return f"key of {self.kind} #{self.object_id}"


class ErasedCommitment(models.Model):
    """The keyed commitment of a row's personal values, kept when erasure
    removed the values and their key: the chain still verifies with it."""

    table = models.CharField(max_length=12)
    row_id = models.BigIntegerField()
    commitment = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["table", "row_id"], name="erased_commitment_unique"
            )
        ]

    def __str__(self) -> str:
        return f"commitment of {self.table} row {self.row_id}"


class Erasure(models.Model):
    """A doctor whose personal data was erased; also the replay list that
    re-applies erasures after a restore from an older backup.

    The license number is kept only as a salted SHA-256, enough to recognise
    the doctor's row in a restored database and nothing more.
    """

    doctor_id = models.BigIntegerField(unique=True)
    license_salt = models.CharField(max_length=32)
    license_hash = models.CharField(max_length=64)
    erased_at = models.DateTimeField(default=timezone.now)
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    change_set = models.ForeignKey(
        "doctors.ChangeSet",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-erased_at", "-id"]
        permissions = [("erase_doctor", "Can erase a doctor's personal data")]

    def __str__(self) -> str:
        return f"Erased doctor #{self.doctor_id}"
