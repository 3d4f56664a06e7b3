"""Concurrent writers make one linear history chain (doctors.ledger.chain)."""

import threading

import pytest
from django.db import connection, transaction

from doctors.context import acting_as
from doctors.ledger.verify import verify
from doctors.models import ChainLink, Doctor
from tests.factories import DoctorFactory

WRITERS = 20


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("in_one_transaction", [True, False])
def test_twenty_concurrent_writers_make_one_valid_chain(in_one_transaction):
    """Twenty threads, each with its own database connection, write and seal a
    change-set at the same moment: twenty links, one after the other."""
    start = threading.Barrier(WRITERS)
    errors = []

    def write(n: int) -> None:
        try:
            start.wait(timeout=60)
            if in_one_transaction:
                with transaction.atomic(), acting_as(description=f"writer {n}"):
                    DoctorFactory(license_number=f"CONC-{n:02d}")
            else:
                with acting_as(description=f"writer {n}"):
                    DoctorFactory(license_number=f"CONC-{n:02d}")
        except Exception as error:  # reported below, with the thread's number
            errors.append((n, error))
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert Doctor.objects.count() == WRITERS
    links = list(
        ChainLink.objects.order_by("position").values_list(
            "position", "previous_hash", "hash"
        )
    )
    assert [position for position, _, _ in links] == list(range(1, WRITERS + 1))
    for (_, _, before), (_, previous, _) in zip(links, links[1:], strict=False):
        assert previous == before
    report = verify()
    assert report.ok, [str(problem) for problem in report.problems]
