"""Django settings for elizabus.

Every value that changes between machines is read from the environment here, in one place. With no
environment at all the server runs embedded: SQLite under var/, an in-memory channel layer and the
in-process bus.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ELIZABUS_VAR_DIR", BASE_DIR / "var"))


def env_flag(name: str, default: bool = False) -> bool:
    """Reads a boolean environment variable: 1/true/yes/on (any case) mean True."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int_clamped(name: str, default: int, low: int, high: int) -> int:
    """An integer variable as the reference reads its own (``safeParseInt``): a value that is
    not a number falls back to ``default``, one out of bounds is clamped."""
    try:
        value = int(float(os.environ.get(name, "")))
    except (ValueError, OverflowError):  # not a number, NaN, Infinity
        return default
    return max(low, min(high, value))


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_flag("DJANGO_DEBUG")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    # Without a configured key each process gets its own random one: fine for the embedded
    # default (sessions simply do not survive a restart), wrong for several server processes,
    # which is why the deployment docs require DJANGO_SECRET_KEY.
    SECRET_KEY = get_random_secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "elizabus.bus",
    "elizabus",
]

MIDDLEWARE = [
    "elizabus.api.exchange.AgentExchangeMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "elizabus.api.middleware.ApiGuardMiddleware",
    "elizabus.api.middleware.DependencyGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# Under ASGI, /api/, /health, /healthz and /metrics are served with only these (project/asgi.py):
# the API needs no session, CSRF, auth or messages, and each of Django's own middleware costs the
# async path a thread hop per hook. Each one here has a native async path. (The test client, and
# WSGI, use MIDDLEWARE, which includes them all in the same order.)
API_MIDDLEWARE = [
    "elizabus.api.exchange.AgentExchangeMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "elizabus.api.middleware.ApiGuardMiddleware",
    "elizabus.api.middleware.DependencyGuardMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"

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


def sqlite_database(name: str | Path, **extra: object) -> dict[str, object]:
    """The settings of a SQLite database at ``name``: the embedded default's, and a
    ``sqlite:///`` DATABASE_URL's."""
    return {
        # Django's SQLite backend, with writers queued in the process (elizabus/db/sqlite3).
        "ENGINE": "elizabus.db.sqlite3",
        "NAME": name,
        # One connection per thread for the life of the process: opening one (with the
        # PRAGMAs below) costs more than a whole message post.
        "CONN_MAX_AGE": None,
        "OPTIONS": {
            # WAL lets readers run beside the one writer; the busy timeout makes a second
            # writer wait for the lock instead of failing with "database is locked", and
            # IMMEDIATE takes the write lock at BEGIN so two writers never deadlock on an
            # upgrade from a read lock.
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "PRAGMA busy_timeout=20000;"
                "PRAGMA foreign_keys=ON;"
            ),
        },
        **extra,
    }


# Deadlines of every network call, chosen for the request path (docs/deployment.md,
# "Deadlines"): a dependency that hangs costs a request a fraction of a second, not its whole
# outage. The background loops (the bus transport's, the channel layer's receive) may wait longer.
POSTGRES_CONNECT_TIMEOUT = 2  # seconds; libpq takes whole seconds
# A statement the server runs longer than this is cancelled; 0 turns it off (a long migration).
POSTGRES_STATEMENT_TIMEOUT_MS = int(
    os.environ.get("ELIZABUS_POSTGRES_STATEMENT_TIMEOUT_MS", 10_000)
)
REDIS_CONNECT_TIMEOUT = 0.25
# The cache (the API throttle's counts) and the socket limits' store answer in a millisecond or
# two; past this a request stops asking and takes the degraded path.
REDIS_REQUEST_TIMEOUT = 0.25


def with_postgres_timeouts(database: Mapping[str, Any]) -> dict[str, Any]:
    """``database`` (a PostgreSQL one) with its connect and statement timeouts; what the URL
    already sets comes first."""
    options = dict(database.get("OPTIONS") or {})
    options.setdefault("connect_timeout", POSTGRES_CONNECT_TIMEOUT)
    statement_timeout = f"-c statement_timeout={POSTGRES_STATEMENT_TIMEOUT_MS}"
    options["options"] = f"{statement_timeout} {options.get('options', '')}".strip()
    return {**database, "OPTIONS": options}


DATABASE_URL = os.environ.get("DATABASE_URL", "")
DATABASES: dict[str, Mapping[str, Any]]
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=600, conn_health_checks=True)
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"] = sqlite_database(DATABASES["default"]["NAME"])
    elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"] = with_postgres_timeouts(DATABASES["default"])
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": sqlite_database(
            VAR_DIR / "elizabus.sqlite3", TEST={"NAME": VAR_DIR / "test-elizabus.sqlite3"}
        )
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer ----------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
# Each process receives every broadcast for its sockets on one channel (realtime/rooms.py); a
# full channel drops group messages silently, so it must hold a burst, not 100 (the default).
_LAYER_CAPACITY = 10_000


