"""The unmodified npm ``socket.io-client`` 4.x against a live server, on every transport setting."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from elizabus import services
from elizabus.models import Message

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
