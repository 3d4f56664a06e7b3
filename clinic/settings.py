"""Settings for clinic admin, read from the environment (12-factor).

Local use needs no configuration: a SQLite file under var/ and the Redis server on
127.0.0.1:6379. Production sets DEBUG=false and must then provide SECRET_KEY.
"""

import os
from datetime import date, timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CLINIC_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    normalized = value.strip().lower()
    if normalized in {"1", "true", "yes", "on"}:
        return True
    if normalized in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true or false)")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value.strip():
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number") from None


def env_date(name: str, default: str) -> date:
    value = os.environ.get(name, "").strip() or default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a YYYY-MM-DD date"
        ) from None


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off. Set DEBUG=true for local "
            "development, or export a long random SECRET_KEY."
        )
    SECRET_KEY = "insecure-local-development-key-never-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")

# `make serve` runs the production profile over plain HTTP on loopback, where
# secure-only cookies would never come back and login would be impossible. This
# switch relaxes exactly that, refuses any host name but loopback, and makes
# `check --deploy` warn (clinic.W001). Never set it in a real deployment.
SERVE_INSECURE_LOCAL = env_bool("SERVE_INSECURE_LOCAL", False)
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]"}
if SERVE_INSECURE_LOCAL and not set(ALLOWED_HOSTS) <= LOOPBACK_HOSTS:
    raise ImproperlyConfigured(
        "SERVE_INSECURE_LOCAL=true serves plain HTTP and is for loopback only, but "
        f"ALLOWED_HOSTS={','.join(ALLOWED_HOSTS)!r} names other hosts. Unset "
        "SERVE_INSECURE_LOCAL and serve through HTTPS (BEHIND_TLS_PROXY=true)."
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "clinic.apps.ClinicAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "simple_history",
    "import_export",
    "django_tasks_db",
    "axes",
    "doctors.apps.DoctorsConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "clinic.security.SessionIdleTimeoutMiddleware",
    "doctors.middleware.ChangeContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes requires: turns a locked-out login into its page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "clinic.urls"
WSGI_APPLICATION = "clinic.wsgi.application"
ASGI_APPLICATION = "clinic.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'clinic.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the task worker read while the other writes;
    # IMMEDIATE transactions take the write lock up front instead of failing with
    # "database is locked" half-way through a save.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # SQLite creates its file but not the folder: a fresh clone has no var/ yet,
    # and every command (and plain pytest) must work there.
    if DATABASES["default"]["NAME"] not in {"", ":memory:"}:
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: one Redis shared by every process. Short socket timeouts so that a hung
# Redis costs a request well under a second; IGNORE_EXCEPTIONS keeps the admin up
# when Redis is down (the failure is logged, the value is computed live).
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHE_TIMEOUT_SECONDS = float(os.environ.get("CACHE_SOCKET_TIMEOUT", "0.5"))
if REDIS_URL == "locmem":
    # Fallback used by `make run` when no Redis can be found or started: it is
    # per process, so the web server and the worker do not share it.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "clinic"),
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "clinic"),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": CACHE_TIMEOUT_SECONDS,
                "SOCKET_TIMEOUT": CACHE_TIMEOUT_SECONDS,
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }


def env_sentinels(name: str) -> list[tuple[str, int]]:
    sentinels = []
    for item in env_list(name, ""):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not host:port (e.g. sentinel-1:26379)"
            )
        sentinels.append((host.strip("[]"), int(port)))
    return sentinels


# Redis with Sentinel (several hosts, automatic failover): REDIS_SENTINELS lists
# the sentinels as host:port,host:port and REDIS_URL names the monitored service
# instead of a host, e.g. redis://clinic-cache/0. See docs/deploy.md.
REDIS_SENTINELS = env_sentinels("REDIS_SENTINELS")
if REDIS_SENTINELS and REDIS_URL != "locmem":
    CACHES["default"]["OPTIONS"].update(
        {
            "CLIENT_CLASS": "django_redis.client.SentinelClient",
            "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
            "SENTINELS": REDIS_SENTINELS,
        }
    )
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
DJANGO_REDIS_LOGGER = "clinic.cache"
# How long a cached dashboard block may be served: bounds staleness should an
# invalidation be lost.
DASHBOARD_CACHE_SECONDS = env_int("DASHBOARD_CACHE_SECONDS", 300)
# Cache errors are logged once per kind per this many seconds.
CACHE_ERROR_LOG_INTERVAL = env_int("CACHE_ERROR_LOG_INTERVAL", 60)

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
    }
}
# /healthz: the worker (manage.py run_worker) records a heartbeat this often; it
# counts as alive for HEALTH_WORKER_STALE_SECONDS after one. A task waiting longer
# than HEALTH_TASK_MAX_WAIT_SECONDS with no live worker makes the instance unhealthy.
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 10)
HEALTH_WORKER_STALE_SECONDS = env_int("HEALTH_WORKER_STALE_SECONDS", 60)
HEALTH_TASK_MAX_WAIT_SECONDS = env_int("HEALTH_TASK_MAX_WAIT_SECONDS", 300)
# Welcome emails that could not be sent are tried again, up to
# WELCOME_EMAIL_MAX_ATTEMPTS times in all, the first retry after
# WELCOME_EMAIL_RETRY_SECONDS and each next one after twice as long.
WELCOME_EMAIL_MAX_ATTEMPTS = env_int("WELCOME_EMAIL_MAX_ATTEMPTS", 5)
WELCOME_EMAIL_RETRY_SECONDS = env_int("WELCOME_EMAIL_RETRY_SECONDS", 300)

