"""The ``http`` and ``sse`` transports of ``POST /api/messaging/channels/:id/messages`` through the
ASGI path (the exchange awaits the agent's answer on the event loop), with real agents running in
their worker threads.

Requests go through Django's ``AsyncClient``; database checks go through ``sync_to_async``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.http import HttpResponse
from django.test import AsyncClient

from elizabus.models import DEFAULT_SERVER_ID, Channel, Message
from tests.agents.conftest import AGENT_DB, Stage, stage
from tests.agents.helpers import ECHO, FAILING, SILENT, SLOW
from tests.api.helpers import assert_error

__all__ = ["stage"]  # the fixture, shared with tests/agents

pytestmark = AGENT_DB


def _url(channel_id: uuid.UUID) -> str:
    return f"/api/messaging/channels/{channel_id}/messages"


def _body(stage: Stage, transport: Any, content: str = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "author_id": str(stage.human),
        "content": content,
        "message_server_id": str(DEFAULT_SERVER_ID),
        "transport": transport,
        **extra,
    }


async def _post(
    async_client: AsyncClient, channel_id: uuid.UUID, body: dict[str, Any]
) -> HttpResponse:
    return await async_client.post(
        _url(channel_id), json.dumps(body), content_type="application/json"
    )


async def _sse(response: HttpResponse) -> list[tuple[str, Any]]:
    """The stream's events, checking the framing: ``event: <name>\\ndata: <json>\\n\\n``."""
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    assert response["Cache-Control"] == "no-cache"
    raw = b"".join([chunk async for chunk in response.streaming_content]).decode()
    assert raw.endswith("\n\n")
    events = []
    for frame in raw[: -len("\n\n")].split("\n\n"):
        name_line, data_line = frame.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        events.append((name_line[len("event: ") :], json.loads(data_line[len("data: ") :])))
    return events


async def _agent_room(
    stage: Stage, responder: str = ECHO, **options: Any
) -> tuple[uuid.UUID, uuid.UUID]:
    """An agent with ``responder``, running, in a channel with the person."""

    def make() -> tuple[uuid.UUID, uuid.UUID]:
        agent = stage.agent(responder=responder, options=options)
        return agent, stage.channel(agent)

    return await sync_to_async(make)()


# --- http -------------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", ["http", "sync"])
async def test_http_returns_the_agents_answer(
    stage: Stage, async_client: AsyncClient, transport: str
) -> None:
    agent, room = await _agent_room(stage)
    response = await _post(async_client, room, _body(stage, transport, "Men are all alike."))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["success"] is True
    user_message = body["userMessage"]
    assert user_message["content"] == "Men are all alike."
    assert user_message["author_id"] == str(stage.human)
    answer = body["agentResponse"]
    assert answer["text"] == "echo: Men are all alike."
    assert answer["actions"] == ["REPLY"]
    stored = await sync_to_async(Message.objects.get)(id=answer["id"])
    assert stored.author_id == agent
    assert str(stored.in_reply_to_id) == user_message["id"]


async def test_http_answers_null_when_the_agent_stays_silent(
    stage: Stage, async_client: AsyncClient
) -> None:
    _, room = await _agent_room(stage, SILENT)
    response = await _post(async_client, room, _body(stage, "http"))
    assert response.status_code == 201, response.content
    assert response.json()["agentResponse"] is None


@pytest.mark.parametrize("target", [None, "second"])
async def test_http_waits_for_the_answering_agent_only(
    stage: Stage, async_client: AsyncClient, target: str | None
) -> None:
    first = await sync_to_async(stage.agent)("First", options={"prefix": "first: "})
    second = await sync_to_async(stage.agent)("Second", options={"prefix": "second: "})
    room = await sync_to_async(stage.channel)(first, second)
    metadata = {"targetAgentId": str(second)} if target else {}
    response = await _post(async_client, room, _body(stage, "http", "hi", metadata=metadata))
    assert response.status_code == 201, response.content
    assert response.json()["agentResponse"]["text"] == f"{target or 'first'}: hi"


