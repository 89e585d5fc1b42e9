"""The SQLite backend queues the writers of one process: many threads writing at once all
commit, and a writer that cannot get in fails after the timeout as SQLite itself would; the WAL
is checkpointed beside the commits, not in them."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import ConnectionHandler

from elizabus.db.sqlite3.base import _write_lock
from elizabus.db.sqlite3.checkpoints import EVERY_COMMITS, SAFETY_NET_PAGES


@contextmanager
def write_transaction(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """What ``transaction.atomic`` does to a connection, for one outside the global registry."""
    connection.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    try:
        yield
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        connection.set_autocommit(True)


@pytest.fixture
def handler(tmp_path: Path, django_db_blocker: Any) -> Iterator[ConnectionHandler]:
    """Connections (one per thread) to a fresh file, outside the test database."""
    django_db_blocker.unblock()
    connections = ConnectionHandler(
        {
            "default": {
                "ENGINE": "elizabus.db.sqlite3",
                "NAME": str(tmp_path / "queue.sqlite3"),
                "OPTIONS": {
                    "timeout": 0.5,
                    "transaction_mode": "IMMEDIATE",
                    "init_command": "PRAGMA journal_mode=WAL;",
                },
            }
        }
    )
    with connections["default"].cursor() as cursor:
        cursor.execute("CREATE TABLE note (writer INTEGER, n INTEGER)")
    connections["default"].close()
    yield connections
    connections.close_all()
    django_db_blocker.restore()


def test_concurrent_writers_all_commit(handler: ConnectionHandler) -> None:
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        connection = handler["default"]
        try:
            for n in range(25):
                with write_transaction(connection), connection.cursor() as cursor:
                    cursor.execute("INSERT INTO note VALUES (%s, %s)", [writer, n])
                    # A transaction that takes a little while, as a real one does.
                    cursor.execute("SELECT count(*) FROM note")
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []
    with handler["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM note")
        assert cursor.fetchone() == (200,)


def test_a_writer_that_cannot_get_in_fails_after_the_timeout(handler: ConnectionHandler) -> None:
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        connection = handler["default"]
        with write_transaction(connection), connection.cursor() as cursor:
            cursor.execute("INSERT INTO note VALUES (0, 0)")
            holding.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(5)
        started = time.monotonic()
        with (
            pytest.raises(OperationalError, match="database is locked"),
            write_transaction(handler["default"]),
        ):
            pass
        assert 0.4 < time.monotonic() - started < 3
    finally:
        release.set()
        holder.join(10)


@pytest.mark.parametrize("ending", ["commit", "rollback", "close"])
def test_the_write_lock_is_held_exactly_while_a_write_transaction_is_open(
    handler: ConnectionHandler, ending: str
) -> None:
    connection = handler["default"]
    assert not _write_lock.locked()
    connection.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO note VALUES (1, 1)")
    assert _write_lock.locked()
    getattr(connection, ending)()
    assert not _write_lock.locked()
    if ending != "close":
        connection.set_autocommit(True)


def test_reads_outside_a_transaction_take_no_lock(handler: ConnectionHandler) -> None:
    with handler["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM note")
        assert not _write_lock.locked()


def test_the_wal_is_checkpointed_outside_the_commits(handler: ConnectionHandler) -> None:
    """The database file, read alone (``immutable``: without its WAL), holds what a checkpoint
    copied there; no commit here takes the WAL near the commits' own threshold."""
    connection = handler["default"]
    for n in range(EVERY_COMMITS * 2):
        with write_transaction(connection), connection.cursor() as cursor:
            cursor.execute("INSERT INTO note VALUES (0, %s)", [n])
    path = Path(connection.settings_dict["NAME"])

    def rows_in_the_database_file() -> int:
        file_only = sqlite3.connect(f"{path.as_uri()}?immutable=1", uri=True)
        try:
            return file_only.execute("SELECT count(*) FROM note").fetchone()[0]
        finally:
            file_only.close()

    deadline = time.monotonic() + 10
    while rows_in_the_database_file() < EVERY_COMMITS and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rows_in_the_database_file() >= EVERY_COMMITS
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone() == (SAFETY_NET_PAGES,)
