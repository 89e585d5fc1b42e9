"""``project.settings`` with overrides chosen by BENCH_* environment variables.

BENCH_SQLITE_SYNCHRONOUS=OFF|NORMAL|FULL   PRAGMA synchronous (project: NORMAL)
BENCH_SQLITE_INIT="PRAGMA ...;"            the whole init_command (project: 4 PRAGMAs)
BENCH_TRANSACTION_MODE=DEFERRED|IMMEDIATE  (project: IMMEDIATE)
BENCH_CONN_MAX_AGE=seconds|none            (project: none, i.e. persistent, for SQLite)
BENCH_MIDDLEWARE=api                       only Security, ApiGuard and Common middleware
BENCH_NO_THROTTLE=1                        no DRF throttle class (project: ClientRateThrottle)
BENCH_FLOOR=drf|django                     the message routes answered by a constant view
                                           (experiments/floor_urls.py)
"""

import os

from project.settings import *  # noqa: F403
from project.settings import DATABASES, MIDDLEWARE, REST_FRAMEWORK

_db = DATABASES["default"]
_sqlite = _db["ENGINE"].endswith("sqlite3")
_options = _db.setdefault("OPTIONS", {})

if _sqlite and (sync := os.environ.get("BENCH_SQLITE_SYNCHRONOUS")):
    _options["init_command"] = _options.get("init_command", "").replace(
        "PRAGMA synchronous=NORMAL;", f"PRAGMA synchronous={sync};"
    )
if _sqlite and (init := os.environ.get("BENCH_SQLITE_INIT")) is not None:
    _options["init_command"] = init
if _sqlite and (mode := os.environ.get("BENCH_TRANSACTION_MODE")):
    _options["transaction_mode"] = mode
if (age := os.environ.get("BENCH_CONN_MAX_AGE")) is not None:
    _db["CONN_MAX_AGE"] = None if age.lower() == "none" else int(age)
if os.environ.get("BENCH_MIDDLEWARE") == "api":
    MIDDLEWARE = [
        m
        for m in MIDDLEWARE
        if m.rsplit(".", 1)[-1] in {"SecurityMiddleware", "ApiGuardMiddleware", "CommonMiddleware"}
    ]
    # The admin wants sessions, auth and messages; the REST API does not.
    SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410"]
if os.environ.get("BENCH_NO_THROTTLE") == "1":
    REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
if os.environ.get("BENCH_FLOOR"):
    ROOT_URLCONF = "experiments.floor_urls"
