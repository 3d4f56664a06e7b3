import pytest
from django.core.cache import cache

from clinic.logging import reset_rate_limits
from doctors.roles import CLINIC_STAFF, MANAGERS
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _isolated_cache():
    """Each test starts with nothing cached under this run's key prefix.

    Only this run's keys are deleted: the Redis server may be shared.
    """
    cache.delete_pattern("*")
    yield
    cache.delete_pattern("*")


@pytest.fixture(autouse=True)
def _fresh_log_rate_limits():
    """Each test sees its own cache errors logged, whatever earlier tests logged."""
    reset_rate_limits("clinic.cache")


@pytest.fixture
def clinic_staff(db):
    return UserFactory(username="staff-user", groups=[CLINIC_STAFF])


@pytest.fixture
def manager(db):
    return UserFactory(username="manager-user", groups=[MANAGERS])


@pytest.fixture
def staff_without_role(db):
    return UserFactory(username="no-role")


@pytest.fixture
def superuser(db):
    return UserFactory(username="root-user", is_superuser=True)


@pytest.fixture
def staff_client(client, clinic_staff):
    client.force_login(clinic_staff)
    return client
