"""The ``sse`` transport streaming for real: a live ``manage.py serve`` whose agent talks to the
streaming fake model, and the event stream read off the socket event by event as it comes (not
a buffered body), on ``POST /channels/:id/messages`` and ``POST /sessions/:id/messages``."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fake_model import FakeModel, Script
from tests.live import serve_agents_with_model

SERVER = "00000000-0000-0000-0000-000000000000"
PIECES = ["Once ", "upon ", "a ", "time ", "there ", "was ", "a ", "stream."]
GAP = 0.15
OPENAI = "elizabus.agents.responders.openai.OpenAIChatResponder"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FakeModel]]:
    """``manage.py serve`` with agents in its process, on a SQLite file of its own, and the
    streaming fake model (``PIECES``, ``GAP`` seconds apart) its agents talk to."""
    yield from serve_agents_with_model(
        tmp_path_factory.mktemp("sse"), Script(pieces=PIECES, gap=GAP)
    )


def read_sse(response: httpx.Response, limit: float = 30) -> list[tuple[str, Any, float]]:
    """The stream's events as they arrive: ``(name, data, monotonic arrival time)``, checking
    the framing (``event: <name>``, ``data: <json>``, a blank line)."""
    assert response.status_code == 200, response.read()
    assert response.headers["content-type"].startswith("text/event-stream")
    events: list[tuple[str, Any, float]] = []
    name = data = None
    deadline = time.monotonic() + limit
    for line in response.iter_lines():
        assert time.monotonic() < deadline, "the stream did not end"
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            data = json.loads(line[len("data: ") :])
        else:
            assert line == "" and name is not None, line
            events.append((name, data, time.monotonic()))
            name = data = None
    return events


def _agent(api: httpx.Client, model: FakeModel, name: str) -> str:
    created = api.post(
        "/api/agents",
        json={
            "characterJson": {"name": name, "bio": "Tells stories."},
            "responder": OPENAI,
            "responderOptions": {"base_url": model.base_url},
        },
    )
    assert created.status_code == 201, created.text
    return created.json()["data"]["id"]


def assert_streamed(events: list[tuple[str, Any, float]], agent: str) -> None:
    """``user_message``, one ``chunk`` per piece over the model's gaps, then ``done``."""
    names = [name for name, _, _ in events]
    assert names == ["user_message", *["chunk"] * len(PIECES), "done"], names
    chunks = [(data, at) for name, data, at in events if name == "chunk"]
    done = events[-1][1]
    assert [data["chunk"] for data, _ in chunks] == PIECES
    assert [data["index"] for data, _ in chunks] == list(range(len(PIECES)))
    assert {data["messageId"] for data, _ in chunks} == {done["id"]}
    # The reference's fields, and the elizaOS web UI's (type, text).
    assert set(chunks[0][0]) == {"messageId", "chunk", "index", "type", "text"}
    assert done["text"] == "".join(PIECES).strip()
    # Written as the model produced them: the first chunk came about the model's whole run
    # before the answer, and the chunks came over its gaps, not at once.
    spread = chunks[-1][1] - chunks[0][1]
    assert spread >= (len(PIECES) - 1) * GAP * 0.5, spread
    assert events[-1][2] - chunks[0][1] >= (len(PIECES) - 1) * GAP * 0.5
    assert events[0][1]["author_id"] != agent


def _story_request(api: httpx.Client, alice: str, agent: str) -> tuple[str, dict[str, Any]]:
    """Alice's DM with the agent, and the sse post that asks it for a story there."""
    dm = api.get(
        "/api/messaging/dm-channel", params={"currentUserId": alice, "targetUserId": agent}
    )
    body = {
        "author_id": alice,
        "content": "Tell me a story",
        "message_server_id": SERVER,
        "transport": "sse",
    }
    return dm.json()["data"]["id"], body


def test_sse_on_a_channel_writes_each_chunk_as_the_model_produces_it(
    live: tuple[str, FakeModel],
) -> None:
    url, model = live
    alice = str(uuid.uuid4())
    with httpx.Client(base_url=url, timeout=30) as api:
        agent = _agent(api, model, "Teller")
        channel, body = _story_request(api, alice, agent)
        with api.stream("POST", f"/api/messaging/channels/{channel}/messages", json=body) as sse:
            events = read_sse(sse)
    assert_streamed(events, agent)
    assert events[0][1]["content"] == "Tell me a story"


def test_sse_on_a_session_streams_to_the_web_uis_request(live: tuple[str, FakeModel]) -> None:
    """The elizaOS web UI's sessions chat asks with ``Accept: text/event-stream`` and
    ``transport: sse``; the reference ignores the ``Accept`` and streams."""
    url, model = live
    with httpx.Client(base_url=url, timeout=30) as api:
        agent = _agent(api, model, "Sessioned")
        created = api.post(
            "/api/messaging/sessions", json={"agentId": agent, "userId": str(uuid.uuid4())}
        )
        assert created.status_code == 201, created.text
        session = created.json()["sessionId"]
        with api.stream(
            "POST",
            f"/api/messaging/sessions/{session}/messages",
            json={"content": "Tell me a story", "transport": "sse"},
            headers={"Accept": "text/event-stream"},
        ) as sse:
            events = read_sse(sse)
    assert_streamed(events, agent)


def test_an_accept_the_api_cannot_render_gets_json_as_from_the_reference(
    live: tuple[str, FakeModel],
) -> None:
    url, model = live
    with httpx.Client(base_url=url, timeout=30) as api:
        agent = _agent(api, model, "Plain")
        created = api.post(
            "/api/messaging/sessions", json={"agentId": agent, "userId": str(uuid.uuid4())}
        )
        session = created.json()["sessionId"]
        sent = api.post(
            f"/api/messaging/sessions/{session}/messages",
            json={"content": "hello"},
            headers={"Accept": "text/event-stream"},
        )
    assert sent.status_code == 201, sent.text
    assert sent.headers["content-type"].startswith("application/json")
    assert sent.json()["userMessage"]["content"] == "hello"


def test_sse_ends_with_an_error_when_the_message_goes_mid_stream(
    live: tuple[str, FakeModel],
) -> None:
    """Nothing more comes about a deleted message: the stream says so at once rather than
    waiting out the reply timeout."""
    url, model = live
    alice = str(uuid.uuid4())
    with httpx.Client(base_url=url, timeout=30) as api:
        agent = _agent(api, model, "Interrupted")
        channel, body = _story_request(api, alice, agent)
        events: list[tuple[str, Any]] = []
        started = time.monotonic()
        with api.stream("POST", f"/api/messaging/channels/{channel}/messages", json=body) as sse:
            name = None
            for line in sse.iter_lines():
                assert time.monotonic() - started < 10
                if line.startswith("event: "):
                    name = line[len("event: ") :]
                elif line.startswith("data: "):
                    events.append((name, json.loads(line[len("data: ") :])))
                    if name == "chunk" and events[-1][1]["index"] == 0:
                        said = events[0][1]["id"]
                        deleted = api.delete(f"/api/messaging/channels/{channel}/messages/{said}")
                        assert deleted.status_code == 204, deleted.text
    names = [name for name, _ in events]
    assert names[0] == "user_message" and names[-1] == "error", names
    assert set(names[1:-1]) == {"chunk"} and len(names) - 2 < len(PIECES)
    assert events[-1][1] == {"error": "Stream cancelled: the message was deleted", "type": "error"}
    assert time.monotonic() - started < 5