SESSION_ENGINE = "django.contrib.sessions.backends.db"
# Sessions end after SESSION_IDLE_MINUTES without a request (default: a working
# day), renewed as staff work (clinic.security.SessionIdleTimeoutMiddleware).
# SESSION_EXPIRE_AT_BROWSER_CLOSE=true also ends them when the browser closes.
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_MINUTES", 8 * 60) * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = env_bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", False)

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# Dates, times and numbers are written one way everywhere: the formats in
# clinic/formats/en/formats.py, and numbers with thousands separators ("2,867").
# Numbers that are not quantities (ids in links, SVG coordinates) are written
# with |unlocalize or inside {% localize off %}.
FORMAT_MODULE_PATH = ["clinic.formats"]
USE_THOUSAND_SEPARATOR = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [path for path in [BASE_DIR / "static"] if path.is_dir()]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Email: printed to the console in development; SMTP from the environment
# otherwise.
# EMAIL_FILE_PATH: the folder of the file backend (one file per message).
EMAIL_BACKEND_PATH = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
_smtp_options = {
    "host": os.environ.get("EMAIL_HOST", "localhost"),
    "port": env_int("EMAIL_PORT", 25),
    "username": os.environ.get("EMAIL_HOST_USER", ""),
    "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
    "use_tls": env_bool("EMAIL_USE_TLS", False),
    "timeout": 10,
}
_mailer_options = {}
if EMAIL_BACKEND_PATH.endswith("smtp.EmailBackend"):
    _mailer_options = _smtp_options
elif EMAIL_BACKEND_PATH.endswith("filebased.EmailBackend"):
    _mailer_options = {
        "file_path": os.environ.get("EMAIL_FILE_PATH") or str(VAR_DIR / "mail")
    }
MAILERS = {
    "default": {
        "BACKEND": EMAIL_BACKEND_PATH,
        "OPTIONS": _mailer_options,
    }
}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "clinic-admin@localhost")

