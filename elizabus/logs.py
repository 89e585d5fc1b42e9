"""The server's log as elizaOS log entries, and the recent ones kept in memory.

Every record this process logs becomes an entry ``{time, level, msg, name, agentName?,
agentId?}``: ``time`` in epoch ms, ``level`` elizaOS's (pino's) number (trace 10, debug 20, info
30, warn 40, error 50, fatal 60), ``msg`` the formatted message. Entries carry the formatted
message only, never a record's other attributes, so what a log call passes as data (a token, a
request body) does not leave the server; ``agentName`` and ``agentId`` are kept because an
agent's logger adapter sets them (as text) for the filters.

:data:`log_ring` keeps the newest entries (``ELIZABUS["LOG_RING_SIZE"]``) for ``GET
/api/server/logs`` and ``/api/agents/:id/logs``; the socket log stream (``realtime/logstream.py``)
builds its entries with :func:`log_entry` too. Both are per process: a worker process's agents
log in that process.

Kept out of the API and the real-time layers so that both can use it without importing each
other.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

# elizaOS's level names and numbers (core's ``customLevels``).
LEVELS = {
    "fatal": 60,
    "error": 50,
    "warn": 40,
    "info": 30,
    "log": 29,
    "progress": 28,
    "success": 27,
    "debug": 20,
    "trace": 10,
}
UNKNOWN_LEVEL = 70
DEFAULT_RING_SIZE = 1000


def entry_level(levelno: int) -> int:
    """A Python level as elizaOS's: DEBUG 20, INFO 30, WARNING 40, ERROR 50, CRITICAL 60."""
    if levelno >= logging.CRITICAL:
        return LEVELS["fatal"]
    if levelno >= logging.ERROR:
        return LEVELS["error"]
    if levelno >= logging.WARNING:
        return LEVELS["warn"]
    if levelno >= logging.INFO:
        return LEVELS["info"]
    if levelno >= logging.DEBUG:
        return LEVELS["debug"]
    return LEVELS["trace"]


def log_entry(record: logging.LogRecord) -> dict[str, Any]:
    """A record as an elizaOS log entry: its time, level, formatted message and logger name,
    and the agent it names; nothing else of the record."""
    entry: dict[str, Any] = {
        "time": int(record.created * 1000),
        "level": entry_level(record.levelno),
        "msg": record.getMessage(),
        "name": record.name,
    }
    for key in ("agentName", "agentId"):
        value = getattr(record, key, None)
        if isinstance(value, str):
            entry[key] = value
    return entry


@dataclass(frozen=True)
class LogQuery:
    """Which entries of the ring to return. ``level`` is one level number (the reference
    matches the level exactly, not "at least"); None means any."""

    since_ms: int = 0
    level: int | None = None
    agent_name: str | None = None
    agent_id: str | None = None
    limit: int = 100

    def matches(self, entry: dict[str, Any]) -> bool:
        return (
            entry["time"] >= self.since_ms
            and (self.level is None or entry["level"] == self.level)
            and (self.agent_name is None or entry.get("agentName") == self.agent_name)
            and (self.agent_id is None or entry.get("agentId") == self.agent_id)
        )


class LogRing:
    """The newest log entries of this process, oldest first; thread-safe."""

    def __init__(self, capacity: int = DEFAULT_RING_SIZE) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        return self._entries.maxlen or 0

    def resize(self, capacity: int) -> None:
        """Keeps the newest ``capacity`` entries from now on (0: none)."""
        with self._lock:
            self._entries = deque(self._entries, maxlen=max(0, capacity))

    def append(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)

    def query(self, query: LogQuery) -> tuple[list[dict[str, Any]], int]:
        """The newest ``query.limit`` matching entries, oldest first, and how many the ring
        holds in all."""
        with self._lock:
            entries = list(self._entries)
        matching = [entry for entry in entries if query.matches(entry)]
        return [dict(entry) for entry in matching[-query.limit :]], len(entries)

    def clear(self) -> int:
        """Empties the ring; returns how many entries went."""
        with self._lock:
            cleared = len(self._entries)
            self._entries.clear()
        return cleared


log_ring = LogRing()


class LogRingHandler(logging.Handler):
    """Keeps each record it handles in :data:`log_ring`. ``LOGGING`` (project/settings.py)
    puts it on the root logger, so any reconfiguration of logging keeps it there."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            log_ring.append(log_entry(record))
        except Exception:
            self.handleError(record)
