"""What happens when the server starts, done before its first connection is handled: at the
ASGI lifespan's start-up (``manage.py serve``), or at the first connection under a server that
sends no lifespan events (daphne):

- the real-time layer learns the server's event loop, so that bus events committed on other
  threads (agents, the database thread) reach the sockets on it, in order;
- the in-process agents start, where ``RUN_AGENTS_IN_PROCESS`` is on, so no message can arrive
  before its agents listen;
- the bus relay starts: it sends what was committed and never sent, and under the database
  transport brings the events of other processes to this one;
- the objects made so far are frozen out of the garbage collector's reach: its full collections
  of them paused the loop, and those pauses were the fan-out benchmark's worst latencies
  (bench/README.md).

At the lifespan's shutdown the in-process agents and the relay stop and the process leaves its
channels' groups.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from asgiref.sync import sync_to_async

from elizabus.agents.attached import attachments
from elizabus.agents.runtime import agent_runtime
from elizabus.bus.relay import relay
from elizabus.conf import app_settings
from elizabus.realtime import broadcast
from elizabus.realtime.rooms import local_rooms


class ServerStartup:
    """An ASGI wrapper that runs the start-up once, at the first http or websocket scope."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._started = False
        self._lock = asyncio.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return None
        if not self._started and scope["type"] in {"http", "websocket"}:
            await self._start_once()
        return await self.app(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._start_once()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    raise
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._started:
                    await self._stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start_once(self) -> None:
        async with self._lock:
            if not self._started:
                await self._start()
                self._started = True

    async def _stop(self) -> None:
        if app_settings.RUN_AGENTS_IN_PROCESS:
            await sync_to_async(agent_runtime.deactivate, thread_sensitive=False)()
        # Instances attached for hosted agents go to another server (close code 1001).
        await sync_to_async(attachments.close_all, thread_sensitive=False)()
        await sync_to_async(relay.stop, thread_sensitive=False)()
        # Leave the channels' groups now rather than let a shared layer (Redis) keep queueing
        # broadcasts for this process until the memberships expire, a day later.
        await local_rooms().close()

    async def _start(self) -> None:
        broadcast.attach_server_loop(asyncio.get_running_loop())
        if app_settings.RUN_AGENTS_IN_PROCESS:
            await sync_to_async(agent_runtime.activate, thread_sensitive=False)()
        await sync_to_async(attachments.hold_enabled, thread_sensitive=False)()
        relay.start()
        gc.collect()
        gc.freeze()
