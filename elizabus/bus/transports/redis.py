"""The bus across processes: one Redis stream that every event goes through.

- **Sending.** A sender thread appends what the writers committed (``XADD``, pipelined). What
  Redis does not take stays unsent in the outbox, and a relay sends it again later.
- **Every process** (scope ``EACH``) reads the stream from where it was when the process
  started (``XREAD``) and hands each event to its own receivers, the sending process included.
- **Groups** (agents): each group is a Redis consumer group on the stream, with one active
  member at a time, the holder of the group's lease (``SET NX PX``, renewed every third of
  ``BUS_LEASE_SECONDS``). The holder reads the group's entries in order and acknowledges each
  (``XACK``) only once its receivers are done. A new holder first claims (``XAUTOCLAIM``) the
  entries the group's earlier members took and never acknowledged, once they have been idle
  for ``BUS_LEASE_SECONDS``, then goes on. So processes share the groups, not the entries of
  one group, and each group's events stay in stream order.
- **Ephemeral events** (a reply's stream chunks) are not stream entries: one sender thread
  publishes them (``PUBLISH`` on ``<stream>:ephemeral``) in the order they came, dropping the
  oldest when Redis cannot keep up, and every process's subscriber hands them to its ``EACH``
  receivers. Redis keeps nothing of them: a process that is not subscribed at that moment never
  sees them, which is what ephemeral means here.
- **Trimming** (``maintain``): the stream keeps every entry some group has not acknowledged,
  and a minute of the rest for the ``EACH`` readers (``XTRIM MINID``).

A Redis that is unreachable is retried with backoff by every thread; nothing acknowledged is
lost unless Redis itself loses it (docs/bus.md, "What Redis can lose").
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import redis
from django.conf import settings
from django.db import close_old_connections, connections

from elizabus.backoff import Backoff
from elizabus.bus import dispatch
from elizabus.bus.events import EPHEMERAL_EVENT_TYPES, EVENT_TYPES, BusEvent
from elizabus.bus.outbox import OutboxRecord, process_origin
from elizabus.bus.recent import RecentIds
from elizabus.conf import app_settings

from .base import Taken, Transport

if TYPE_CHECKING:
    from redis.typing import EncodableT, FieldT

logger = logging.getLogger(__name__)

READ_BLOCK_MS = 500
READ_BATCH = 200
GROUP_BATCH = 50
SEND_BATCH = 500
# Ephemeral events waiting for the sender; beyond this the oldest are dropped.
EPHEMERAL_QUEUE_LIMIT = 10_000
# EACH readers may lag behind the stream's end by this much before trimming passes them.
EACH_RETENTION_MS = 60_000
MAX_BACKOFF = 5.0
CLOCK_MARGIN_MS = 1000

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


def decode_entry(fields: dict[bytes, bytes]) -> OutboxRecord | None:
    """The record of a stream entry; None (logged) for one this version cannot read."""
    try:
        event_type = EVENT_TYPES[fields[b"event"].decode()]
        event = event_type.from_dict(json.loads(fields[b"data"]))
        return OutboxRecord(
            int(fields.get(b"id", b"0")), event, fields.get(b"origin", b"").decode()
        )
    except (KeyError, ValueError, TypeError):
        logger.warning("dropped a malformed bus entry: %r", fields)
        return None


def create_group(client: redis.Redis, stream: str, name: str, since: str | None) -> None:
    """Creates the consumer group ``name`` after ``since`` (or at the stream's end) unless it
    exists."""
    try:
        client.xgroup_create(stream, name, id=since or "$", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def encode_ephemeral(event: BusEvent) -> bytes:
    return json.dumps(
        {"event": event.name, "data": event.to_dict()}, separators=(",", ":")
    ).encode()


def decode_ephemeral(message: bytes) -> BusEvent | None:
    """The ephemeral event of a published message; None (logged) for one this version cannot
    read."""
    try:
        decoded = json.loads(message)
        return EPHEMERAL_EVENT_TYPES[decoded["event"]].from_dict(decoded["data"])
    except (KeyError, ValueError, TypeError):
        logger.warning("dropped a malformed ephemeral bus event: %r", message[:200])
        return None


def _position(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence or 0)


class _Backoff(Backoff):
    """A thread's backoff, logged once per run of failures and every 50th failure of it."""

    def __init__(self) -> None:
        super().__init__(first=0.2, cap=MAX_BACKOFF)

    def wait(self, stopping: threading.Event, what: str) -> None:
        delay = self.failed()
        if self.failures == 1 or self.failures % 50 == 0:
            logger.warning("bus redis: %s failed (%d in a row); retrying", what, self.failures)
        stopping.wait(delay)

    def ok(self) -> None:
        if failures := self.succeeded():
            logger.info("bus redis: back after %d failures", failures)


class RedisStreamTransport(Transport):
    shares_events = True

    def __init__(self, url: str | None = None, *, listen: bool = True, consumer: str = "") -> None:
        self._url = url or settings.REDIS_URL
        if not self._url:
            raise ValueError("RedisStreamTransport needs REDIS_URL")
        self.stream = app_settings.BUS_STREAM
        # This process's name in the groups and their leases.
        self.consumer = consumer or process_origin()
        self._listen = listen
        self._client = redis.Redis.from_url(
            self._url, socket_connect_timeout=2, socket_timeout=READ_BLOCK_MS / 1000 + 5
        )
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._outgoing: queue.Queue[tuple[Sequence[OutboxRecord], Taken]] = queue.Queue()
        self.ephemeral_channel = f"{self.stream}:ephemeral"
        self._ephemeral: queue.Queue[BusEvent] = queue.Queue(EPHEMERAL_QUEUE_LIMIT)
        self._subscribed = threading.Event()
        self._ready = threading.Event()
        self._groups: dict[str, GroupMember] = {}
        self._recent = RecentIds()

    def lease_key(self, group: str) -> str:
        return f"{self.stream}:lease:{group}"

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        # A short-lived process (a management command) sends what it committed before it exits.
        atexit.register(self._drain)
        self._spawn(self._send_loop, "bus-redis-send")
        self._spawn(self._send_ephemeral_loop, "bus-redis-ephemeral-send")
        if self._listen:
            self._spawn(self._read_loop, "bus-redis-each")
            self._spawn(self._read_ephemeral_loop, "bus-redis-ephemeral-each")
            self._spawn(self._supervise, "bus-redis-groups")
            # Events sent after start() returns must reach this process: wait for the first
            # read and the subscription.
            self._ready.wait(5)
            self._subscribed.wait(5)

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _drain(self, timeout: float = 2.0) -> None:
        """Waits (a while) for the sender to hand Redis what the writers committed."""
        deadline = time.monotonic() + timeout
        while not self._outgoing.empty() and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self) -> None:
        atexit.unregister(self._drain)
        self._drain()
        self._stopping.set()
        for member in list(self._groups.values()):
            member.stop()
        for thread in self._threads:
            thread.join(READ_BLOCK_MS / 1000 + 2)
        self._threads = []
        self._client.close()

    # --- sending ----------------------------------------------------------------------------
    def send(self, records: Sequence[OutboxRecord], taken: Taken) -> None:
        self._outgoing.put((records, taken))

    def _send_loop(self) -> None:
        backoff = _Backoff()
        while not self._stopping.is_set() or not self._outgoing.empty():
            try:
                batch = [self._outgoing.get(timeout=0.2)]
            except queue.Empty:
                continue
            while len(batch) < SEND_BATCH:
                try:
                    batch.append(self._outgoing.get_nowait())
                except queue.Empty:
                    break
            try:
                pipe = self._client.pipeline(transaction=False)
                for records, _ in batch:
                    for record in records:
                        pipe.xadd(self.stream, self.entry(record))
                pipe.execute()
            except redis.RedisError:
                # Not taken: the rows stay unsent, and a relay sends them once Redis is back.
                backoff.wait(self._stopping, "sending")
                continue
            backoff.ok()
            for records, taken in batch:
                try:
                    taken([record.id for record in records])
                except Exception:
                    # The rows stay unsent and are sent again; this thread must go on.
                    logger.exception("bus redis: marking events sent failed")

    def send_ephemeral(self, event: BusEvent) -> None:
        while True:
            try:
                self._ephemeral.put_nowait(event)
                return
            except queue.Full:
                # Behind by a queue's length: the oldest piece matters least (the stored reply
                # that ends the stream carries the whole text).
                with contextlib.suppress(queue.Empty):
                    self._ephemeral.get_nowait()

    def _send_ephemeral_loop(self) -> None:
        backoff = _Backoff()
        while not self._stopping.is_set():
            try:
                batch = [self._ephemeral.get(timeout=0.2)]
            except queue.Empty:
                continue
            while len(batch) < SEND_BATCH:
                try:
                    batch.append(self._ephemeral.get_nowait())
                except queue.Empty:
                    break
            try:
                pipe = self._client.pipeline(transaction=False)
                for event in batch:
                    pipe.publish(self.ephemeral_channel, encode_ephemeral(event))
                pipe.execute()
            except redis.RedisError:
                # Dropped: at most once is the promise, and a stream that stalls ends with its
                # stored reply anyway.
                backoff.wait(self._stopping, "sending ephemeral events")
                continue
            backoff.ok()

    def _read_ephemeral_loop(self) -> None:
        backoff = _Backoff()
        while not self._stopping.is_set():
            subscriber = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                subscriber.subscribe(self.ephemeral_channel)
                self._subscribed.set()
                backoff.ok()
                while not self._stopping.is_set():
                    message = subscriber.get_message(timeout=READ_BLOCK_MS / 1000)
                    if message is None or message.get("type") != "message":
                        continue
                    event = decode_ephemeral(message["data"])
                    if event is not None:
                        dispatch.dispatch_local(event, scopes=(dispatch.EACH,))
            except redis.RedisError:
                backoff.wait(self._stopping, "reading ephemeral events")
            finally:
                with contextlib.suppress(redis.RedisError):
                    subscriber.close()

    @staticmethod
    def entry(record: OutboxRecord) -> dict[FieldT, EncodableT]:
        return {
            "id": str(record.id),
            "origin": record.origin,
            "event": record.event.name,
            "data": json.dumps(record.event.to_dict(), separators=(",", ":")),
        }

    # --- every process ----------------------------------------------------------------------
    def _read_loop(self) -> None:
        backoff = _Backoff()
        last_id: str | None = None
        while not self._stopping.is_set():
            try:
                if last_id is None:
                    # Any: redis-py types each reply for RESP2 and RESP3 at once, and this
                    # client speaks RESP2 (lists of entries).
                    newest: Any = self._client.xrevrange(self.stream, count=1)
                    last_id = newest[0][0].decode() if newest else "0-0"
                    self._ready.set()
                batches: Any = self._client.xread(
                    {self.stream: last_id}, count=READ_BATCH, block=READ_BLOCK_MS
                )
                backoff.ok()
            except redis.RedisError:
                backoff.wait(self._stopping, "reading the stream")
                continue
            for _, entries in batches or ():
                for entry_id, fields in entries:
                    last_id = entry_id.decode()
                    record = decode_entry(fields)
                    if record is None or self._recent.seen(record.id):
                        continue
                    dispatch.dispatch_local(
                        record.event,
                        scopes=(dispatch.EACH,),
                        event_id=record.id,
                        position=last_id,
                    )

    # --- groups -----------------------------------------------------------------------------
    def _supervise(self) -> None:
        backoff = _Backoff()
        while not self._stopping.is_set():
            wanted = {membership.scope.name: membership for membership in dispatch.memberships()}
            for name, member in list(self._groups.items()):
                # A membership that was left, or replaced by a new one (its agent restarted),
                # is not consumed on: the new one gets a member of its own.
                if not dispatch.is_current(member.membership):
                    del self._groups[name]
                    member.stop()
            try:
                for name, membership in wanted.items():
                    current = self._groups.get(name)
                    if current is None:
                        current = self._groups[name] = GroupMember(self, membership)
                    current.keep_lease()
                backoff.ok()
            except redis.RedisError:
                backoff.wait(self._stopping, "keeping the groups' leases")
                continue
            self._stopping.wait(app_settings.BUS_LEASE_SECONDS / 3)

    def prepare_group(
        self, name: str, since: str | None, written_after: float | None = None
    ) -> None:
        if since is None and written_after:
            # Stream ids are Redis's clock in milliseconds; a second's margin for clocks that
            # differ a little between hosts: a group may see an event or two of before.
            since = f"{int(written_after * 1000) - CLOCK_MARGIN_MS}-0"
        try:
            create_group(self._client, self.stream, name, since)
        except redis.RedisError:
            logger.warning("bus group %s: not created yet (Redis unreachable)", name)

    def drop_group(self, name: str) -> None:
        """Forgets a group for good (its agent was stopped or deleted): the stream no longer
        keeps entries for it."""
        with contextlib.suppress(redis.RedisError):
            self._client.xgroup_destroy(self.stream, name)

    def maintain(self) -> None:
        """Trims the stream up to what every group acknowledged (and a minute more)."""
        try:
            groups = self._client.xinfo_groups(self.stream)
        except redis.ResponseError:
            return  # no stream yet
        keep_from = (int(time.time() * 1000) - EACH_RETENTION_MS, 0)
        for info in groups:
            # The group's entries may all be acknowledged between the two reads.
            pending = info["pending"] and self._client.xpending(self.stream, info["name"])["min"]
            if pending:
                oldest = _position(pending)
            else:
                # Everything up to the last delivered entry is acknowledged.
                last = _position(info["last-delivered-id"])
                oldest = (last[0], last[1] + 1)
            keep_from = min(keep_from, oldest)
        self._client.xtrim(self.stream, minid=f"{keep_from[0]}-{keep_from[1]}", approximate=False)

    @property
    def client(self) -> redis.Redis:
        return self._client

    @property
    def stopping(self) -> threading.Event:
        return self._stopping


