"""The server's log, streamed to the sockets that ask for it (docs/realtime.md, "The log stream").

A socket subscribes with ``subscribe_logs``, narrows what it gets with ``update_log_filters
{agentName?, level?}`` and stops with ``unsubscribe_logs``; while subscribed it receives
``log_stream {type: "log_entry", payload: {time, level, msg, name, agentName?, agentId?}}`` for
each record this process logs, built by :func:`elizabus.logs.log_entry`. Levels are elizaOS's
(pino's) numbers: trace 10, debug 20, info 30, warn 40, error 50, fatal 60; a ``level`` filter
passes entries at or above it, and an unknown level name means 70 (nothing), as in the
reference.

Records come from any thread. :class:`LogStreamHandler`, installed on the root logger by the
first subscription, turns each into an entry and hands it to the server's loop, where one task
sends the entries out in order. At most :data:`MAX_PENDING` entries wait; a flood of records
drops the oldest rather than growing without bound. Nothing is done for a record while no socket
is subscribed. Entries carry the formatted message only, never a record's other attributes, so
what a log call passes as data (a token, a request body) does not leave the server.

The stream is per process: a worker process's agents log in that process.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections import deque
from typing import Any, Protocol

from elizabus.logs import LEVELS, UNKNOWN_LEVEL, log_entry
from elizabus.logs import entry_level as entry_level  # the stream's level mapping, re-exported

MAX_PENDING = 1000
MAX_FILTER_LENGTH = 256

# Set while entries are sent: a record logged by the sending itself is not streamed again.
_sending: contextvars.ContextVar[bool] = contextvars.ContextVar("log_stream_sending", default=False)


class LogSocket(Protocol):
    async def emit(self, event: str, *args: Any) -> None: ...


def clean_filters(filters: Any) -> dict[str, Any]:
    """The filters of an ``update_log_filters`` payload that mean something: ``agentName`` (a
    string) and ``level`` (a level name or number). Anything else is ignored."""
    filters = filters if isinstance(filters, dict) else {}
    kept: dict[str, Any] = {}
    agent_name = filters.get("agentName")
    if isinstance(agent_name, str):
        kept["agentName"] = agent_name[:MAX_FILTER_LENGTH]
    level = filters.get("level")
    if isinstance(level, str):
        kept["level"] = level[:MAX_FILTER_LENGTH]
    elif isinstance(level, int | float) and not isinstance(level, bool):
        kept["level"] = level
    return kept


def passes(filters: dict[str, Any], entry: dict[str, Any]) -> bool:
    """The reference's rule: ``agentName`` must match unless it is ``all``; ``level`` lets
    through entries at or above it unless it is ``all``."""
    agent_name = filters.get("agentName")
    if agent_name and agent_name != "all" and entry.get("agentName") != agent_name:
        return False
    level = filters.get("level")
    if level and level != "all":
        threshold = LEVELS.get(level.lower(), UNKNOWN_LEVEL) if isinstance(level, str) else level
        if entry.get("level", LEVELS["info"]) < threshold:
            return False
    return True


class LogStream:
    """This process's log subscribers and the entries waiting to reach them."""

    def __init__(self) -> None:
        self.subscribers: dict[LogSocket, dict[str, Any]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.dropped = 0
        self._pending: deque[dict[str, Any]] = deque(maxlen=MAX_PENDING)
        self._lock = threading.Lock()
        self._scheduled = False

    def subscribe(self, socket: LogSocket) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            # Sockets of a loop that is gone (a test's) cannot be reached any more.
            self.subscribers.clear()
            self._pending.clear()
            self._scheduled = False
            self.loop = loop
        self.subscribers[socket] = {}
        _install_handler()

    def unsubscribe(self, socket: LogSocket) -> None:
        self.subscribers.pop(socket, None)

    def update_filters(self, socket: LogSocket, filters: Any) -> dict[str, Any] | None:
        """Merges ``filters`` into the socket's; None if the socket is not subscribed."""
        current = self.subscribers.get(socket)
        if current is None:
            return None
        current.update(clean_filters(filters))
        return current

    def offer(self, entry: dict[str, Any]) -> None:
        """Queues an entry from any thread; the server's loop sends it."""
        loop = self.loop
        if not self.subscribers or loop is None or loop.is_closed():
            return
        with self._lock:
            if len(self._pending) == MAX_PENDING:
                self.dropped += 1
            self._pending.append(entry)
            if self._scheduled:
                return
            self._scheduled = True
        try:
            loop.call_soon_threadsafe(self._start_sending)
        except RuntimeError:
            # The loop closed in between.
            with self._lock:
                self._scheduled = False

    def _start_sending(self) -> None:
        asyncio.get_running_loop().create_task(self._send_pending())

    async def _send_pending(self) -> None:
        _sending.set(True)
        while True:
            with self._lock:
                if not self._pending:
                    self._scheduled = False
                    return
                entry = self._pending.popleft()
            data = {"type": "log_entry", "payload": entry}
            for socket, filters in list(self.subscribers.items()):
                if passes(filters, entry):
                    try:
                        await socket.emit("log_stream", data)
                    except Exception:
                        self.subscribers.pop(socket, None)


log_stream = LogStream()


class LogStreamHandler(logging.Handler):
    """Hands each record to :data:`log_stream` as an elizaOS log entry."""

    def emit(self, record: logging.LogRecord) -> None:
        if not log_stream.subscribers or _sending.get():
            return
        try:
            log_stream.offer(log_entry(record))
        except Exception:
            self.handleError(record)


_handler = LogStreamHandler()


def _install_handler() -> None:
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)