# Security. Cookies are secure and HSTS is on whenever DEBUG is off; a deployment
# behind a TLS-terminating proxy sets SECURE_PROXY_SSL_HEADER via the environment.
# Both cookies are HttpOnly: no script reads them (forms carry the CSRF token).
_https_only = not DEBUG and not SERVE_INSECURE_LOCAL
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = _https_only
CSRF_COOKIE_SECURE = _https_only
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _https_only)
SECURE_HSTS_SECONDS = 0 if DEBUG else env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Load balancers probe /healthz over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many proxies append to X-Forwarded-For in front of the app (with
# BEHIND_TLS_PROXY): the client address is the entry that many from the right.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1)

# Content-Security-Policy: scripts and styles only from our own static files.
# The nonce admits only the few inline blocks Django's admin marks with it; the
# project's own templates have no inline script, style or on* handler at all.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# Login throttling (django-axes): after AXES_FAILURE_LIMIT failed logins for one
# username from one address, that pair is locked out for LOGIN_LOCKOUT_MINUTES.
# Wider, shorter limits (clinic.security.LoginThrottleHandler): one username
# failing LOGIN_USERNAME_FAILURE_LIMIT times from any addresses, or one address
# failing LOGIN_ADDRESS_FAILURE_LIMIT times for any usernames, blocks that
# username (or address) until LOGIN_WIDE_LOCKOUT_MINUTES pass without failures,
# except where the username logged in from that address in the last
# LOGIN_KNOWN_ADDRESS_DAYS. Unlock early: `manage.py axes_reset_username
# USERNAME` or `manage.py axes_reset_ip ADDRESS`. Attempts live in the
# database, so every web process sees the same count.
AUTHENTICATION_BACKENDS = [
    "clinic.security.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "clinic.security.LoginThrottleHandler"
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 30))
LOGIN_USERNAME_FAILURE_LIMIT = env_int("LOGIN_USERNAME_FAILURE_LIMIT", 20)
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 20)
# Attempt records are kept LOGIN_LOCKOUT_MINUTES after their last failure: the
# wider window cannot be longer.
LOGIN_WIDE_LOCKOUT_MINUTES = min(
    env_int("LOGIN_WIDE_LOCKOUT_MINUTES", 10),
    int(AXES_COOLOFF_TIME.total_seconds() // 60),
)
LOGIN_KNOWN_ADDRESS_DAYS = env_int("LOGIN_KNOWN_ADDRESS_DAYS", 90)
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "clinic.security.client_ip_address"
AXES_LOCKOUT_CALLABLE = "clinic.security.lockout_response"
# Operators need the username and address in the log to unlock the right pair;
# the password is always masked (AXES_PASSWORD_FORM_FIELD).
AXES_SENSITIVE_PARAMETERS = []

# CSV imports: uploads larger than this are refused with a message; confirmed
# imports with more rows than the threshold run in the task worker, not in the
# browser's request.
IMPORT_MAX_UPLOAD_BYTES = env_int("IMPORT_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
IMPORT_BACKGROUND_ROWS = env_int("IMPORT_BACKGROUND_ROWS", 5000)
# A stored file nobody confirmed (or could not confirm) is dropped after this;
# a run "running" longer than the limit was left by a stopped process and is
# marked failed. The task worker checks both every IMPORT_SWEEP_SECONDS.
IMPORT_PREVIEW_KEEP_HOURS = env_int("IMPORT_PREVIEW_KEEP_HOURS", 24)
IMPORT_RUN_TIME_LIMIT_SECONDS = env_int("IMPORT_RUN_TIME_LIMIT_SECONDS", 2 * 3600)
IMPORT_SWEEP_SECONDS = env_int("IMPORT_SWEEP_SECONDS", 300)
# What a spreadsheet or JSON file may hold before it is refused: each default
# is in doctors/importing/readers/limits.py, with what it bounds;
# IMPORT_READER_MAX_<NAME> in the environment overrides one (IMPORT_READER_MAX_ROWS).
IMPORT_READER_LIMITS = {
    name.removeprefix("IMPORT_READER_MAX_").lower(): int(value)
    for name, value in os.environ.items()
    if name.startswith("IMPORT_READER_MAX_")
}
# Spreadsheets and JSON files are read in a separate process with these limits
# on its memory (address space) and CPU time: a file that needs more is
# refused, and the web or task worker carries on. IMPORT_READER_SANDBOX=false
# reads them in the calling process (only to measure what the process costs).
IMPORT_READER_MEMORY_MB = env_int("IMPORT_READER_MEMORY_MB", 1024)
IMPORT_READER_CPU_SECONDS = env_int("IMPORT_READER_CPU_SECONDS", 60)
IMPORT_READER_SANDBOX = env_bool("IMPORT_READER_SANDBOX", True)

# The history chain and erasure (docs/history-and-erasure.md). HISTORY_CHAIN off
# only to measure what the chain costs: history written meanwhile no longer
# verifies. The replay file lists erasures outside the database, so a restore
# from an older backup can erase those doctors again (manage.py
# replay_erasures): keep it on storage that outlives the database's backups.
# PERSONAL_DATA_RETENTION_DAYS (0: off) has the task worker erase doctors who
# have been inactive and in no department for longer than that.
HISTORY_CHAIN = env_bool("HISTORY_CHAIN", True)
ERASURE_REPLAY_FILE = os.environ.get("ERASURE_REPLAY_FILE") or str(
    VAR_DIR / "erasures.jsonl"
)
PERSONAL_DATA_RETENTION_DAYS = env_int("PERSONAL_DATA_RETENTION_DAYS", 0)

# Admin lists of doctors are long: keep pages moderate and counting cheap.
ADMIN_LIST_PER_PAGE = 100

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        # Django's own format for the development server's request lines.
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "filters": {
        "rate_limited": {
            "()": "clinic.logging.RateLimitFilter",
            "interval": CACHE_ERROR_LOG_INTERVAL,
        },
        # Every handler: values users typed (usernames, paths, names) cannot
        # start a new line, whichever logger writes them (ours, axes, Django).
        "one_line": {"()": "clinic.logging.EscapeLineBreaksFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["one_line"],
        },
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["one_line"],
        },
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        # Replaces Django's default "django" handler, which would print every
        # record a second time in DEBUG next to the root handler.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {
            "handlers": ["django.server"],
            "level": "INFO",
            "propagate": False,
        },
        "clinic": {"level": os.environ.get("LOG_LEVEL", "INFO")},
        "doctors": {"level": os.environ.get("LOG_LEVEL", "INFO")},
        # Redis trouble repeats on every request: log it once per kind a minute.
        "clinic.cache": {"filters": ["rate_limited"]},
        "django_tasks_db": {"level": "INFO"},
        # Failed logins and lockouts are warnings; successes are not logged.
        "axes": {"level": "WARNING"},
    },
}

# Dates the clinic accepts (joining dates, "members on" a date): anything
# outside is a typing mistake, and far dates overflow date arithmetic.
CLINIC_EARLIEST_DATE = env_date("CLINIC_EARLIEST_DATE", "1900-01-01")
CLINIC_LATEST_DATE = env_date("CLINIC_LATEST_DATE", "2200-12-31")
if CLINIC_EARLIEST_DATE > CLINIC_LATEST_DATE:
    raise ImproperlyConfigured(
        "CLINIC_EARLIEST_DATE must not be after CLINIC_LATEST_DATE"
    )
