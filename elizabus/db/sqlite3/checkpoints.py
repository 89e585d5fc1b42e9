"""WAL checkpoints off the write path.

SQLite copies the write-ahead log back into the database file (a checkpoint) inside the commit
that takes the log past ``wal_autocheckpoint`` pages, 1,000 by default: every second or so under
load, one commit of a batch of posts ran a checkpoint and its fsync, and every post of that
batch waited for it (it showed in the REST benchmark's ingest p99, bench/README.md).
Here a thread of its own checkpoints a database every ``EVERY_COMMITS`` commits, PASSIVE (it
never waits for a writer or a reader, and writers never wait for it), on a connection of its
own; SQLite releases the GIL meanwhile. The commits' own automatic checkpoint stays as a safety
net, at ``SAFETY_NET_PAGES``, for a log that grows faster than the thread keeps up.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

logger = logging.getLogger(__name__)

EVERY_COMMITS = 50
SAFETY_NET_PAGES = 10_000


class Checkpointer:
    """Counts each database's commits and checkpoints it in the background, one checkpoint at
    a time per database."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._commits: dict[str, int] = {}
        self._running: set[str] = set()
        self._executor: ThreadPoolExecutor | None = None

    def committed(self, path: str) -> None:
        with self._lock:
            commits = self._commits.get(path, 0) + 1
            if commits < EVERY_COMMITS or path in self._running:
                self._commits[path] = commits
                return
            self._commits[path] = 0
            self._running.add(path)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
            executor = self._executor
        executor.submit(self._checkpoint, path)

    def _checkpoint(self, path: str) -> None:
        try:
            # mode=rw: a database deleted since its last commit is not created again.
            uri = f"{Path(path).absolute().as_uri()}?mode=rw"
            connection = sqlite3.connect(uri, uri=True, timeout=0)
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                connection.close()
        except sqlite3.Error as error:
            # The next commit's count, or the safety net, will checkpoint it.
            logger.debug("WAL checkpoint of %s failed: %s", path, error)
        finally:
            with self._lock:
                self._running.discard(path)


checkpointer = Checkpointer()
