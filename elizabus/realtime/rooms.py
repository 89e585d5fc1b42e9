"""This process's sockets by channel, behind one Channels channel per process.

Every channel has one Channels group (:func:`~.broadcast.channel_group`). The members of that
group are processes, not sockets: the first socket of this process to join a channel adds the
process's own Channels channel to the group, and the last to leave removes it. One task
receives on that channel and hands each group message to this process's sockets in the
channel, in the order the group got them.

So a broadcast crosses the channel layer once per process however many sockets receive it, an
idle socket has no channel, queue or task of its own in the layer, and a polling session that
upgrades to a WebSocket keeps its rooms (they belong to the socket, not to a transport).

Group memberships expire in both layers (``group_expiry``, a day by default); the process
renews its own well before that, and again after the layer failed and came back.

A bus event may be broadcast twice (delivery is at least once); the pump hands each event id,
and each new message, out once.

Each room keeps its channel's offset (docs/realtime.md, "Offsets"): the seq up to which every
message was handed out (or was stored before the room was made), and the seqs handed out
beyond it. While the layer is unreachable (a Redis restart or outage), broadcasts may be lost on
the way: once it answers again, the process reads from the database the messages after each
room's offset, and hands out those its sockets did not get.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from typing import Any, Protocol

from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer, get_channel_layer

from elizabus import breakers, selectors
from elizabus.bus.recent import RecentIds

from . import history
from .broadcast import (
    GROUP_SEND_TIMEOUT,
    SOCKET_EMIT,
    channel_group,
    layer_is_shared,
    new_message_group_message,
)

logger = logging.getLogger(__name__)

# How long the pump waits after the layer failed before it receives again.
RETRY_DELAY = 1.0
# When it reads again after the layer came back, each after the one before.
CATCH_UP_AGAIN_SECONDS = (5.0, 10.0)
# Pages of SOCKET_RESUME_LIMIT messages one catch-up reads per channel, at most.
CATCH_UP_PAGES = 20
# Seqs handed out beyond a room's offset before it stops waiting for the one missing: a
# broadcast given up without the layer failing (nothing would catch it up).
MAX_AHEAD = 1000


class Member(Protocol):
    """A socket's seat in a room: what the pump hands each group message to."""

    async def deliver(self, message: dict[str, Any]) -> None: ...


