"""StartAgentsWithServer: the in-process agents start once, before the first connection is
handled, and only where ``RUN_AGENTS_IN_PROCESS`` is on."""

from __future__ import annotations

from typing import Any

import pytest

from elizabus.agents import asgi


@pytest.mark.parametrize("in_process", [True, False])
async def test_agents_start_once_on_the_first_connection(
    settings: Any, monkeypatch: pytest.MonkeyPatch, in_process: bool
) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "RUN_AGENTS_IN_PROCESS": in_process}
    activations: list[str] = []
    monkeypatch.setattr(asgi.agent_runtime, "activate", lambda: activations.append("activate"))
    handled: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        handled.append(scope["type"])

    wrapped = asgi.StartAgentsWithServer(app)
    await wrapped({"type": "lifespan"}, None, None)
    assert activations == []  # daphne sends none, and other servers' lifespan is no connection
    for scope_type in ("http", "websocket", "http"):
        await wrapped({"type": scope_type}, None, None)
    assert activations == (["activate"] if in_process else [])
    assert handled == ["lifespan", "http", "websocket", "http"]
