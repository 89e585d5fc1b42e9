"""The server's start-up runs once, at the lifespan's start-up or else at the first connection:
it attaches the broadcast outbox to the server's loop, starts the in-process agents where they
run, and freezes the heap. The lifespan's shutdown stops the agents."""

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


def _recording_runtime(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(startup.agent_runtime, "activate", lambda: calls.append("activate"))
    monkeypatch.setattr(startup.agent_runtime, "deactivate", lambda: calls.append("deactivate"))
    return calls


def _assert_started() -> None:
    assert broadcast._outbox is not None
    assert broadcast._outbox.loop is asyncio.get_running_loop()
    assert gc.get_freeze_count() > 0


@pytest.mark.parametrize("in_process", [True, False])
async def test_without_lifespan_events_start_up_runs_once_on_the_first_connection(
    settings: Any, monkeypatch: pytest.MonkeyPatch, in_process: bool
) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "RUN_AGENTS_IN_PROCESS": in_process}
    calls = _recording_runtime(monkeypatch)
    handled: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        handled.append(scope["type"])

    wrapped = startup.ServerStartup(app)
    for scope_type in ("http", "websocket", "http"):
        await wrapped({"type": scope_type}, None, None)
    assert calls == (["activate"] if in_process else [])
    assert handled == ["http", "websocket", "http"]
    _assert_started()


@pytest.mark.parametrize("in_process", [True, False])
async def test_the_lifespan_starts_up_before_any_connection_and_shuts_agents_down(
    settings: Any, monkeypatch: pytest.MonkeyPatch, in_process: bool
) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "RUN_AGENTS_IN_PROCESS": in_process}
    calls = _recording_runtime(monkeypatch)
    handled: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        handled.append(scope["type"])

    wrapped = startup.ServerStartup(app)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    lifespan = asyncio.ensure_future(wrapped({"type": "lifespan"}, inbox.get, send))
    await inbox.put({"type": "lifespan.startup"})
    while not sent:
        await asyncio.sleep(0.01)
    assert sent == [{"type": "lifespan.startup.complete"}]
    _assert_started()
    assert calls == (["activate"] if in_process else [])

    await wrapped({"type": "http"}, None, None)
    assert calls == (["activate"] if in_process else [])  # not started again
    await inbox.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(lifespan, 2)
    assert sent[-1] == {"type": "lifespan.shutdown.complete"}
    assert calls == (["activate", "deactivate"] if in_process else [])
    assert handled == ["http"]  # the lifespan itself never reaches the application


async def test_a_failed_start_up_is_reported_to_the_server(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "RUN_AGENTS_IN_PROCESS": True}

    def broken() -> None:
        raise RuntimeError("no database")

    monkeypatch.setattr(startup.agent_runtime, "activate", broken)
    wrapped = startup.ServerStartup(lambda *args: None)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await inbox.put({"type": "lifespan.startup"})
    with pytest.raises(RuntimeError, match="no database"):
        await asyncio.wait_for(wrapped({"type": "lifespan"}, inbox.get, send), 5)
    assert sent == [{"type": "lifespan.startup.failed", "message": "no database"}]