def redis_channel_layer(url: str) -> dict[str, object]:
    """The Redis channel layer's settings. Its receive is a blocking pop of up to 5 s; redis-py
    8 reads with a 5 s socket timeout by default, which cut every idle receive short with a
    TimeoutError (channels_redis issue 422), so the read may take longer than the pop. The
    sends are bounded tighter where they are made (realtime/broadcast.py,
    ``GROUP_SEND_TIMEOUT``)."""
    host = {
        "address": url,
        "socket_timeout": 15,
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
    }
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [host],
            "capacity": _LAYER_CAPACITY,
            "expiry": 60,
        },
    }


if REDIS_URL:
    CHANNEL_LAYERS = {"default": redis_channel_layer(REDIS_URL)}
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": _LAYER_CAPACITY},
        }
    }

# --- Cache: DRF's throttle counts here, so with Redis the API rate holds across processes -----
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "elizabus",
            "OPTIONS": {
                "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
                "socket_timeout": REDIS_REQUEST_TIMEOUT,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- elizaOS compatibility and the app's own settings -------------------------------------------
ELIZA_SERVER_AUTH_TOKEN = os.environ.get("ELIZA_SERVER_AUTH_TOKEN", "")

ELIZABUS: dict[str, object] = {
    "RUN_AGENTS_IN_PROCESS": env_flag("ELIZABUS_RUN_AGENTS", True),
    "API_RATE": os.environ.get("ELIZABUS_API_RATE", "3000/min"),
    # The proxies in front, by address or network (uvicorn's and gunicorn's variable).
    "FORWARDED_ALLOW_IPS": env_list("FORWARDED_ALLOW_IPS", ""),
    "HOME_PAGE": os.environ.get("ELIZABUS_HOME_PAGE", "ui"),
    # Where the fetched elizaOS UIs are kept (default var/ui; the Docker image ships one
    # outside var/).
    "UI_DIR": os.environ.get("ELIZABUS_UI_DIR", ""),
}
if os.environ.get("ELIZABUS_BUS_TRANSPORT"):
    ELIZABUS["BUS_TRANSPORT"] = os.environ["ELIZABUS_BUS_TRANSPORT"]
for _name in ("BUS_STREAM", "BUS_FAULT_EXIT_AFTER_COMMIT"):
    if os.environ.get(f"ELIZABUS_{_name}"):
        ELIZABUS[_name] = os.environ[f"ELIZABUS_{_name}"]
for _name in (
    "BUS_LEASE_SECONDS",
    "BUS_RELAY_GRACE_SECONDS",
    "JOB_RETENTION_HOURS",
    "AGENT_DELIVERY_LEASE_SECONDS",
    "AGENT_ATTACH_GRACE_SECONDS",
):
    if os.environ.get(f"ELIZABUS_{_name}"):
        ELIZABUS[_name] = float(os.environ[f"ELIZABUS_{_name}"])
# The reference's session variables, under its own names and with its bounds.
for _name, _default, _low, _high in (
    ("SESSION_DEFAULT_TIMEOUT_MINUTES", 30, 1, 10080),
    ("SESSION_MIN_TIMEOUT_MINUTES", 5, 1, 60),
    ("SESSION_MAX_TIMEOUT_MINUTES", 1440, 60, 10080),
    ("SESSION_MAX_DURATION_MINUTES", 720, 60, 20160),
    ("SESSION_WARNING_THRESHOLD_MINUTES", 5, 1, 60),
):
    if os.environ.get(_name):
        ELIZABUS[_name] = env_int_clamped(_name, _default, _low, _high)
# Responders agents may name besides the built-in ones (docs/security.md, "Responders").
ELIZABUS["RESPONDERS"] = env_list("ELIZABUS_RESPONDERS", "")
# Base URLs besides OPENAI_BASE_URL that may receive the server's OPENAI_API_KEY.
if os.environ.get("ELIZABUS_OPENAI_TRUSTED_BASE_URLS"):
    ELIZABUS["OPENAI"] = {"trusted_base_urls": env_list("ELIZABUS_OPENAI_TRUSTED_BASE_URLS", "")}
for _name in (
    "SOCKET_MAX_CONNECTIONS_PER_ENTITY",
    "SOCKET_MAX_CONNECTIONS_PER_CLIENT",
    "LOG_RING_SIZE",
):
    if os.environ.get(f"ELIZABUS_{_name}"):
        ELIZABUS[_name] = int(os.environ[f"ELIZABUS_{_name}"])

# Identity and data isolation (docs/security.md), under the reference's variable names where it
# has them. JWT_SECRET signs the server's own tokens unless ELIZABUS_JWT_SIGNING_KEYS lists them
# (comma-separated, the signing key first).
ELIZABUS["DATA_ISOLATION"] = env_flag("ENABLE_DATA_ISOLATION")
ELIZABUS["JWT_SIGNING_KEYS"] = env_list("ELIZABUS_JWT_SIGNING_KEYS", "") or (
    [os.environ["JWT_SECRET"]] if os.environ.get("JWT_SECRET") else []
)
# Platforms' tokens, under the reference's names: JWT_SECRET is also the secret shared with a
# platform; PRIVY_VERIFICATION_KEY is an Ed25519 key like JWT_ED25519_PUBLIC_KEY.
ELIZABUS["JWT_SHARED_SECRETS"] = [os.environ["JWT_SECRET"]] if os.environ.get("JWT_SECRET") else []
ELIZABUS["JWT_JWKS_URI"] = os.environ.get("JWT_JWKS_URI", "")
ELIZABUS["JWT_ED25519_PUBLIC_KEYS"] = [
    os.environ[_name]
    for _name in ("JWT_ED25519_PUBLIC_KEY", "PRIVY_VERIFICATION_KEY")
    if os.environ.get(_name)
]
ELIZABUS["JWT_ISSUER_WHITELIST"] = env_list("JWT_ISSUER_WHITELIST", "")
ELIZABUS["JWT_AUDIENCE"] = env_list("JWT_AUDIENCE", "")
if os.environ.get("JWT_JWKS_CACHE_SECONDS"):
    ELIZABUS["JWT_JWKS_CACHE_SECONDS"] = float(os.environ["JWT_JWKS_CACHE_SECONDS"])
for _name in ("ACCESS_TOKEN_SECONDS", "REFRESH_TOKEN_SECONDS"):
    if os.environ.get(f"ELIZABUS_{_name}"):
        ELIZABUS[_name] = int(os.environ[f"ELIZABUS_{_name}"])
if os.environ.get("ELIZABUS_AUTH_RATE") is not None:
    ELIZABUS["AUTH_RATE"] = os.environ["ELIZABUS_AUTH_RATE"]
# Requests refused for their API key, per client address (docs/security.md, "Refused keys").
if os.environ.get("ELIZABUS_UNAUTHORIZED_RATE") is not None:
    ELIZABUS["UNAUTHORIZED_RATE"] = os.environ["ELIZABUS_UNAUTHORIZED_RATE"]
# Sessions, jobs and channels made per client address (docs/security.md).
if os.environ.get("ELIZABUS_CREATE_RATE") is not None:
    ELIZABUS["CREATE_RATE"] = os.environ["ELIZABUS_CREATE_RATE"]

# --- REST framework ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["elizabus.api.renderers.OrjsonRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "elizabus.api.renderers.AcceptAnything",
    "DEFAULT_PARSER_CLASSES": ["elizabus.api.parsing.JsonParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "elizabus.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["elizabus.api.throttling.ClientRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        # The reference allows 50 uploads per 15 minutes from one address.
        "upload": os.environ.get("ELIZABUS_UPLOAD_RATE", "200/hour"),
    },
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "elizabus messaging API",
    "DESCRIPTION": "The elizaOS messaging API, served by elizabus.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# Request bodies up to 2 MiB (docs/errors.md, "Limits"); the API answers 413 beyond that.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- CORS: browser clients served from other origins -----------------------------------------
# Closed unless configured: a comma-separated list of origins, or "*" for any (the reference's
# default; safe only with ELIZA_SERVER_AUTH_TOKEN set, since the API is then keyed, not cookied).
_cors_origins = env_list("CORS_ALLOWED_ORIGINS", "")
CORS_ALLOW_ALL_ORIGINS = _cors_origins == ["*"]
CORS_ALLOWED_ORIGINS = [] if CORS_ALLOW_ALL_ORIGINS else _cors_origins
CORS_URLS_REGEX = r"^/(api/|health|metrics).*$"
CORS_ALLOW_HEADERS = ["accept", "authorization", "content-type", "x-api-key", "x-requested-with"]
CORS_EXPOSE_HEADERS = ["X-Total-Count", "Retry-After"]
CORS_PREFLIGHT_MAX_AGE = 86400

# --- Security ---------------------------------------------------------------------------------
# `make run` serves plain HTTP on loopback and turns these off with DJANGO_SECURE_COOKIES=0.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_flag("DJANGO_SECURE_COOKIES", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# TLS itself (SECURE_SSL_REDIRECT, HSTS) is the reverse proxy's job: docs/deployment.md.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_flag("DJANGO_BEHIND_TLS_PROXY") else None
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Uploaded media (POST /api/messaging/channels/:id/upload-media), served from /media/.
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"
# Uploads past this size are spooled to a temporary file rather than held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

STATIC_URL = "static/"


def static_file_headers(headers: dict[str, str], path: str, url: str) -> None:
    """Static files are served before SecurityMiddleware (see MIDDLEWARE), so they carry its
    nosniff here."""
    headers["X-Content-Type-Options"] = "nosniff"


SERVESTATIC_ADD_HEADERS_FUNCTION = static_file_headers
STATIC_ROOT = VAR_DIR / "static"
# collectstatic fills it; it exists before that so the static middleware finds its root.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        # The recent entries GET /api/server/logs answers (elizabus/logs.py).
        "recent": {"class": "elizabus.logs.LogRingHandler"},
    },
    "root": {"handlers": ["console", "recent"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {
        "elizabus": {"level": os.environ.get("ELIZABUS_LOG_LEVEL", "INFO"), "propagate": True},
        # The server's start-up line and access log (manage.py serve).
        "uvicorn": {"level": os.environ.get("SERVER_LOG_LEVEL", "INFO"), "propagate": True},
    },
}
