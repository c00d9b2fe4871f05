"""vioip settings: everything that varies between deployments comes from the environment.

See ``.env.example`` for every variable. With ``VIOIP_DEBUG=1`` and nothing else set, the
project runs on the embedded default: SQLite, the in-memory channel layer, and local key
files under ``var/`` (never committed).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from vioip.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_str,
    env_url,
    local_secret,
)

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = Path(env_str("VIOIP_LOCAL_DIR") or BASE_DIR / "var")

DEBUG = env_bool("VIOIP_DEBUG", False)

SECRET_KEY = env_str("VIOIP_SECRET_KEY") or ""
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "VIOIP_SECRET_KEY is not set. Set it (or VIOIP_SECRET_KEY_FILE) for a deployment, "
            "or set VIOIP_DEBUG=1 to run the embedded default on this machine only."
        )
    SECRET_KEY = local_secret(LOCAL_DIR / "secret_key", make="token")

ALLOWED_HOSTS = env_list(
    "VIOIP_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)

INSTALLED_APPS = [
    "daphne",
    # Before django.contrib.auth: its audited createsuperuser replaces Django's.
    "vioip.accounts",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "vioip.core",
    "vioip.audit",
    "groups",
    "groups.notes",
    "sessions_app",
    "sessions_app.rooms",
    "sessions_app.attendance",
    "screening",
    "web",
]

MIDDLEWARE = [
    # First: forwarded headers from a peer that is not a trusted proxy are dropped before
    # anything (the HTTPS redirect, the audit context) reads them.
    "vioip.core.middleware.TrustedProxyMiddleware",
    "vioip.core.middleware.RequestIdMiddleware",
    # /healthz and /readyz from a container's own probe (127.0.0.1, plain HTTP): answered
    # before the HTTPS redirect and the host check, which every other path still meets.
    "vioip.core.health.HealthProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (the web client's modules and styles) straight from daphne.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Outside the others, so errors they answer carry the header too.
    "vioip.core.no_store.NoStoreApiMiddleware",
    # Django's own error pages (debug pages included) as the API's JSON error body; inside
    # NoStoreApiMiddleware so the replacements carry its headers too.
    "vioip.core.errors.JsonErrorMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "vioip.urls"
# No redirect of a POST to the path with a slash (its body would be lost, and debug mode
# answers it with a 500): JsonErrorMiddleware redirects GET and HEAD and names the right
# path to the others.
APPEND_SLASH = False
ASGI_APPLICATION = "vioip.asgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# --- Database --------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{LOCAL_DIR / 'vioip.sqlite3'}"
# Off by default, as Django advises under ASGI: every HTTP request runs on a thread of its
# own, so a kept connection is never reused, only left open (a burst of requests held more
# than PostgreSQL's 100). The few room database threads keep theirs anyway
# (sessions_app/rooms/threads.py): reconnecting on every room call cost ~24 ms a frame.
DB_CONN_MAX_AGE = env_int("VIOIP_DB_CONN_MAX_AGE", 0, minimum=0)
try:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=DB_CONN_MAX_AGE, conn_health_checks=True
        )
    }
except Exception:  # dj_database_url raises several types for a bad URL
    # Not chained: the parser's message may quote the URL, password included.
    raise ImproperlyConfigured("DATABASE_URL is not a valid database URL.") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # WAL and a busy timeout let the room consumer and HTTP requests write together.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(LOCAL_DIR / "test.sqlite3")}
# The planner's cost of reading a page out of order, set on every PostgreSQL connection.
# The server's default (4) is for spinning disks; vioip's rows are few and cached, and with
# 4 the planner scanned a whole table where an index gives a few rows: room.state's latest
# messages were joined to their senders by hashing every user (1.4 ms a query; 0.07 ms
# with 1.1, bench/NOTES.md, tenth round). 1.1 is the usual value for SSDs and cached data.
# Set per connection, so a managed server's default does not apply; 0 leaves the server's.
DB_RANDOM_PAGE_COST = env_float("VIOIP_DB_RANDOM_PAGE_COST", 1.1, minimum=0.0, maximum=100.0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DB_RANDOM_PAGE_COST:
    _db_options = DATABASES["default"].setdefault("OPTIONS", {})
    _db_options["options"] = " ".join(
        part
        for part in (_db_options.get("options", ""), f"-c random_page_cost={DB_RANDOM_PAGE_COST:g}")
        if part
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, cache, presence ------------------------------------------------
REDIS_URL = env_url("REDIS_URL", schemes=["redis", "rediss", "unix"]) or ""
REDIS_MAX_CONNECTIONS = env_int("VIOIP_REDIS_MAX_CONNECTIONS", 200, minimum=10)
CHANNEL_LAYERS: dict[str, Any]
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # One PUBLISH per group send; measured cheaper than the core layer and without
            # its per-process capacity drops. Delivery is at-most-once either way: rooms
            # recover from the database (seq + history), never from the layer.
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # redis-py 8 times idle reads out after 5 s otherwise.
                        "socket_timeout": None,
                        "max_connections": REDIS_MAX_CONNECTIONS,
                    }
                ],
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "vioip",
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            # A process's room events share one channel (sessions_app/rooms/fanout.py);
            # the default of 100 waiting messages would drop a burst.
            "CONFIG": {"capacity": 10_000},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Keys for clinical data ------------------------------------------------------------------
_field_keys = env_list("VIOIP_FIELD_KEYS", [])
if not _field_keys:
    if not DEBUG:
        raise ImproperlyConfigured(
            "VIOIP_FIELD_KEYS is not set: give one or more comma-separated Fernet keys "
            "(the first encrypts, all decrypt)."
        )
    _field_keys = [local_secret(LOCAL_DIR / "field.key", make="fernet")]
for _key in _field_keys:
    try:
        Fernet(_key)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "VIOIP_FIELD_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)."
        ) from exc
FIELD_ENCRYPTION_KEYS = _field_keys

AUDIT_KEY = env_str("VIOIP_AUDIT_KEY") or ""
if not AUDIT_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("VIOIP_AUDIT_KEY is not set: it keys the audit chain's HMAC.")
    AUDIT_KEY = local_secret(LOCAL_DIR / "audit.key", make="token")
if len(AUDIT_KEY) < 32:
    raise ImproperlyConfigured("VIOIP_AUDIT_KEY must be at least 32 characters.")

# --- Authentication -------------------------------------------------------------------------
TOKEN_IDLE_MINUTES = env_int("VIOIP_TOKEN_IDLE_MINUTES", 15, minimum=1)
TOKEN_MAX_HOURS = env_int("VIOIP_TOKEN_MAX_HOURS", 12, minimum=1)
# Login throttling (vioip/accounts/throttle.py). Tight limits per (username, address) and
# per address in a window; per username (any address) only growing, capped delays, so
# nobody can lock another person out for long.
LOGIN_FAILURE_WINDOW_MINUTES = env_int("VIOIP_LOGIN_FAILURE_WINDOW_MINUTES", 15, minimum=1)
LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS = env_int(
    "VIOIP_LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS", 5, minimum=1
)
LOGIN_FAILURES_PER_ADDRESS = env_int("VIOIP_LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1)
LOGIN_FAILURES_PER_USERNAME = env_int("VIOIP_LOGIN_FAILURES_PER_USERNAME", 10, minimum=1)
LOGIN_USERNAME_DELAY_SECONDS = env_int("VIOIP_LOGIN_USERNAME_DELAY_SECONDS", 1, minimum=1)
LOGIN_USERNAME_DELAY_MAX_SECONDS = env_int("VIOIP_LOGIN_USERNAME_DELAY_MAX_SECONDS", 60, minimum=1)

# Second factors (vioip/accounts/mfa.py). Users of these roles must have one: without it a
# login gives a token that can only enrol one. Empty on the embedded default so the README's
# examples work with a password alone.
_ROLES = {"patient", "facilitator", "clinician", "admin", "auditor"}
MFA_REQUIRED_ROLES = env_list(
    "VIOIP_MFA_REQUIRED_ROLES", [] if DEBUG else ["admin", "auditor", "clinician", "facilitator"]
)
if set(MFA_REQUIRED_ROLES) - _ROLES:
    raise ImproperlyConfigured(
        f"VIOIP_MFA_REQUIRED_ROLES names unknown roles: {sorted(set(MFA_REQUIRED_ROLES) - _ROLES)}"
        f"; the roles are {sorted(_ROLES)}."
    )
# Passkeys: the relying-party id (a domain) defaults to the first ALLOWED_HOSTS entry that is
# neither a wildcard nor an IP address; the accepted origins default to the request's own
# scheme and host when that host is the RP id or under it.
WEBAUTHN_RP_ID = env_str("VIOIP_WEBAUTHN_RP_ID") or ""
WEBAUTHN_ORIGINS = env_list("VIOIP_WEBAUTHN_ORIGINS", [])

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- HTTP security ---------------------------------------------------------------------------
SECURE_SSL_REDIRECT = env_bool("VIOIP_SSL_REDIRECT", not DEBUG)
# Believed only from a trusted proxy: TrustedProxyMiddleware drops it from anyone else.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


def _trusted_proxies() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for value in env_list("VIOIP_TRUSTED_PROXIES", []):
        try:
            networks.append(ipaddress.ip_network(value))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"VIOIP_TRUSTED_PROXIES holds {value!r}, which is not an address or a CIDR "
                "network (e.g. 10.0.0.0/8, 192.0.2.7, fd00::/8)."
            ) from exc
    return networks


# Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (default: none).
TRUSTED_PROXIES = _trusted_proxies()
SECURE_HSTS_SECONDS = 0 if DEBUG else env_int("VIOIP_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "no-referrer"
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env_list("VIOIP_CSRF_TRUSTED_ORIGINS", [])

# --- I18N / time -----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Served from the apps' static folders as they are (whitenoise finds them at start), so no
# deployment runs collectstatic; a STATIC_ROOT that no step fills only made whitenoise warn
# about a missing folder on every start.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True

# --- REST ------------------------------------------------------------------------------------
# The largest request body accepted, in KiB (a longer one is answered 413 with the standard
# error body). The largest real body, a progress note, stays well under 100 KiB.
MAX_REQUEST_BODY_KIB = env_int("VIOIP_MAX_REQUEST_BODY_KIB", 1024, minimum=64)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_KIB * 1024
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["vioip.accounts.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "vioip.core.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "vioip.core.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["vioip.core.filters.FilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "vioip.core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "vioip.core.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "vioip API",
    "DESCRIPTION": "Virtual Intensive Outpatient Programs: cohorts, sessions, live rooms, "
    "confidential notes and screening. Every response about a patient is PHI.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Swagger UI and Redoc from the package (drf-spectacular-sidecar), never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "kind", "status", "role" or "reason": give each its own name.
    "ENUM_NAME_OVERRIDES": {
        "UserRoleEnum": "vioip.accounts.models.Role",
        "StaffRoleEnum": "groups.models.StaffRole",
        "CohortStatusEnum": "groups.models.CohortStatus",
        "EnrollmentStatusEnum": "groups.models.EnrollmentStatus",
        "DischargeReasonEnum": "groups.models.DischargeReason",
        "SessionKindEnum": "sessions_app.models.SessionKind",
        "SessionStatusEnum": "sessions_app.models.SessionStatus",
        "ParticipantStateEnum": "sessions_app.rooms.models.ParticipantState",
        "NoteKindEnum": "groups.notes.models.NoteKind",
        "NoteStatusEnum": "groups.notes.models.NoteStatus",
        "NoteFormatEnum": "groups.notes.models.NoteFormat",
        "RiskLevelEnum": "groups.notes.models.RiskLevel",
        "ScreeningReasonEnum": "screening.models.Reason",
        "TestStatusEnum": "screening.models.TestStatus",
        "AuditOutcomeEnum": "vioip.audit.models.Outcome",
    },
    # Schema warnings are checked by the test suite, not by `check --deploy`.
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
}

# --- Logging: no PHI, no request bodies (vioip/core/logging.py) -------------------------------
# Every line carries the request id; tracebacks name frames and exception types, never local
# variables or messages. "json": one object per line for a log shipper (the default outside
# debug); "text": plain lines (the embedded default's).
LOG_FORMAT = env_choice("VIOIP_LOG_FORMAT", ["json", "text"], "text" if DEBUG else "json")
LOG_LEVEL = env_choice("VIOIP_LOG_LEVEL", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "vioip.core.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"()": "vioip.core.logging.TextFormatter"},
        "json": {"()": "vioip.core.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # 500s with their traceback and path; a 4xx is the client's business, not the log's.
        "django.request": {"level": "ERROR"},
    },
}

# HTTP requests a process runs at once; more wait their turn. Each running request holds a
# database connection, so processes times (this + ROOM_DB_THREADS + ROOM_ENTRY_THREADS)
# must stay below the server's max_connections (see vioip/core/http_limit.py).
HTTP_CONCURRENCY = env_int("VIOIP_HTTP_CONCURRENCY", 20, minimum=1)

# What this process serves (vioip/core/process_role.py): "all" (HTTP and room sockets),
# "http" (no WebSockets) or "rooms" (WebSockets; over HTTP only the health probes).
PROCESS_ROLE = (env_str("VIOIP_PROCESS_ROLE") or "all").strip().lower()
if PROCESS_ROLE not in ("all", "http", "rooms"):
    raise ImproperlyConfigured(
        f"VIOIP_PROCESS_ROLE must be one of all, http, rooms; got {PROCESS_ROLE!r}."
    )

# An HTTP worker on PostgreSQL takes its connections from a pool (psycopg's, through
# Django): a connection opened per request cost ~9 ms of the database's CPU and ~2.4 ms of
# the worker's (bench/NOTES.md). Requests run on HTTP_CONCURRENCY threads
# (vioip/core/asgi_http.py), so the pool never has more connections than that. Room
# threads keep connections of their own instead (sessions_app/rooms/threads.py): the pool's
# reconnect back-off kept chat failing long after a database restart. Here it is cut short:
# a connection that cannot be made within DB_POOL_RECONNECT_SECONDS is given up, and the
# next request tries again at once, so requests recover within a few seconds of the
# database's return (tests/faults/test_http_pool.py).
DB_POOL = env_bool(
    "VIOIP_DB_POOL",
    PROCESS_ROLE == "http"
    and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    and not DB_CONN_MAX_AGE,
)
DB_POOL_TIMEOUT_SECONDS = env_float("VIOIP_DB_POOL_TIMEOUT_SECONDS", 5.0, minimum=0.5)
DB_POOL_RECONNECT_SECONDS = env_float("VIOIP_DB_POOL_RECONNECT_SECONDS", 2.0, minimum=0.5)
if DB_POOL:
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("VIOIP_DB_POOL needs PostgreSQL.")
    if DB_CONN_MAX_AGE:
        raise ImproperlyConfigured("VIOIP_DB_POOL and VIOIP_DB_CONN_MAX_AGE exclude each other.")
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "name": "vioip",
        "min_size": 1,
        "max_size": HTTP_CONCURRENCY,
        "timeout": DB_POOL_TIMEOUT_SECONDS,
        "reconnect_timeout": DB_POOL_RECONNECT_SECONDS,
        # Connections are renewed now and then, and idle ones returned to the server.
        "max_lifetime": 1800.0,
        "max_idle": 300.0,
    }

# --- Rooms -----------------------------------------------------------------------------------
ROOM_TICKET_SECONDS = env_int("VIOIP_ROOM_TICKET_SECONDS", 30, minimum=5)
ROOM_GRACE_SECONDS = env_int("VIOIP_ROOM_GRACE_SECONDS", 30, minimum=0)
ROOM_PRESENCE_TTL_SECONDS = env_int("VIOIP_ROOM_PRESENCE_TTL_SECONDS", 60, minimum=5)
ROOM_EARLY_ENTRY_MINUTES = env_int("VIOIP_ROOM_EARLY_ENTRY_MINUTES", 15, minimum=0)
# Seconds between probes that the channel layer still delivers to this process (0: off).
ROOM_LAYER_PROBE_SECONDS = env_int("VIOIP_ROOM_LAYER_PROBE_SECONDS", 2, minimum=0)
# Threads (each with its own database connection) for room database calls in a process.
# 1 is Django's one shared thread, the only safe choice for SQLite's single writer.
ROOM_DB_THREADS = env_int(
    "VIOIP_ROOM_DB_THREADS",
    1 if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" else 2,
    minimum=1,
)
# Threads (each with its own connection) for sockets' entries (ticket, entry, first
# room.state), apart from the room threads: unused with ROOM_DB_THREADS 1.
ROOM_ENTRY_THREADS = env_int("VIOIP_ROOM_ENTRY_THREADS", 3, minimum=1)
# A socket whose client stops reading is closed (4408) once this much waits to be sent.
ROOM_SEND_BUFFER_KIB = env_int("VIOIP_ROOM_SEND_BUFFER_KIB", 1024, minimum=16)
# How often at most a process walks all its long-lived objects once, to reclaim reference
# cycles left by closed sockets (see sessions_app/rooms/collector.py).
ROOM_GC_RECLAIM_SECONDS = env_int("VIOIP_ROOM_GC_RECLAIM_SECONDS", 3600, minimum=1)
ROOM_CHAT_RATE_MESSAGES = env_int("VIOIP_ROOM_CHAT_RATE_MESSAGES", 5, minimum=1)
ROOM_CHAT_RATE_SECONDS = env_int("VIOIP_ROOM_CHAT_RATE_SECONDS", 5, minimum=1)
# Hand raising and lowering, per person and room: each toggle locks the room's row and is
# broadcast to everyone in it.
ROOM_HAND_RATE_TOGGLES = env_int("VIOIP_ROOM_HAND_RATE_TOGGLES", 4, minimum=1)
ROOM_HAND_RATE_SECONDS = env_int("VIOIP_ROOM_HAND_RATE_SECONDS", 10, minimum=1)
# On SIGTERM a room worker closes its sockets with 4012 and waits up to this long for them
# to be released before it stops (sessions_app/rooms/drain.py). Keep it below the
# orchestrator's stop grace (compose: stop_grace_period).
ROOM_DRAIN_SECONDS = env_float("VIOIP_ROOM_DRAIN_SECONDS", 5.0, minimum=0.0, maximum=60.0)
# Seconds a thread may hold the GIL before handing it over (vioip/asgi.py). A room worker's
# is a tenth of Python's own 0.005, so its event loop gets the GIL back sooner from the
# database threads. An HTTP worker keeps Python's: there the threads that want the GIL are
# requests, and handing it over ten times as often only added thread switches, each a wait
# for the core when rooms share it (bench/NOTES.md, fourteenth round).
SWITCH_INTERVAL = env_float(
    "VIOIP_SWITCH_INTERVAL",
    0.005 if PROCESS_ROLE == "http" else 0.0005,
    minimum=0.000001,
    maximum=1.0,
)
ATTENDANCE_LATE_MINUTES = env_int("VIOIP_ATTENDANCE_LATE_MINUTES", 10, minimum=0)
ATTENDANCE_LEFT_EARLY_MINUTES = env_int("VIOIP_ATTENDANCE_LEFT_EARLY_MINUTES", 15, minimum=0)

# --- Notes -----------------------------------------------------------------------------------
NOTES_OVERDUE_HOURS = env_int("VIOIP_NOTES_OVERDUE_HOURS", 72, minimum=1)
# After a discharge the care team keeps read and sign access this many days, so notes can
# be finished; then only break-the-glass opens the patient's records.
POST_DISCHARGE_DAYS = env_int("VIOIP_POST_DISCHARGE_DAYS", 30, minimum=0)
