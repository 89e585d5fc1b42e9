"""Who holds how many sockets: the count behind ``SOCKET_MAX_CONNECTIONS_PER_ENTITY``.

Two backends with one contract, chosen by :func:`entity_presence`:

- :class:`LocalPresence` (no ``REDIS_URL``): a counter in this process. With one server process it
  is the whole truth, and it costs no I/O.
- :class:`RedisPresence` (``REDIS_URL`` set): one sorted set per entity, its members the socket
  ids held anywhere, each scored by the Redis time (ms) at which it expires. A live socket's
  member is refreshed every ``ttl / 3`` by one task per process; a process that dies stops
  refreshing, and its sockets stop counting ``ttl`` seconds later. Add and count run in one Lua
  script, so two processes cannot both take the last place; all times are the Redis server's, so
  the processes' clocks do not matter.

Contract: ``await acquire(entity_id, socket_id, limit)`` returns True and holds a place if fewer
than ``limit`` are held, else False and changes nothing; ``await release(entity_id, socket_id)``
gives a held place back (and is harmless for one not held).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from typing import TYPE_CHECKING

import redis
from django.conf import settings

if TYPE_CHECKING:
    import redis.asyncio
    from redis.commands.core import AsyncScript

from elizabus import breakers

logger = logging.getLogger(__name__)

KEY_PREFIX = "elizabus:presence:"

# KEYS[1] the entity's set; ARGV: socket id, limit, ttl (ms). Drops expired members, then adds
# the socket if there is room. Returns 1 if added, 0 if full.
_ACQUIRE = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""

# KEYS the entities' sets; ARGV[1] the ttl (ms), then one socket id per key. Pushes back the
# expiry of members still present (XX: a member released meanwhile is not brought back).
_REFRESH = """
local now = redis.call('TIME')
local expiry = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', expiry, ARGV[i + 1])
  redis.call('PEXPIRE', key, tonumber(ARGV[1]))
end
return #KEYS
"""

# KEYS[1] the entity's set: its members that have not expired.
_COUNT = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""


class LocalPresence:
    """Sockets per entity in this process."""

    def __init__(self) -> None:
        self.counts: Counter[uuid.UUID] = Counter()

    async def acquire(self, entity_id: uuid.UUID, socket_id: str, limit: int) -> bool:
        if self.counts[entity_id] >= limit:
            return False
        self.counts[entity_id] += 1
        return True

    async def release(self, entity_id: uuid.UUID, socket_id: str) -> None:
        self.counts[entity_id] -= 1
        if self.counts[entity_id] <= 0:
            del self.counts[entity_id]

    async def count(self, entity_id: uuid.UUID) -> int:
        return self.counts[entity_id]


class RedisPresence:
    """Sockets per entity in every process sharing the Redis at ``url``."""

    def __init__(self, url: str, *, ttl: float = 30.0, key_prefix: str = KEY_PREFIX) -> None:
        self.url = url
        self.ttl_ms = int(ttl * 1000)
        self.key_prefix = key_prefix
        # The places this process holds: refreshed while held.
        self.held: set[tuple[uuid.UUID, str]] = set()
        # The places taken in this process's own count while Redis was down.
        self.held_locally: set[tuple[uuid.UUID, str]] = set()
        # redis.asyncio connections belong to one event loop; a new loop (a test's) gets its own.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: redis.asyncio.Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self._refresher: asyncio.Task[None] | None = None

    def key(self, entity_id: uuid.UUID) -> str:
        return f"{self.key_prefix}{entity_id}"

    def _script(self, name: str) -> AsyncScript:
        self._bind()
        return self._scripts[name]

    def _bind(self) -> redis.asyncio.Redis:
        """This loop's client (made on first use in each loop)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop or self._client is None:
            import redis.asyncio

            self._loop = loop
            # A socket's connect waits on these: a hung Redis refuses it in a quarter second
            # rather than hold it (docs/deployment.md, "Deadlines").
            self._client = redis.asyncio.Redis.from_url(
                self.url,
                socket_connect_timeout=getattr(settings, "REDIS_CONNECT_TIMEOUT", None),
                socket_timeout=getattr(settings, "REDIS_REQUEST_TIMEOUT", None),
            )
            self._scripts = {
                "acquire": self._client.register_script(_ACQUIRE),
                "refresh": self._client.register_script(_REFRESH),
                "count": self._client.register_script(_COUNT),
            }
            self._refresher = None
        return self._client

    async def acquire(self, entity_id: uuid.UUID, socket_id: str, limit: int) -> bool:
        """As the contract says; while Redis is down (its breaker open, or this call failed)
        the place is counted in this process, as without Redis: each process then allows the
        limit, and the places it holds there are not seen by the others."""
        if breakers.redis.allow():
            script = self._script("acquire")
            try:
                with breakers.redis.timed():
                    added = await script(
                        keys=[self.key(entity_id)], args=[socket_id, limit, self.ttl_ms]
                    )
            except redis.RedisError as exc:
                breakers.redis.failed(exc)
            else:
                return self._held_here(entity_id, socket_id) if added else False
        if await local_presence.acquire(entity_id, socket_id, limit):
            self.held_locally.add((entity_id, socket_id))
            return True
        return False

    def _held_here(self, entity_id: uuid.UUID, socket_id: str) -> bool:
        self.held.add((entity_id, socket_id))
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever())
        return True

    async def release(self, entity_id: uuid.UUID, socket_id: str) -> None:
        if (entity_id, socket_id) in self.held_locally:
            self.held_locally.discard((entity_id, socket_id))
            await local_presence.release(entity_id, socket_id)
            return
        self.held.discard((entity_id, socket_id))
        if breakers.redis.allow():  # else it ages out, unrefreshed
            await self._bind().zrem(self.key(entity_id), socket_id)

    async def count(self, entity_id: uuid.UUID) -> int:
        if not breakers.redis.allow():
            return await local_presence.count(entity_id)
        return int(await self._script("count")(keys=[self.key(entity_id)]))

    async def refresh(self) -> None:
        """Pushes back the expiry of every place this process holds."""
        held = list(self.held)
        if held:
            await self._script("refresh")(
                keys=[self.key(entity_id) for entity_id, _ in held],
                args=[self.ttl_ms, *(socket_id for _, socket_id in held)],
            )

    async def _refresh_forever(self) -> None:
        while self.held:
            await asyncio.sleep(self.ttl_ms / 3000)
            try:
                await self.refresh()
            except Exception:
                # A missed refresh costs nothing while the next one lands within the ttl.
                logger.warning("socket presence: refresh failed", exc_info=True)

    async def close(self) -> None:
        """Stops the refresher and closes this loop's connections (held places age out)."""
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await self._refresher
        if self._client is not None:
            await self._client.aclose()
        self._loop = self._client = self._refresher = None
        self.held.clear()


local_presence = LocalPresence()
_redis_presence: RedisPresence | None = None


def entity_presence() -> LocalPresence | RedisPresence:
    """The backend for this process: Redis's when ``REDIS_URL`` is set, else the local one."""
    global _redis_presence
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return local_presence
    if _redis_presence is None or _redis_presence.url != url:
        _redis_presence = RedisPresence(url)
    return _redis_presence
