"""One settings module, driven by environment variables.

With nothing set, the app runs on SQLite in ``./data``, stores files on local disk and runs
Celery tasks eagerly in-process, so ``make demo`` works on a fresh machine. Production parts
switch on by variable (see README "Configuration"). A malformed value stops start-up with
``ImproperlyConfigured`` naming the variable, rather than running with a silent default.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from omni_annotate.broker import broker_options

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true/false, 1/0, yes/no or on/off.")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}.")
    return value


def env_url(name: str, schemes: set[str]) -> str:
    raw = env_str(name)
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not parts.hostname:
        allowed = ", ".join(sorted(schemes))
        raise ImproperlyConfigured(f"{name}={raw!r} is not a URL with a host and one of the schemes: {allowed}.")
    return raw


DATA_DIR = Path(env_str("OMNI_DATA_DIR") or BASE_DIR / "data")

DEBUG = env_bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false.")
    SECRET_KEY = "dev-only-insecure-key-set-DJANGO_SECRET_KEY-in-production"  # noqa: S105 -- DEBUG only
ALLOWED_HOSTS = [h.strip() for h in env_str("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env_str("DJANGO_CSRF_TRUSTED_ORIGINS").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "media_pipeline",
    "annotations",
    "releases",
    "judges",
    "criteria",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "omni_annotate.urls"
WSGI_APPLICATION = "omni_annotate.wsgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    try:
        _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))
    except (ValueError, dj_database_url.UnknownSchemeError) as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL Django understands: {exc}") from None
    if _db["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            f"DATABASE_URL must be a postgres:// URL (got engine {_db['ENGINE']}); leave it unset for SQLite."
        )
    if not _db.get("NAME"):
        raise ImproperlyConfigured("DATABASE_URL names no database (expected postgres://user@host:5432/dbname).")
    _db["CONN_HEALTH_CHECKS"] = True
    # A database host that went away answers nothing: without a limit a request waits for the TCP
    # retries (minutes) instead of answering 503 "try again" (a connect_timeout in the URL wins).
    _db.setdefault("OPTIONS", {}).setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5))
    DATABASES = {"default": _db}
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "omni_annotate.sqlite3"),
            # A curator's import holds the write lock for a while; readers should wait, not fail. WAL lets a
            # long read (a release build streaming its pairs) run beside writers instead of blocking them.
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "annotations:project_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Files ----------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("OMNI_MEDIA_ROOT") or DATA_DIR / "media")
MEDIA_URL = "media/"

S3_BUCKET = env_str("S3_BUCKET")
S3_ENDPOINT_URL = env_url("S3_ENDPOINT_URL", {"http", "https"})
if S3_BUCKET:
    _s3_key, _s3_secret = env_str("S3_ACCESS_KEY_ID"), env_str("S3_SECRET_ACCESS_KEY")
    if bool(_s3_key) != bool(_s3_secret):
        raise ImproperlyConfigured("S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set together.")
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": S3_ENDPOINT_URL or None,
            "access_key": _s3_key or None,
            "secret_key": _s3_secret or None,
            "region_name": env_str("S3_REGION", "us-east-1"),
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": env_int("S3_URL_EXPIRE_SECONDS", 300, minimum=1),
            "file_overwrite": True,
            "addressing_style": env_str("S3_ADDRESSING_STYLE", "path"),
            "signature_version": "s3v4",
        },
    }
elif S3_ENDPOINT_URL:
    raise ImproperlyConfigured("S3_ENDPOINT_URL is set but S3_BUCKET is not; set both to use S3 storage.")
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}

STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Uploads above this are refused with a message; larger releases go through `manage.py import_pairs`.
OMNI_IMPORT_MAX_UPLOAD_MB = env_int("OMNI_IMPORT_MAX_UPLOAD_MB", 2048, minimum=1)
# An archive may not unpack to more than this, nor hold more members (zip bombs).
OMNI_IMPORT_MAX_UNPACKED_MB = env_int("OMNI_IMPORT_MAX_UNPACKED_MB", 20480, minimum=1)
OMNI_IMPORT_MAX_ARCHIVE_MEMBERS = env_int("OMNI_IMPORT_MAX_ARCHIVE_MEMBERS", 200_000, minimum=1)
# One media file may not exceed this.
OMNI_MEDIA_MAX_FILE_MB = env_int("OMNI_MEDIA_MAX_FILE_MB", 1024, minimum=1)
# Background jobs (core.jobs): a run owns its job for the lease and renews it every third of it; a
# job whose worker died is queued again by the sweep (Celery beat, every JOB_SWEEP_SECONDS) once its
# lease ran out, so a lost worker costs at most the lease plus one sweep interval.
MEDIA_LEASE_SECONDS = env_int("MEDIA_LEASE_SECONDS", 60, minimum=2)
IMPORT_LEASE_SECONDS = env_int("IMPORT_LEASE_SECONDS", 60, minimum=2)
RELEASE_LEASE_SECONDS = env_int("RELEASE_LEASE_SECONDS", 60, minimum=2)
# A judge run's lease is renewed while it waits on the endpoint too, so it need not outlast a slow call.
JUDGE_LEASE_SECONDS = env_int("JUDGE_LEASE_SECONDS", 120, minimum=2)
STATS_LEASE_SECONDS = env_int("STATS_LEASE_SECONDS", 60, minimum=2)
JOB_LEASE_SECONDS = {
    "media": MEDIA_LEASE_SECONDS,
    "import": IMPORT_LEASE_SECONDS,
    "release": RELEASE_LEASE_SECONDS,
    "judge": JUDGE_LEASE_SECONDS,
    "stats": STATS_LEASE_SECONDS,
}
# The Agreement page's per-annotator table (kappa needs every vote) is computed by a background job;
# the page queues a new one once votes changed and the shown one is at least this old, so a busy
# project costs the worker at most one full read of its votes per this interval.
ANNOTATOR_STATS_REFRESH_SECONDS = env_int("ANNOTATOR_STATS_REFRESH_SECONDS", 60, minimum=1)
JOB_SWEEP_SECONDS = env_int("JOB_SWEEP_SECONDS", max(1, min(JOB_LEASE_SECONDS.values()) // 2), minimum=1)
# Where runs keep their scratch folders (the system's temp folder by default); the sweep removes dead runs'.
JOB_TEMP_DIR = env_str("OMNI_JOB_TEMP_DIR") or None
# Besides OMNI_JUDGE_*, the environment variables a judge may read its API key from (comma-separated).
JUDGE_API_KEY_ENVS = [name.strip() for name in os.environ.get("JUDGE_API_KEY_ENVS", "").split(",") if name.strip()]
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = env_str("OMNI_UPLOAD_TEMP_DIR") or None

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env_url("CELERY_BROKER_URL", {"redis", "rediss"})
CELERY_RESULT_BACKEND = env_url("CELERY_RESULT_BACKEND", {"redis", "rediss"}) or CELERY_BROKER_URL or None
# Without a broker URL, jobs still run in a real worker (the embedded default, `make demo` starts it):
# the broker is a folder under OMNI_DATA_DIR, through kombu's file-system transport (omni_annotate/broker.py
# says why not SQL). EMBEDDED_BROKER tells the two apart; a configured Redis that is down makes sending a
# job fail, as it should, instead of falling back to the folder.
EMBEDDED_BROKER = not CELERY_BROKER_URL
if EMBEDDED_BROKER:
    CELERY_BROKER_URL = "filesystem://localhost/"  # the host names nothing (kombu warns without one)
    CELERY_BROKER_TRANSPORT = "omni_annotate.broker:Transport"
# Jobs run inside the caller only where asked (the unit tests do); never by default.
CELERY_TASK_ALWAYS_EAGER = env_bool("OMNI_JOBS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A queue per job kind, so operators give ffmpeg work and network-bound judge runs their own workers;
# `default` carries the sweep. A worker started without -Q consumes them all (the one-machine case).
CELERY_TASK_QUEUES = [Queue(name) for name in ("media", "import", "release", "stats", "judge", "default")]
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "media_pipeline.process_asset": {"queue": "media"},
    "annotations.import_job_run": {"queue": "import"},
    "releases.build": {"queue": "release"},
    "releases.annotator_stats": {"queue": "stats"},
    "judges.run": {"queue": "judge"},
}
CELERY_BEAT_SCHEDULE = {"sweep-jobs": {"task": "core.sweep_jobs", "schedule": float(JOB_SWEEP_SECONDS)}}
# Redis hands an unacknowledged message (its worker died) to another worker after this. The sweep
# already re-sends such jobs after their lease; this only bounds how long Redis keeps the message,
# and a second delivery is harmless (the lease refuses it while a live run holds the job).
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 2 * max(JOB_LEASE_SECONDS.values()), minimum=10)
}
if EMBEDDED_BROKER:
    CELERY_BROKER_TRANSPORT_OPTIONS = broker_options(DATA_DIR / "broker")
    # One worker on one machine: no other workers to gossip or sync with, no remote control to poll for.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
    CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# Live progress of long jobs (imports) lives in the cache: web and worker must share it (in the embedded
# default, a folder both processes read).
CACHE_URL = env_url("CACHE_URL", {"redis", "rediss"}) or ("" if EMBEDDED_BROKER else CELERY_BROKER_URL)
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }

# Sessions are read from the cache on every request, and written through to the database: a database
# read and signature check cost the web process 0.8 ms per request, a cache hit 0.05 ms (file) to
# 0.35 ms (Redis) (docs/benchmarks.md). A session the cache lost is read from the database again.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE


# --- Security headers (CSP, HSTS, HTTPS redirect) -------------------------------------------
# Pages show uploaded media and text, so the browser is told where anything active may come from:
# scripts, styles and workers only from this app; images, audio/video and fetches also from the
# media host (on S3, /media-files/ redirects to a presigned URL there). No inline scripts or
# handlers anywhere (tests/test_security_headers.py scans templates/); behaviour lives in static/js.
def _media_origins() -> list[str]:
    """The origins presigned media URLs point at: what default_storage.url() returns on S3."""
    if not S3_BUCKET:
        return []  # local disk: files come from /media-files/ on this origin
    style = env_str("S3_ADDRESSING_STYLE", "path")
    if S3_ENDPOINT_URL:
        parts = urlsplit(S3_ENDPOINT_URL)
        scheme, host = parts.scheme, parts.netloc
    else:  # AWS: us-east-1 answers on the global name
        region = env_str("S3_REGION", "us-east-1")
        scheme, host = "https", "s3.amazonaws.com" if region == "us-east-1" else f"s3.{region}.amazonaws.com"
    origins = [f"{scheme}://{host}"]
    if style == "virtual":  # botocore keeps path style for an IP endpoint, so both forms are allowed
        origins.append(f"{scheme}://{S3_BUCKET}.{host}")
    return origins


CSP_MEDIA_ORIGINS = _media_origins()
INSTALLED_APPS += ["csp"]
# Right after SecurityMiddleware, so every response gets the header: static files, 403/404/429 pages.
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        # wavesurfer draws inside a shadow root whose <style> element is built at run time (its
        # min-height follows the player's height), so a hash would break on any option change: pages
        # with the audio player hand it this request's nonce (viewers.js reads it from its own
        # <script nonce>). Pages that never read request.csp_nonce send plain 'self'.
        "style-src": [SELF, NONCE],
        "img-src": [SELF, *CSP_MEDIA_ORIGINS],
        "media-src": [SELF, *CSP_MEDIA_ORIGINS],
        # blob: for the 3D viewer: three.js's GLTFLoader hands a GLB's embedded textures (real generators'
        # meshes have them) to fetch() as blob: URLs of the page's own making, to decode them as ImageBitmaps.
        "connect-src": [SELF, "blob:", *CSP_MEDIA_ORIGINS],
        "font-src": [SELF],
        "worker-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
# HTTPS, for deployments behind TLS: all off by default so plain-HTTP runs (demo, compose on a laptop)
# keep working. DJANGO_BEHIND_TLS_PROXY trusts X-Forwarded-Proto, which the proxy must set and strip
# from clients; without a proxy the header would be forged at will, so it is never trusted by default.
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", default=False)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", default=False)
if env_bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if SECURE_HSTS_PRELOAD and not (SECURE_HSTS_SECONDS >= 31536000 and SECURE_HSTS_INCLUDE_SUBDOMAINS):
    raise ImproperlyConfigured(
        "DJANGO_HSTS_PRELOAD=true needs DJANGO_HSTS_SECONDS >= 31536000 and DJANGO_HSTS_INCLUDE_SUBDOMAINS=true "
        "(the preload list refuses anything less)."
    )
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# --- Sign-in rate limiting (django-axes) ----------------------------------------------------
# Failures are counted per username *and* address together: a guesser is locked out of the
# account it is guessing from the address it guesses from, but cannot lock everybody out by
# spraying usernames, nor lock a person out of their own account from somewhere else.
# The database handler keeps one count for all gunicorn workers (the default locmem cache
# would give each worker its own limit) and lists the attempts in the admin.
INSTALLED_APPS += ["axes"]
# Last, so it turns the lock-out flag the backend sets during authenticate() into the 429 page.
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
# Every authenticate() must now pass `request`; DRF token auth never calls authenticate().
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env_int("OMNI_LOGIN_FAILURE_LIMIT", 5, minimum=1)
# A failure during the lock-out restarts it (axes' default), so "try again in N minutes" stays true.
AXES_COOLOFF_TIME = timedelta(minutes=env_int("OMNI_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False  # no banner on every manage.py run; lock-outs are still logged
# The address is REMOTE_ADDR (django-ipware is not installed): gunicorn faces clients directly in
# docker-compose.yml, and an X-Forwarded-For header would be forged at will without a proxy.

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # enforces CSRF for browser sessions
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Omni-Annotate API",
    "DESCRIPTION": "Everything the pages do, for scripts: projects, pairs, the annotator queue, agreement, "
    "gate rules, adjudication, releases, model judges and the leaderboard. Authenticate with "
    "`Authorization: Token <key>` (`manage.py drf_create_token <user>`) or a browser session.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI and Redoc from the sidecar package: the docs page works offline, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `kind`: name each choice set after its model's enum.
    "ENUM_NAME_OVERRIDES": {
        "PairKindEnum": "annotations.models.PairKind",
        "MediaKindEnum": "media_pipeline.models.MediaKind",
        "JudgeKindEnum": "judges.models.JudgeKind",
        "SkipKindEnum": "annotations.models.SkipKind",
        "TaskEnum": "annotations.models.Task",
    },
}

# Everything goes to the console, once. Expected refusals (403, 404, 429, and 400 for a bad host)
# are one line with status, method, path and user id, not a traceback (annotations.errors.RefusalFilter);
# a 500 keeps its traceback. Naming "django" drops Django's default handlers, which would print every
# django.* record a second time under DEBUG (and mail_admins has no ADMINS to write to).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"refusals": {"()": "annotations.errors.RefusalFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["refusals"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"level": "INFO"},
        "django.db.backends": {"level": "INFO"},
        "django.request": {"filters": ["refusals"]},
        "django.security.csrf": {"filters": ["refusals"]},
    },
}

# --- Health checks --------------------------------------------------------------------------
# /health/live (the process answers) and /health/ready (database, broker, storage), see
# omni_annotate/health.py. Probes come over plain HTTP from inside the container or the host, so
# an HTTPS redirect (DJANGO_SSL_REDIRECT) must not answer them with a 301 to a port nobody serves.
INSTALLED_APPS += ["health_check"]
SECURE_REDIRECT_EXEMPT = [r"^health/"]
