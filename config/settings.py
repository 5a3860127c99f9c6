"""SeedTrack settings: one module, everything that differs between machines comes from the environment.

Production is the default: DEBUG is off unless ``DEBUG=1`` is set, and then a real ``SECRET_KEY`` and
``ALLOWED_HOSTS`` are required (a missing one stops ``manage.py`` / ``config/wsgi.py`` with one line, see
config/env.py::StartupError); ``manage.py check --deploy`` stays silent (tests/test_settings.py). ``make run`` sets
the demo's development values itself; the test suite gets the same ones from tests/settings.py.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

from config.database import with_server_options
from config.env import StartupError, env_bool, env_int, env_list, env_str
from config.protocol import load_protocol

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

# The committed development key: only ever used with DEBUG on (make run, the test suite).
DEV_SECRET_KEY = "dev-only-secret-key-not-for-production-use-0123456789abcdef"
SECRET_KEY = env_str("SECRET_KEY")
if not DEBUG and not SECRET_KEY:
    raise StartupError("SECRET_KEY is not set; production (DEBUG off) needs it")
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise StartupError("SECRET_KEY is the committed development key; production (DEBUG off) needs its own")
SECRET_KEY = SECRET_KEY or DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise StartupError(
        "ALLOWED_HOSTS is not set; production (DEBUG off) needs the host names it is served under, comma-separated"
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Demo mode (the demo cohort and its users, "synthetic data, no real patients" in every page footer) is asked for
# explicitly: make run sets SEEDTRACK_DEMO=1; it is never implied by DEBUG.
DEMO_MODE = env_bool("SEEDTRACK_DEMO", False)

# History change reasons (deletion, override and sign-off reasons) are stored whole: a text column, not
# django-simple-history's default 100-character one (PostgreSQL refused longer reasons; SQLite kept them).
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "django_filters",
    "simple_history",
    "axes",
    "csp",
    "registry",
    "assessment",
    "dosimetry",
    "reports",
]
# The demo app (generators, synthetic DICOM, manage.py load_demo_cohort) is installed only in demo mode.
if DEMO_MODE:
    INSTALLED_APPS.append("demo")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise, so static files keep their cache headers and get no policy; everything else gets both.
    "config.headers.NoStoreMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Upload limits before CSRF, whose process_view parses the body (config/upload_limits.py).
    "config.upload_limits.UploadLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # A temporary password (issued by a data manager) must be replaced before anything else.
    "registry.middleware.PasswordChangeRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # AxesMiddleware last, as django-axes asks.
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy (django-csp): scripts, styles, images and fetches from this site only — no inline
# script or style, no framing, forms post only here. Templates keep their JavaScript in static/*.js.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "registry.context_processors.seedtrack",
            ],
        },
    },
]

# SQLite gets WAL, immediate transactions and a busy timeout so concurrent saves queue instead of failing with
# "database is locked" (config/database.py); PostgreSQL is left as dj-database-url configures it.
# SQLITE_SERVER_OPTIONS=0 turns them off (only bench/concurrency.py does, to measure what they change).
_DATABASE = dj_database_url.config(
    default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
    conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
)
if env_bool("SQLITE_SERVER_OPTIONS", True):
    _DATABASE = with_server_options(_DATABASE, sqlite_timeout_s=env_int("SQLITE_TIMEOUT_S", 20))
DATABASES = {"default": _DATABASE}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"  # role-based: nurses land on the worklist
LOGOUT_REDIRECT_URL = "login"

# Login throttling (django-axes): lock a username+IP pair after AXES_FAILURE_LIMIT failures for AXES_COOLOFF_HOURS.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

# Session expiry: idle sessions end after SESSION_IDLE_MINUTES (renewed on every request) and at browser close.
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_MINUTES", 30) * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "media/"
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

if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SeedTrack API",
    "DESCRIPTION": "Registry of 125I seed implantation for RAI-refractory differentiated thyroid cancer.",
    "VERSION": "0.1.0",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
}

# Clinical protocol thresholds (defaults documented in config/protocol.py).
SEEDTRACK_PROTOCOL = load_protocol(env_str("SEEDTRACK_PROTOCOL_FILE") or None)

# --- Task queue (Celery, config/celery.py) and the shared cache ---------------------------------------------------
# DICOM imports and `manage.py recompute` run as Celery tasks. With CELERY_BROKER_URL set (Redis,
# e.g. redis://127.0.0.1:6379/0) they go to the broker and `make worker` runs them; without it they run in the
# process that asks for them (task_always_eager), so `make run` and `make test` need no Redis.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or None
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
# Results are kept only for the tasks that report one (recompute's per-patient outcome), in the broker's Redis.
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or CELERY_BROKER_URL
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged when it ends, not when it starts: a worker killed mid-task leaves it to be delivered
# again (after the visibility timeout) to another worker. Tasks are written to run twice safely.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # seconds after which a delivered, unacknowledged task (its worker died) is handed to another worker; longer
    # than any import runs
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_S", 3600),
    # look for such tasks every 10 s (kombu's interval) on every sweep, not on every tenth
    "unacked_restore_throttle": 1,
}
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "seedtrack")

# Django's cache: Redis (django-redis) when REDIS_URL is set, so every web process shares it (the dashboard's
# built cohort, keyed by registry/dataversion.py); this process's memory otherwise.
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "seedtrack")}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "seedtrack"}}
DATA_UPLOAD_MAX_NUMBER_FILES = 500

# --- Files: upload limits and hostile DICOM files (issue 10, config/upload_limits.py, dosimetry/dicom_io.py) ---
# A seed plan's RT Dose is a few MB, a CT-less RT export tens of MB. Requests over UPLOAD_MAX_REQUEST_MB are
# refused with 413 before the body is read; a file over UPLOAD_MAX_FILE_MB is dropped while it streams.
UPLOAD_MAX_FILE_MB = env_int("UPLOAD_MAX_FILE_MB", 64)
UPLOAD_MAX_REQUEST_MB = env_int("UPLOAD_MAX_REQUEST_MB", 256)
FILE_UPLOAD_HANDLERS = ["config.upload_limits.LimitedUploadHandler"]  # files stream to temporary files
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # Django's default 2.5 MB (unused by the handler above)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # the non-file part of a request (Django's default)
# DICOM files are classified from their headers; one declaring more pixel data, or a deflated one inflating to
# more, than these is refused (the inflation is counted in bounded chunks, in the import job only).
DICOM_MAX_PIXEL_BYTES = env_int("DICOM_MAX_PIXEL_BYTES", 512 * 1024 * 1024)
DICOM_MAX_INFLATED_BYTES = env_int("DICOM_MAX_INFLATED_BYTES", 512 * 1024 * 1024)
# A running import whose heartbeat is older than this is marked failed (its process stopped); it can be retried.
# With a broker the visibility timeout is added: until then the broker hands the task to another worker.
DICOM_IMPORT_STALE_SECONDS = env_int("DICOM_IMPORT_STALE_SECONDS", 120)
