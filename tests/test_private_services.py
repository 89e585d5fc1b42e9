"""tests/private_services.py with real processes: a private PostgreSQL and Redis start on a
free port, answer, stop answering while paused, come back, keep (or lose) their data across a
restart, and leave no process behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from tests.live import serve_private
from tests.private_services import (
    PrivatePostgres,
    PrivateRedis,
    process_alive,
)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[PrivatePostgres]:
    yield from serve_private(PrivatePostgres, log_dir=tmp_path)


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    yield from serve_private(PrivateRedis)


@pytest.fixture
def redis_aof() -> Iterator[PrivateRedis]:
    yield from serve_private(PrivateRedis, aof="always")


def _select(url: str, sql: str) -> object:
    with psycopg.connect(url, connect_timeout=2) as connection:
        row = connection.execute(sql).fetchone()
        assert row is not None
        return row[0]


def test_postgres_serves_its_database_pauses_and_restarts(postgres: PrivatePostgres) -> None:
    assert postgres.url.endswith(f"127.0.0.1:{postgres.port}/elizabus")
    assert postgres.log_path.parent != postgres.directory  # the log went where it was asked
    with psycopg.connect(postgres.url, autocommit=True) as connection:
        connection.execute("CREATE TABLE kept (n int)")
        connection.execute("INSERT INTO kept VALUES (7)")

    postgres.pause()
    with pytest.raises(psycopg.OperationalError):
        _select(postgres.url, "SELECT 1")
    postgres.resume()
    assert _select(postgres.url, "SELECT 1") == 1

    first = postgres.pid
    postgres.restart()
    assert postgres.pid != first
    assert not process_alive(first)
    assert _select(postgres.url, "SELECT n FROM kept") == 7


def test_postgres_killed_takes_its_backends_and_cleanup_its_data(
    postgres: PrivatePostgres,
) -> None:
    with psycopg.connect(postgres.url, autocommit=True) as connection:
        row = connection.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        backend = row[0]
        postmaster = postgres.pid
        assert postmaster is not None and backend in _children(postmaster)
        postgres.kill()
    assert not process_alive(postmaster) and not process_alive(backend)

    postgres.start()  # recovers from the crash on the same port
    assert _select(postgres.url, "SELECT 1") == 1
    postmaster = postgres.pid
    assert postmaster is not None
    children = _children(postmaster)
    assert children  # its checkpointer, WAL writer, ...
    postgres.cleanup()
    assert not any(map(process_alive, [postmaster, *children]))
    assert not postgres.directory.exists()


def test_redis_pause_times_calls_out_until_resumed(redis_server: PrivateRedis) -> None:
    client = redis.Redis.from_url(redis_server.url, socket_timeout=0.5)
    assert client.ping()
    redis_server.pause()
    try:
        with pytest.raises(redis.TimeoutError):
            client.ping()
    finally:
        redis_server.resume()
    assert redis.Redis.from_url(redis_server.url, socket_timeout=2).ping()


def test_redis_restart_keeps_its_data_only_with_aof(
    redis_server: PrivateRedis, redis_aof: PrivateRedis
) -> None:
    for service in (redis_server, redis_aof):
        redis.Redis.from_url(service.url).set("kept", "yes")
        service.restart()
    assert redis.Redis.from_url(redis_server.url).get("kept") is None
    assert redis.Redis.from_url(redis_aof.url).get("kept") == b"yes"

    redis_aof.kill()  # always fsync'd: a crash loses nothing either
    redis_aof.start()
    assert redis.Redis.from_url(redis_aof.url).get("kept") == b"yes"


def test_cleanup_ends_a_paused_redis_and_removes_its_data(redis_aof: PrivateRedis) -> None:
    pid = redis_aof.pid
    assert pid is not None and process_alive(pid)
    redis_aof.pause()
    redis_aof.cleanup()
    assert not process_alive(pid)
    assert not redis_aof.directory.exists()
    assert redis_aof.pid is None
    redis_aof.cleanup()  # a second cleanup is a no-op
