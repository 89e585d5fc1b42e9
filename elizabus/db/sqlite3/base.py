"""SQLite with a process-wide lock around write transactions.

SQLite lets one writer in at a time, and the others wait in its busy handler, which polls with
sleeps of up to 100 ms: with the request thread and the agents' threads writing at once, the
database then stands idle between transactions and latency jumps (the REST benchmark's p99,
bench/README.md). Taking a lock before ``BEGIN IMMEDIATE`` queues the writers of one process
instead, each starting the moment the previous one commits. Writers in other processes still
meet the busy handler. The lock waits as long as SQLite would (the ``timeout`` option) and then
fails as SQLite does.

A file database's WAL checkpoints run in the background (``checkpoints.py``), not in the commit
that crosses SQLite's threshold.
"""

from __future__ import annotations

import threading
from typing import Any

from django.db import OperationalError
from django.db.backends.sqlite3 import base

from .checkpoints import SAFETY_NET_PAGES, checkpointer

_write_lock = threading.Lock()


# The hooks below are Django's private ones, which django-stubs leaves out: the type checker
# is told to ignore their super() calls.
class DatabaseWrapper(base.DatabaseWrapper):
    _holds_write_lock = False

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        if not self.is_in_memory_db():
            connection.execute(f"PRAGMA wal_autocheckpoint={SAFETY_NET_PAGES}")
        return connection

    def _start_transaction_under_autocommit(self) -> None:
        timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        if not _write_lock.acquire(timeout=timeout):
            raise OperationalError("database is locked")
        self._holds_write_lock = True
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
        except BaseException:
            self._release_write_lock()
            raise

    def _release_write_lock(self) -> None:
        if self._holds_write_lock:
            self._holds_write_lock = False
            _write_lock.release()

    def _commit(self) -> Any:
        try:
            return super()._commit()  # type: ignore[misc]
        finally:
            self._release_write_lock()
            if not self.is_in_memory_db():
                checkpointer.committed(str(self.settings_dict["NAME"]))

    def _rollback(self) -> Any:
        try:
            return super()._rollback()  # type: ignore[misc]
        finally:
            self._release_write_lock()

    def _close(self) -> Any:
        try:
            return super()._close()  # type: ignore[misc]
        finally:
            self._release_write_lock()
