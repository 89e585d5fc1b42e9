"""The unmodified npm ``socket.io-client`` 4.x against a live server, on every transport setting."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from elizabus import services
from elizabus.models import Message
from tests.fake_model import FakeModel, Script
from tests.live import serve_agents_with_model

pytestmark = [pytest.mark.node, pytest.mark.django_db(transaction=True)]

SCENARIO = Path(__file__).parent / "node" / "scenario.cjs"


def run_scenario(node_modules: Path, config: dict) -> dict:
    finished = subprocess.run(
        [shutil.which("node"), str(SCENARIO), json.dumps(config)],
        env={"NODE_PATH": str(node_modules), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


def events(report: dict, who: str, name: str) -> list:
    return [data for event, data in report["events"][who] if event == name]


@pytest.mark.parametrize(
    ("transports", "final"),
    [(None, "websocket"), (["websocket"], "websocket"), (["polling"], "polling")],
    ids=["default", "websocket-only", "polling-only"],
)
def test_socket_io_client(live_server_url, node_modules, transports, final):
    alice, bob = uuid.uuid4(), uuid.uuid4()
    server = services.server_create(name="Live", source_type="test")
    channel = services.channel_create(
        server_id=server.id, name="Live", participant_ids=[alice, bob]
    )
    config = {
        "url": live_server_url,
        "transports": transports,
        "alice": str(alice),
        "bob": str(bob),
        "channelId": str(channel.id),
        "serverId": str(server.id),
    }

    report = run_scenario(node_modules, config)

    assert report["errors"] == []
    assert report["transports"] == {"alice": final, "bob": final}
    first, second = report["events"]["alice"][:2]
    assert first[0] == "authenticated" and first[1]["entityId"] == str(alice)
    assert second[0] == "connection_established" and second[1]["socketId"]
    assert report["ack"] is None
    assert report["connectError"] == "Valid entityId required"
    assert report["bigIntact"] is True

    own = events(report, "alice", "messageBroadcast")
    assert [item.get("clientMessageId") for item in own] == ["client-msg-1", None]
    assert events(report, "alice", "messageAck")[0]["messageId"] == own[0]["id"]
    heard = events(report, "bob", "messageBroadcast")
    assert len(heard) == 2 and "clientMessageId" not in heard[0]
    assert heard[0]["id"] == own[0]["id"]
    for key in ("channelId", "roomId"):
        assert heard[0][key] == str(channel.id)
    for key in ("serverId", "messageServerId"):
        assert heard[0][key] == str(server.id)
    stored = Message.objects.get(id=own[0]["id"])
    assert (stored.source_id, stored.content) == ("client-msg-1", "Hello, Eliza")


# --- a streamed reply, from a live server's agent to the npm client ------------------------------

STREAM_SCENARIO = Path(__file__).parent / "node" / "stream.cjs"
PIECES = ["Once ", "upon ", "a ", "time ", "there ", "was ", "a ", "stream."]
GAP = 0.15


@pytest.fixture(scope="module")
def streaming_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FakeModel]]:
    """``manage.py serve`` with agents in its process, on a SQLite file of its own, and the
    streaming fake model its agents may talk to."""
    yield from serve_agents_with_model(
        tmp_path_factory.mktemp("stream"), Script(pieces=PIECES, gap=GAP)
    )


def test_the_npm_client_sees_a_reply_grow_then_its_stored_message(
    streaming_server: tuple[str, FakeModel], node_modules: Path
) -> None:
    url, model = streaming_server
    alice, outsider = str(uuid.uuid4()), str(uuid.uuid4())
    with httpx.Client(base_url=url, timeout=10) as api:
        created = api.post(
            "/api/agents",
            json={
                "characterJson": {"name": "Teller", "bio": "Tells stories."},
                "responder": "elizabus.agents.responders.openai.OpenAIChatResponder",
                "responderOptions": {"base_url": model.base_url},
            },
        )
        assert created.status_code == 201, created.text
        agent = created.json()["data"]["id"]
        dm = api.get(
            "/api/messaging/dm-channel", params={"currentUserId": alice, "targetUserId": agent}
        )
        assert dm.status_code == 200, dm.text
        channel = dm.json()["data"]["id"]
    config = {
        "url": url,
        "alice": alice,
        "outsider": outsider,
        "agentId": agent,
        "channelId": channel,
        "serverId": "00000000-0000-0000-0000-000000000000",
    }
    finished = subprocess.run(
        [shutil.which("node"), str(STREAM_SCENARIO), json.dumps(config)],
        env={"NODE_PATH": str(node_modules), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert report["errors"] == []

    seen = report["events"]["alice"]
    chunks = [(data, at) for event, data, at in seen if event == "messageStreamChunk"]
    [(final, final_at)] = [
        (data, at)
        for event, data, at in seen
        if event == "messageBroadcast" and data["senderId"] == agent
    ]
    assert [data["index"] for data, _ in chunks] == list(range(len(PIECES)))
    assert [data["chunk"] for data, _ in chunks] == PIECES
    assert {(data["messageId"], data["channelId"], data["agentId"]) for data, _ in chunks} == {
        (final["id"], channel, agent)
    }
    assert final["text"] == "".join(PIECES)
    # Streamed, not sent at the end: the chunks came over the model's own gaps, and all of them
    # before the stored reply that ends the stream.
    first_at, last_at = chunks[0][1], chunks[-1][1]
    assert last_at - first_at >= (len(PIECES) - 1) * GAP * 1000 * 0.5
    assert last_at <= final_at
    assert [event for event, _, _ in seen].count("messageStreamError") == 0
    # The outsider was refused the room and heard nothing of the stream.
    outsider_events = [event for event, _, _ in report["events"]["outsider"]]
    assert "messageStreamChunk" not in outsider_events
    assert "messageError" in outsider_events
