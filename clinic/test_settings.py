"""Settings for the test suite: the real settings with test-only defaults.

Tests talk to the real Redis but on their own database number and key prefix, so
they never read or clear anything a running instance keeps there.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-any-deployment")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("CACHE_KEY_PREFIX", f"clinic-test-{os.getpid()}")

from clinic.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
SECURE_SSL_REDIRECT = False
STORAGES["staticfiles"]["BACKEND"] = (  # noqa: F405
    "django.contrib.staticfiles.storage.StaticFilesStorage"
)
STATIC_ROOT = None  # whitenoise serves from the finders in tests
WHITENOISE_USE_FINDERS = True

# A file, not an in-memory database, for SQLite: tests that start a second
# process (a task worker, a web server) must see the same data. One file per
# test process, so parallel runs never share one.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")  # noqa: F405
    }
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # noqa: F405

# Test set-ups stage scenarios by rewriting history and feed rows (dates in the
# past, a clean feed), which PostgreSQL's guard refuses outside erasure
# (doctors.ledger.guard). Test connections start with the sanctioned setting on;
# the guard's own tests turn it off with SET LOCAL.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (  # noqa: F405
        "-c clinic.erasing=on"
    )