class LocalRooms:
    """The rooms of one event loop: channel id → the sockets there, and the pump feeding them."""

    def __init__(self, layer: BaseChannelLayer | None) -> None:
        self.layer = layer
        self._members: dict[str, set[Member]] = {}
        self._channel: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # Serialises group_add/group_discard so a room's first join and last leave stay in order.
        self._lock = asyncio.Lock()
        self._delivered = RecentIds()
        self._delivered_messages = RecentIds()
        # Channel id → its offset, and the seqs handed out beyond it (module docstring).
        self._offsets: dict[str, int] = {}
        self._ahead: dict[str, set[int]] = {}

    @property
    def _layer(self) -> BaseChannelLayer:
        """The layer, on the paths that run only when there is one."""
        assert self.layer is not None
        return self.layer

    async def join(self, channel_id: str, member: Member) -> None:
        """Seats ``member`` in the room; returns once group messages for it reach this process."""
        room = self._members.get(channel_id)
        if room is not None:
            room.add(member)
            return
        async with self._lock:
            room = self._members.get(channel_id)
            if room is None:
                if self.layer is not None:
                    await self._add_group(channel_id, await self._listen())
                    # Read once in the group: every later message comes through the layer.
                    await self._read_offset(channel_id)
                room = self._members[channel_id] = set()
            room.add(member)

    async def _add_group(self, channel_id: str, channel: str) -> None:
        try:
            if not self._layer_up():
                raise ConnectionError("the channel layer's Redis is down")
            # A socket's join waits on this: bounded as a send is.
            await asyncio.wait_for(
                self._layer.group_add(channel_group(channel_id), channel), GROUP_SEND_TIMEOUT
            )
        except Exception as exc:
            if self._layer_up() and layer_is_shared():
                breakers.redis.failed(exc)
            # The layer is away (a Redis restart): seat the member all the same, and keep
            # trying; what the channel said meanwhile then comes from the database.
            logger.warning("socket rooms: joining %s waits for the channel layer", channel_id)
            retry = asyncio.get_running_loop().create_task(self._join_later(channel_id))
            self._tasks.append(retry)

    async def _read_offset(self, channel_id: str) -> None:
        try:
            key = uuid.UUID(channel_id)
        except ValueError:
            return  # no channel's (the group messages of tests)
        try:
            last_seq = await database_sync_to_async(selectors.channel_last_seq)(key)
        except Exception:
            # Then the first message handed out sets it.
            logger.warning("socket rooms: could not read the offset of %s", channel_id)
            return
        if last_seq is not None:
            self._offsets[channel_id] = last_seq

    async def _join_later(self, channel_id: str) -> None:
        while True:
            await asyncio.sleep(RETRY_DELAY)
            if channel_id not in self._members:
                return  # everyone left meanwhile
            if not self._layer_up():
                continue
            try:
                await self._layer.group_add(channel_group(channel_id), self._channel)
            except Exception:
                continue
            await self._catch_up(channels=[channel_id])
            return

    async def leave(self, channel_id: str, member: Member) -> None:
        room = self._members.get(channel_id)
        if room is None:
            return
        room.discard(member)
        if room:
            return
        async with self._lock:
            if self._members.get(channel_id) is room and not room:
                del self._members[channel_id]
                self._offsets.pop(channel_id, None)
                self._ahead.pop(channel_id, None)
                if self.layer is not None and self._channel is not None:
                    await self._discard_group(channel_id)

    def _layer_up(self) -> bool:
        """False while the breaker says the shared layer's Redis is down."""
        return breakers.redis.allow() or not layer_is_shared()

    async def _discard_group(self, channel_id: str) -> None:
        """Leaves a room's group, bounded as a send is; a membership left behind only brings
        this process broadcasts for a room it no longer has, until it expires."""
        if not self._layer_up():
            logger.warning("socket rooms: %s left without the channel layer (down)", channel_id)
            return
        try:
            await asyncio.wait_for(
                self._layer.group_discard(channel_group(channel_id), self._channel),
                GROUP_SEND_TIMEOUT,
            )
        except Exception:
            logger.warning("socket rooms: leaving %s failed (the channel layer)", channel_id)

    async def _listen(self) -> str:
        if self._channel is None:
            self._channel = await self._layer.new_channel()
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._pump()), loop.create_task(self._renew())]
        return self._channel

    async def _pump(self) -> None:
        while True:
            try:
                message = await self._layer.receive(self._channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("socket rooms: receiving from the channel layer failed")
                await asyncio.sleep(RETRY_DELAY)
                if await self._renew_groups():
                    await self._catch_up()
                    # Again a little later: broadcasts sent in the moments the layer was coming
                    # back were seen lost too (the fault run's Redis restarts).
                    later = asyncio.get_running_loop().create_task(self._catch_up_later())
                    self._tasks.append(later)
                continue
            if message.get("type") == SOCKET_EMIT:
                await self._deliver(message)

    async def hand_out(self, message: dict[str, Any]) -> None:
        """A group message that did not come through the layer (a reply's stream chunks, from
        this process's bus) to this process's sockets in its channel, as if it had."""
        await self._deliver(message)

    async def _deliver(self, message: dict[str, Any]) -> None:
        event_id, message_id = message.get("event_id") or 0, message.get("message_id") or 0
        # A new message's broadcast (not an edit's, which repeats the id), once, whether the
        # layer or the catch-up brought it.
        if self._delivered.seen(event_id) or self._delivered_messages.seen(message_id):
            logger.debug("socket rooms: event %s (message %s) again, dropped", event_id, message_id)
            return
        channel_id = message.get("channel", "")
        if message.get("seq") and channel_id in self._members:
            self._handed_out(channel_id, message["seq"])
        members = tuple(self._members.get(channel_id, ()))
        logger.debug(
            "socket rooms: event %s (message %s) to %d sockets in %s",
            event_id,
            message_id,
            len(members),
            message.get("channel"),
        )
        for member in members:
            try:
                await member.deliver(message)
            except Exception:
                logger.exception("socket rooms: a delivery failed")

    async def _renew(self) -> None:
        interval = max(float(getattr(self.layer, "group_expiry", 86400)) / 4, 0.25)
        while True:
            await asyncio.sleep(interval)
            await self._renew_groups()

    async def _renew_groups(self) -> bool:
        """Adds this process to its rooms' groups again; False if the layer failed."""
        async with self._lock:
            for channel_id in list(self._members):
                try:
                    await self._layer.group_add(channel_group(channel_id), self._channel)
                except Exception:
                    logger.exception("socket rooms: renewing group %s failed", channel_id)
                    return False
        return True

    def _handed_out(self, channel_id: str, seq: int) -> None:
        offset = self._offsets.get(channel_id)
        if offset is None:
            self._offsets[channel_id] = seq
        elif seq > offset:
            self._ahead.setdefault(channel_id, set()).add(seq)
            self._advance(channel_id, offset)

    def _advance(self, channel_id: str, offset: int) -> None:
        """Moves the channel's offset to ``offset`` (if later), then past every seq handed out
        right after it."""
        offset = max(offset, self._offsets.get(channel_id, offset))
        ahead = self._ahead.get(channel_id)
        if ahead:
            if len(ahead) > MAX_AHEAD:
                offset = max(offset, min(ahead) - 1)
                logger.warning("socket rooms: %s lost seqs up to %d", channel_id, offset)
            while offset + 1 in ahead:
                offset += 1
            ahead.difference_update([seq for seq in ahead if seq <= offset])
        self._offsets[channel_id] = offset

    async def _catch_up_later(self) -> None:
        for delay in CATCH_UP_AGAIN_SECONDS:
            await asyncio.sleep(delay)
            await self._catch_up()

    async def _catch_up(self, channels: list[str] | None = None) -> None:
        """Hands out the messages stored in the rooms' channels (or ``channels``) after their
        offsets and not handed out yet (the layer may have lost their broadcasts)."""
        for channel_id in channels if channels is not None else list(self._members):
            for _ in range(CATCH_UP_PAGES):
                offset = self._offsets.get(channel_id)
                if offset is None or channel_id not in self._members:
                    break
                try:
                    found = await database_sync_to_async(history.stored_after)(
                        channel_id=uuid.UUID(channel_id), after_seq=offset
                    )
                except Exception:
                    logger.exception("socket rooms: catching up on %s failed", channel_id)
                    break
                for event in found.events:
                    if event.seq not in self._ahead.get(channel_id, ()):
                        await self._deliver(new_message_group_message(event))
                # Every seq up to there is handed out now, or was deleted.
                self._advance(channel_id, found.last_seq)
                if found.complete:
                    break

    async def close(self) -> None:
        """Stops the pump and leaves every group (tests and shutdown)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.layer is not None and self._channel is not None:
            for channel_id in list(self._members):
                await self._discard_group(channel_id)
        self._members.clear()
        self._offsets.clear()
        self._ahead.clear()
        self._channel = None


_rooms: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LocalRooms] = (
    weakref.WeakKeyDictionary()
)


def local_rooms() -> LocalRooms:
    """The rooms of the running event loop (one per server process; one per test loop)."""
    loop = asyncio.get_running_loop()
    rooms = _rooms.get(loop)
    if rooms is None:
        rooms = _rooms[loop] = LocalRooms(get_channel_layer())
    return rooms