class GroupMember:
    """This process's membership of one group: its lease, and while it holds it, the thread
    that consumes the group."""

    def __init__(self, transport: RedisStreamTransport, membership: dispatch.Membership) -> None:
        self.transport = transport
        self.membership = membership
        self.name = membership.scope.name
        self._client = transport.client
        self._key = transport.lease_key(self.name)
        self._holding = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._attempts: dict[str, int] = {}

    @property
    def holding(self) -> bool:
        return self._holding.is_set()

    def keep_lease(self) -> None:
        lease_ms = int(app_settings.BUS_LEASE_SECONDS * 1000)
        me = self.transport.consumer
        if self.holding:
            if not self._client.eval(_RENEW, 1, self._key, me, lease_ms):
                logger.warning("bus group %s: lease lost", self.name)
                self._holding.clear()
            return
        if self._client.set(self._key, me, nx=True, px=lease_ms):
            self._holding.set()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._consume, name=f"bus-group-{self.name}", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._holding.clear()
        if self._thread is not None:
            self._thread.join(READ_BLOCK_MS / 1000 + 10)
        with contextlib.suppress(redis.RedisError):  # else it expires
            self._client.eval(_RELEASE, 1, self._key, self.transport.consumer)

    def _active(self) -> bool:
        """Whether this member may still consume and acknowledge. The membership is checked
        too, because the supervisor notices a left group only on its next round: meanwhile the
        group's receivers are disconnected, and an entry handed to no receiver must not be
        acknowledged."""
        return (
            self.holding
            and not self._stopped.is_set()
            and not self.transport.stopping.is_set()
            and dispatch.is_current(self.membership)
        )

    def _consume(self) -> None:
        backoff = _Backoff()
        stream, me = self.transport.stream, self.transport.consumer
        prepared = False
        next_claim = 0.0
        try:
            while self._active():
                try:
                    if not prepared:
                        self._create_group()
                        if self.membership.on_acquire is not None:
                            self.membership.on_acquire()
                        prepared = True
                    # Our own unacknowledged entries first, in order: one that failed is retried
                    # before anything after it.
                    entries: Any = self._client.xreadgroup(
                        self.name, me, {stream: "0"}, count=GROUP_BATCH
                    )
                    pending = entries[0][1] if entries else []
                    if not pending and time.monotonic() >= next_claim:
                        next_claim = time.monotonic() + 1.0
                        pending = self._claim()
                    if pending:
                        if not self._handle_all(pending):
                            backoff.wait(self.transport.stopping, f"group {self.name}")
                        continue
                    entries = self._client.xreadgroup(
                        self.name, me, {stream: ">"}, count=GROUP_BATCH, block=READ_BLOCK_MS
                    )
                    backoff.ok()
                    if entries and not self._handle_all(entries[0][1]):
                        backoff.wait(self.transport.stopping, f"group {self.name}")
                except redis.ResponseError as exc:
                    if "NOGROUP" in str(exc):
                        prepared = False  # Redis lost the group (restarted without its data)
                    backoff.wait(self.transport.stopping, f"group {self.name}")
                except redis.RedisError:
                    backoff.wait(self.transport.stopping, f"group {self.name}")
        finally:
            connections.close_all()

    def _create_group(self) -> None:
        create_group(self._client, self.transport.stream, self.name, self.membership.since)

    def _claim(self) -> list[Any]:
        """The entries other members took and left idle for a lease's length."""
        idle_ms = int(app_settings.BUS_LEASE_SECONDS * 1000)
        claimed: list[Any] = []
        cursor = "0-0"
        for _ in range(100):
            cursor, entries, *_ = self._client.xautoclaim(
                self.transport.stream,
                self.name,
                self.transport.consumer,
                idle_ms,
                start_id=cursor,
                count=GROUP_BATCH,
            )
            claimed.extend(entry for entry in entries if entry[1])
            cursor = cursor.decode() if isinstance(cursor, bytes) else cursor
            if cursor == "0-0":
                break
        return claimed

    def _handle_all(self, entries: list[Any]) -> bool:
        """Handles entries in order, acknowledging each once done; False at the first that
        failed (it stays pending and is tried again)."""
        for entry_id, fields in entries:
            if not self._active():
                return True
            entry_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            if fields and not self._handle(entry_id, fields):
                return False
            if not self._active():
                # Left during the entry: its receivers may have been gone. It stays pending and
                # is handled again, which the receivers' own records make harmless.
                return True
            self._client.xack(self.transport.stream, self.name, entry_id)
            self._attempts.pop(entry_id, None)
        return True

    def _handle(self, entry_id: str, fields: dict[bytes, bytes]) -> bool:
        record = decode_entry(fields)
        if record is None:
            return True
        close_old_connections()
        try:
            results = dispatch.dispatch_local(
                record.event,
                scopes=(self.membership.scope,),
                event_id=record.id,
                position=entry_id,
            )
            dispatch.wait_for(results)
        except Exception:
            attempts = self._attempts[entry_id] = self._attempts.get(entry_id, 0) + 1
            if attempts >= app_settings.BUS_MAX_ATTEMPTS:
                logger.exception(
                    "bus group %s: gave up on %s after %d attempts", self.name, entry_id, attempts
                )
                return True
            logger.warning("bus group %s: %s failed (attempt %d)", self.name, entry_id, attempts)
            connections.close_all()
            return False
        return True