async def test_http_reports_a_failing_agent_as_502(stage: Stage, async_client: AsyncClient) -> None:
    _, room = await _agent_room(stage, FAILING)
    response = await _post(async_client, room, _body(stage, "http", "boom"))
    error = assert_error_with_user_message(response, 502, "AGENT_ERROR")
    assert "cannot answer 'boom'" in error["message"]


async def test_http_gives_up_on_a_slow_agent_with_504(
    stage: Stage, async_client: AsyncClient, settings: Any
) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "AGENT_REPLY_TIMEOUT_SECONDS": 0.1}
    _, room = await _agent_room(stage, SLOW, delay=0.5)
    response = await _post(async_client, room, _body(stage, "http"))
    assert_error_with_user_message(response, 504, "AGENT_TIMEOUT")


def assert_error_with_user_message(
    response: HttpResponse, status: int, code: str
) -> dict[str, Any]:
    """The error envelope, plus the user's message, which was stored all the same."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["userMessage"]["content"]
    return body["error"]


# --- sse ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", ["sse", "stream"])
async def test_sse_streams_user_message_chunk_and_done(
    stage: Stage, async_client: AsyncClient, transport: str
) -> None:
    _, room = await _agent_room(stage)
    events = await _sse(await _post(async_client, room, _body(stage, transport, "I am sad.")))
    assert [name for name, _ in events] == ["user_message", "chunk", "done"]
    (_, user_message), (_, chunk), (_, done) = events
    assert user_message["content"] == "I am sad."
    assert chunk == {
        "messageId": done["id"],
        "chunk": "echo: I am sad.",
        "index": 0,
        # What the elizaOS web UI reads of it.
        "type": "chunk",
        "text": "echo: I am sad.",
    }
    assert done["type"] == "complete"
    assert done["text"] == "echo: I am sad."
    assert done["actions"] == ["REPLY"]


@pytest.mark.parametrize(
    ("responder", "timeout", "last"),
    [
        (SILENT, 5.0, ("done", {"text": "", "actions": ["IGNORE"], "type": "complete"})),
        (FAILING, 5.0, ("error", {"error": "RuntimeError: cannot answer 'boom'", "type": "error"})),
        (SLOW, 0.1, ("error", {"error": "The agent did not answer in time", "type": "error"})),
    ],
    ids=["silent", "failing", "slow"],
)
async def test_sse_ends_with_the_agents_outcome(
    stage: Stage,
    async_client: AsyncClient,
    settings: Any,
    responder: str,
    timeout: float,
    last: tuple[str, Any],
) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "AGENT_REPLY_TIMEOUT_SECONDS": timeout}
    _, room = await _agent_room(stage, responder)
    events = await _sse(await _post(async_client, room, _body(stage, "sse", "boom")))
    assert [name for name, _ in events] == ["user_message", last[0]]
    assert events[-1] == last


# --- refusals ----------------------------------------------------------------------------------
def _stored() -> tuple[int, set[uuid.UUID]]:
    return Message.objects.count(), set(Channel.objects.values_list("id", flat=True))


@pytest.mark.parametrize("transport", ["http", "sse"])
@pytest.mark.parametrize("channel", ["without an agent", "not created yet"])
async def test_no_agent_in_the_channel_is_400_and_stores_nothing(
    stage: Stage, async_client: AsyncClient, transport: str, channel: str
) -> None:
    if channel == "without an agent":
        room = await sync_to_async(stage.channel)()
    else:
        room = uuid.uuid4()
    before = await sync_to_async(_stored)()
    response = await _post(async_client, room, _body(stage, transport))
    assert_error(response, 400, "NO_AGENT")
    assert await sync_to_async(_stored)() == before


@pytest.mark.parametrize(
    ("transport", "message"),
    [
        ("carrier-pigeon", "Invalid transport"),
        ("", "Invalid transport"),
        (42, "Transport must be a string"),
        (True, "Transport must be a string"),
        (["http"], "Transport must be a string"),
    ],
)
async def test_a_bad_transport_is_400_and_stores_nothing(
    stage: Stage, async_client: AsyncClient, transport: Any, message: str
) -> None:
    _, room = await _agent_room(stage)
    before = await sync_to_async(_stored)()
    response = await _post(async_client, room, _body(stage, transport))
    error = assert_error(response, 400)
    assert message in error["message"]
    assert await sync_to_async(_stored)() == before
