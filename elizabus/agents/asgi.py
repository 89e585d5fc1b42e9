"""Starts the in-process agents with the server: an ASGI wrapper that activates the runtime
before the first connection is handled, so no message can arrive before its agents listen.

(Daphne sends no ASGI lifespan events, hence the first connection.)
"""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import sync_to_async

from elizabus.conf import app_settings

from .runtime import agent_runtime


class StartAgentsWithServer:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._started = False
        self._lock = asyncio.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if not self._started and scope["type"] in {"http", "websocket"}:
            async with self._lock:
                if not self._started:
                    if app_settings.RUN_AGENTS_IN_PROCESS:
                        await sync_to_async(agent_runtime.activate, thread_sensitive=False)()
                    self._started = True
        return await self.app(scope, receive, send)
