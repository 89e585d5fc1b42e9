"""The bus across processes: every event goes through one Redis stream, and every process reads
the stream and hands each event to its own receivers (server processes for their sockets, agent
workers for their agents), the sending process included.

A process that names itself with ``ELIZABUS["BUS_CONSUMER"]`` (agent workers do) keeps its
position in Redis and resumes from there after a restart, so the events published while it was
down still reach it (at least once; agents' memories make a second delivery harmless). Other
processes start at the stream's end. The stream is capped at ``BUS_STREAM_MAXLEN`` entries.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import redis
from django.conf import settings

from elizabus.bus.dispatch import dispatch_local
from elizabus.bus.events import EVENT_TYPES, BusEvent
from elizabus.conf import app_settings

from .base import Transport

logger = logging.getLogger(__name__)

SEND_ATTEMPTS = 3
READ_BLOCK_MS = 500
READ_BATCH = 200


class RedisStreamTransport(Transport):
    def __init__(self, url: str | None = None, *, listen: bool = True) -> None:
        self._url = url or settings.REDIS_URL
        if not self._url:
            raise ValueError("RedisStreamTransport needs REDIS_URL")
        self._stream = app_settings.BUS_STREAM
        self._maxlen = app_settings.BUS_STREAM_MAXLEN
        self._consumer = app_settings.BUS_CONSUMER
        self._listen = listen
        self._client = redis.Redis.from_url(self._url)
        self._stopping = threading.Event()
        self._listener: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def cursor_key(self) -> str:
        return f"{self._stream}:cursor:{self._consumer}"

    def start(self) -> None:
        if not self._listen or self._listener is not None:
            return
        self._listener = threading.Thread(target=self._read, name="bus-redis", daemon=True)
        self._listener.start()
        # Events sent after start() returns must reach this process: wait for the first read.
        self._ready.wait(5)

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.join(READ_BLOCK_MS / 1000 + 2)
            self._listener = None
        self._client.close()

    def send(self, event: BusEvent) -> None:
        fields = {"event": event.name, "data": json.dumps(event.to_dict(), separators=(",", ":"))}
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                self._client.xadd(self._stream, fields, maxlen=self._maxlen, approximate=True)
                return
            except redis.RedisError:
                if attempt == SEND_ATTEMPTS:
                    # The row is committed; only the announcement is lost. Say so loudly.
                    logger.exception("bus event %s could not be sent to Redis", event.name)
                    return
                time.sleep(0.05 * attempt)

    def _start_id(self) -> str:
        if self._consumer:
            saved = self._client.get(self.cursor_key)
            if saved:
                return saved.decode()
        last = self._client.xrevrange(self._stream, count=1)
        return last[0][0].decode() if last else "0-0"

    def _read(self) -> None:
        last_id = None
        while not self._stopping.is_set():
            try:
                if last_id is None:
                    last_id = self._start_id()
                    self._ready.set()
                batches = self._client.xread(
                    {self._stream: last_id}, count=READ_BATCH, block=READ_BLOCK_MS
                )
                for _, entries in batches or ():
                    for entry_id, fields in entries:
                        self._deliver(fields)
                        last_id = entry_id.decode()
                    if self._consumer:
                        self._client.set(self.cursor_key, last_id)
            except redis.RedisError:
                logger.exception("reading the bus stream failed; retrying")
                self._stopping.wait(1)

    def _deliver(self, fields: dict[bytes, bytes]) -> None:
        try:
            event_type = EVENT_TYPES[fields[b"event"].decode()]
            event = event_type.from_dict(json.loads(fields[b"data"]))
        except (KeyError, ValueError, TypeError):
            logger.warning("dropped a malformed bus entry: %r", fields)
            return
        dispatch_local(event)
