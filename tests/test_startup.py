"""The server's start-up runs once, at the lifespan's start-up or else at the first connection:
it attaches the broadcast outbox to the server's loop, starts the in-process agents where they
run, and freezes the heap. The lifespan's shutdown stops the agents and leaves the channels'
groups."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.layers import get_channel_layer

from elizabus import startup
from elizabus.realtime import broadcast
from elizabus.realtime.broadcast import channel_group
from elizabus.realtime.rooms import local_rooms


@pytest.fixture(autouse=True)
async def _nothing_left() -> AsyncIterator[None]:
    yield
    broadcast._outbox = None
    gc.unfreeze()
    await local_rooms().close()
    await get_channel_layer().flush()


def _recording_runtime(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(startup.agent_runtime, "activate", lambda: calls.append("activate"))
    monkeypatch.setattr(startup.agent_runtime, "deactivate", lambda: calls.append("deactivate"))
    monkeypatch.setattr(startup.attachments, "hold_enabled", lambda: calls.append("hold"))
    return calls


def _assert_started() -> None:
    assert broadcast._outbox is not None
    assert broadcast._outbox.loop is asyncio.get_running_loop()
    assert gc.get_freeze_count() > 0


class Recorder:
    """An application that records the scopes it gets, and a server's lifespan channel."""

    def __init__(self) -> None:
        self.handled: list[str] = []
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.handled.append(scope["type"])

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


@pytest.mark.parametrize("in_process", [True, False])
async def test_without_lifespan_events_start_up_runs_once_on_the_first_connection(
    settings: Any, monkeypatch: pytest.MonkeyPatch, in_process: bool
) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "RUN_AGENTS_IN_PROCESS": in_process}
    calls = _recording_runtime(monkeypatch)
    recorder = Recorder()
    wrapped = startup.ServerStartup(recorder.app)
    for scope_type in ("http", "websocket", "http"):
        await wrapped({"type": scope_type}, None, None)
    assert calls == (["activate", "hold"] if in_process else ["hold"])
    assert recorder.handled == ["http", "websocket", "http"]
    _assert_started()


@pytest.mark.parametrize("in_process", [True, False])
async def test_the_lifespan_starts_up_before_any_connection_and_shuts_down(
    settings: Any, monkeypatch: pytest.MonkeyPatch, in_process: bool
) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "RUN_AGENTS_IN_PROCESS": in_process}
    # The in-memory layer, whatever REDIS_URL says: its groups can be looked at.
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    calls = _recording_runtime(monkeypatch)
    recorder = Recorder()
    wrapped = startup.ServerStartup(recorder.app)

    lifespan = asyncio.ensure_future(
        wrapped({"type": "lifespan"}, recorder.inbox.get, recorder.send)
    )
    await recorder.inbox.put({"type": "lifespan.startup"})
    while not recorder.sent:
        await asyncio.sleep(0.01)
    assert recorder.sent == [{"type": "lifespan.startup.complete"}]
    _assert_started()
    assert calls == (["activate", "hold"] if in_process else ["hold"])

    await wrapped({"type": "http"}, None, None)
    assert calls == (["activate", "hold"] if in_process else ["hold"])  # not started again
    # A socket of this process in a channel: its process is a member of the channel's group.
    layer = get_channel_layer()
    await local_rooms().join("c1", object())
    assert layer.groups.get(channel_group("c1"))

    await recorder.inbox.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(lifespan, 2)
    assert recorder.sent[-1] == {"type": "lifespan.shutdown.complete"}
    assert calls == (["activate", "hold", "deactivate"] if in_process else ["hold"])
    assert not layer.groups.get(channel_group("c1"))  # the process left the channel's group
    assert recorder.handled == ["http"]  # the lifespan itself never reaches the application


async def test_a_failed_start_up_is_reported_to_the_server(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "RUN_AGENTS_IN_PROCESS": True}

    def broken() -> None:
        raise RuntimeError("no database")

    monkeypatch.setattr(startup.agent_runtime, "activate", broken)
    recorder = Recorder()
    wrapped = startup.ServerStartup(recorder.app)
    await recorder.inbox.put({"type": "lifespan.startup"})
    with pytest.raises(RuntimeError, match="no database"):
        await asyncio.wait_for(wrapped({"type": "lifespan"}, recorder.inbox.get, recorder.send), 5)
    assert recorder.sent == [{"type": "lifespan.startup.failed", "message": "no database"}]
