"""The server's start-up runs once, at the first connection: it attaches the broadcast outbox to
the server's loop, starts the in-process agents where they run, and freezes the heap."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest

from elizabus import startup
from elizabus.realtime import broadcast


@pytest.fixture(autouse=True)
def _no_outbox_left() -> Iterator[None]:
    yield
    broadcast._outbox = None
    gc.unfreeze()


@pytest.mark.parametrize("in_process", [True, False])
async def test_start_up_runs_once_on_the_first_connection(
    settings: Any, monkeypatch: pytest.MonkeyPatch, in_process: bool
) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "RUN_AGENTS_IN_PROCESS": in_process}
    activations: list[str] = []
    monkeypatch.setattr(startup.agent_runtime, "activate", lambda: activations.append("go"))
    handled: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        handled.append(scope["type"])

    wrapped = startup.ServerStartup(app)
    await wrapped({"type": "lifespan"}, None, None)
    assert activations == []  # daphne sends none, and another server's lifespan is no connection
    assert broadcast._outbox is None
    for scope_type in ("http", "websocket", "http"):
        await wrapped({"type": scope_type}, None, None)
    assert activations == (["go"] if in_process else [])
    assert handled == ["lifespan", "http", "websocket", "http"]
    assert broadcast._outbox is not None
    assert broadcast._outbox.loop is asyncio.get_running_loop()
    assert gc.get_freeze_count() > 0
