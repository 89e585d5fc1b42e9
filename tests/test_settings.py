"""project/settings.py read in fresh processes: what the environment switches, and what
``check --deploy`` still reports for a production configuration.

Settings are read once per process, so each case runs ``python`` in a subprocess with exactly the
environment it names. The PostgreSQL and Redis cases also talk to the real servers.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Every variable settings.py reads that a developer's shell or CI may have set.
CONFIGURATION = (
    "DATABASE_URL",
    "REDIS_URL",
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "DJANGO_SECURE_COOKIES",
    "DJANGO_BEHIND_TLS_PROXY",
    "ELIZA_SERVER_AUTH_TOKEN",
)

# Prints the database engine and channel layer the settings chose, as JSON. With "db" it also runs
# SELECT 1 on the database; with "layer", a send/receive round trip through the channel layer.
PROBE = """
import asyncio, json, sys
import django
django.setup()
from django.conf import settings
from django.db import connection
from channels.layers import get_channel_layer

result = {
    "engine": settings.DATABASES["default"]["ENGINE"],
    "name": str(settings.DATABASES["default"]["NAME"]),
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
}
if "db" in sys.argv:
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        result["select"] = cursor.fetchone()[0]

async def round_trip():
    layer = get_channel_layer()
    name = await layer.new_channel()
    await layer.send(name, {"type": "probe.message", "text": "ping"})
    received = await layer.receive(name)
    if hasattr(layer, "close_pools"):
        await layer.close_pools()
    return received

if "layer" in sys.argv:
    result["received"] = asyncio.run(round_trip())
print(json.dumps(result))
"""


def run_python(
    tmp_path: Path, arguments: list[str], **env: str
) -> subprocess.CompletedProcess[str]:
    """Runs ``python *arguments`` in the project with no configuration but ``env``."""
    environment = {key: value for key, value in os.environ.items() if key not in CONFIGURATION}
    environment.update(
        DJANGO_SETTINGS_MODULE="project.settings", ELIZABUS_VAR_DIR=str(tmp_path), **env
    )
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def probe(tmp_path: Path, *checks: str, **env: str) -> dict[str, Any]:
    result = run_python(tmp_path, ["-c", PROBE, *checks], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_without_environment_it_runs_embedded(tmp_path: Path) -> None:
    chosen = probe(tmp_path, "db", "layer")

    assert chosen["engine"] == "elizabus.db.sqlite3"
    assert chosen["name"] == str(tmp_path / "elizabus.sqlite3")
    assert chosen["select"] == 1
    assert chosen["layer"] == "channels.layers.InMemoryChannelLayer"
    assert chosen["received"] == {"type": "probe.message", "text": "ping"}


def test_database_url_selects_postgresql(tmp_path: Path, postgres_url: str) -> None:
    chosen = probe(tmp_path, "db", DATABASE_URL=postgres_url)

    assert chosen["engine"] == "django.db.backends.postgresql"
    assert chosen["select"] == 1
    assert chosen["layer"] == "channels.layers.InMemoryChannelLayer"


def test_redis_url_selects_the_redis_channel_layer(tmp_path: Path, redis_url: str) -> None:
    chosen = probe(tmp_path, "layer", REDIS_URL=redis_url)

    assert chosen["layer"] == "channels_redis.core.RedisChannelLayer"
    assert chosen["received"] == {"type": "probe.message", "text": "ping"}
    assert chosen["engine"] == "elizabus.db.sqlite3"


def deploy_check_ids(tmp_path: Path, **env: str) -> tuple[set[str], str]:
    """The ids ``manage.py check --deploy`` reports (errors and warnings), and its output."""
    result = run_python(tmp_path, ["manage.py", "check", "--deploy"], **env)
    output = result.stdout + result.stderr
    return set(re.findall(r"\(([a-z_]+\.[A-Z]\d{3})\)", output)), output


def test_a_production_configuration_leaves_only_the_proxys_tls_items(tmp_path: Path) -> None:
    ids, output = deploy_check_ids(
        tmp_path,
        # token_urlsafe(48) is 64 characters drawn from 64 symbols: past Django's 50/5 minimum.
        DJANGO_SECRET_KEY=secrets.token_urlsafe(48),
        ALLOWED_HOSTS="chat.example.com",
    )

    # HSTS (W004) and the HTTPS redirect (W008) are the TLS-terminating proxy's: docs/deployment.md.
    assert ids == {"security.W004", "security.W008"}, output


def test_debug_is_reported_with_the_insecure_cookies_it_implies(tmp_path: Path) -> None:
    ids, output = deploy_check_ids(tmp_path, DJANGO_DEBUG="1")

    assert {"security.W018", "security.W012", "security.W016"} <= ids, output


# Opens a connection and prints the PRAGMAs it reads back and the database options, as JSON.
PRAGMAS = """
import json
import django
django.setup()
from django.conf import settings
from django.db import connection

database = settings.DATABASES["default"]
result = {
    "engine": database["ENGINE"],
    "name": str(database["NAME"]),
    "conn_max_age": database["CONN_MAX_AGE"],
    "timeout": database["OPTIONS"]["timeout"],
    "transaction_mode": database["OPTIONS"]["transaction_mode"],
}
with connection.cursor() as cursor:
    for pragma in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys"):
        cursor.execute(f"PRAGMA {pragma}")
        result[pragma] = cursor.fetchone()[0]
print(json.dumps(result))
"""


def test_a_sqlite_database_url_gets_the_embedded_defaults_options(tmp_path: Path) -> None:
    path = tmp_path / "from-url.sqlite3"
    embedded = json.loads(run_python(tmp_path, ["-c", PRAGMAS]).stdout.strip().splitlines()[-1])
    from_url = json.loads(
        run_python(tmp_path, ["-c", PRAGMAS], DATABASE_URL=f"sqlite:///{path}")
        .stdout.strip()
        .splitlines()[-1]
    )

    assert embedded["name"] == str(tmp_path / "elizabus.sqlite3")
    assert from_url["name"] == str(path)
    for chosen in (embedded, from_url):
        assert chosen["engine"] == "elizabus.db.sqlite3"
        assert chosen["conn_max_age"] is None
        assert (chosen["timeout"], chosen["transaction_mode"]) == (20, "IMMEDIATE")
        assert chosen["journal_mode"] == "wal"
        assert chosen["synchronous"] == 1  # NORMAL
        assert chosen["busy_timeout"] == 20000
        assert chosen["foreign_keys"] == 1


# Prints the cache backend; with an argument, stores it under "probe", else reads "probe" back.
CACHE = """
import json, sys
import django
django.setup()
from django.conf import settings
from django.core.cache import cache

if len(sys.argv) > 1:
    cache.set("probe", sys.argv[1], 30)
print(json.dumps({"backend": settings.CACHES["default"]["BACKEND"], "probe": cache.get("probe")}))
"""


def cache_probe(tmp_path: Path, *arguments: str, **env: str) -> dict[str, Any]:
    result = run_python(tmp_path, ["-c", CACHE, *arguments], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_without_redis_the_cache_is_local_memory(tmp_path: Path) -> None:
    chosen = cache_probe(tmp_path, "written")

    assert chosen == {
        "backend": "django.core.cache.backends.locmem.LocMemCache",
        "probe": "written",
    }
    assert cache_probe(tmp_path)["probe"] is None


@pytest.mark.redis
def test_redis_url_shares_the_cache_between_processes(tmp_path: Path, redis_url: str) -> None:
    # What one process stores (DRF's throttle history, for one) another reads.
    written = secrets.token_hex(8)
    first = cache_probe(tmp_path, written, REDIS_URL=redis_url)
    second = cache_probe(tmp_path, REDIS_URL=redis_url)

    assert first["backend"] == second["backend"] == "django.core.cache.backends.redis.RedisCache"
    assert second["probe"] == written


# Times one call against the configured services and prints what it raised and how long it
# took: "cache" a cache read (the API throttle's), "db" a connection and a query.
DEADLINE = """
import json, sys, time
import django
django.setup()
from django.core.cache import cache
from django.db import connection

started = time.monotonic()
try:
    if sys.argv[1] == "cache":
        cache.get("probe")
    else:
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            print(json.dumps({"statement_timeout": cursor.fetchone()[0]}))
    raised = None
except Exception as exc:
    raised = type(exc).__name__
print(json.dumps({"raised": raised, "seconds": time.monotonic() - started}))
"""


def deadline_probe(tmp_path: Path, what: str, **env: str) -> list[dict[str, Any]]:
    result = run_python(tmp_path, ["-c", DEADLINE, what], **env)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.strip().splitlines() if line[:1] == "{"]


@pytest.mark.redis
def test_a_hung_redis_costs_a_cache_read_a_quarter_second(tmp_path: Path, hung_redis: str) -> None:
    # The throttle asks the cache on every API request; without a read timeout each waited for
    # as long as Redis hung.
    (answer,) = deadline_probe(tmp_path, "cache", REDIS_URL=hung_redis)

    assert answer["raised"] == "TimeoutError", answer
    assert 0.2 <= answer["seconds"] < 1.0, answer


@pytest.mark.postgres
def test_a_postgres_database_gets_connect_and_statement_timeouts(
    tmp_path: Path, postgres_url: str
) -> None:
    statement, answer = deadline_probe(tmp_path, "db", DATABASE_URL=postgres_url)

    assert answer["raised"] is None, answer
    assert statement == {"statement_timeout": "10s"}


@pytest.mark.postgres
def test_a_hung_postgres_refuses_a_connection_within_its_connect_timeout(
    tmp_path: Path, hung_postgres: str
) -> None:
    (answer,) = deadline_probe(tmp_path, "db", DATABASE_URL=hung_postgres)

    assert answer["raised"] == "OperationalError", answer
    assert 1.5 <= answer["seconds"] < 4.0, answer
