"""The SDK's ``memory`` and ``server`` services and ``system.getEnvironment``/``getGlobalLogs``/
``deleteGlobalLogs`` (npm ``@elizaos/api-client`` 1.7.2) against a live server with the demo
ELIZA agent: every method (but ``server.stopServer``), and the shapes its types promise
(``types/memory.d.ts``, ``types/server.d.ts``, ``types/system.d.ts``); and ``runs``, with
``agents.getAgentPanels``/``getWorlds``/``getAgentLogs``.

Where the SDK's types and the reference's wire disagree, the wire wins, as listed in
docs/compatibility.md: ``checkHealth`` says ``OK`` (not ``healthy``), ``submitLogs`` answers the
listing, ``clearLogs`` ``{status, message, cleared}``, and ``createWorldFromMessageServer``,
which sends no ``agentIds``, is refused.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID

pytestmark = pytest.mark.node

CENTRAL = str(CENTRAL_CHANNEL_ID)
ZERO = str(DEFAULT_SERVER_ID)

# Says something to ELIZA in the central channel and waits for the answer (transport http), so
# the agent remembers two messages: the person's and its own.
TALK = """
async function talk(text) {
  const url = `${context.baseUrl}/api/messaging/channels/${context.central}/messages`;
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-API-KEY": context.apiKey },
    body: JSON.stringify({
      author_id: context.user, content: text, message_server_id: context.zero, transport: "http",
    }),
  });
  return await response.json();
}
"""


def _memory(memory: dict[str, Any], agent_id: str) -> None:
    """``Memory``: ``id, agentId, roomId, entityId, content, createdAt, metadata``."""
    assert {"id", "agentId", "roomId", "entityId", "content", "createdAt", "metadata"} <= set(
        memory
    )
    assert memory["agentId"] == agent_id
    uuid.UUID(memory["id"])
    assert isinstance(memory["createdAt"], int)


def _room(room: dict[str, Any], agent_id: str) -> None:
    """``Room``: ``id, agentId, name, type, createdAt, updatedAt, metadata``."""
    assert {"id", "agentId", "name", "type", "createdAt", "metadata"} <= set(room)
    assert room["agentId"] == agent_id


def test_every_memory_method(sdk) -> None:
    result = sdk.run(
        TALK
        + """
        const said = await talk("Men are all alike.");
        const agentMemories = await client.memory.getAgentMemories(context.agentId, { limit: 10 });
        const roomMemories = await client.memory.getRoomMemories(
          context.agentId, context.central, { limit: 10 });
        const [first, second] = roomMemories.memories;
        const updated = await client.memory.updateMemory(
          context.agentId, first.id, { content: { text: "edited" } });
        const updatedInternal = await client.memory.updateAgentInternalMemory(
          context.agentId, first.id, { metadata: { reviewed: true } });
        const internal = await client.memory.getAgentInternalMemories(
          context.agentId, context.perspective, false);
        const rooms = await client.memory.listAgentRooms(context.agentId);
        const room = await client.memory.getRoom(context.agentId, context.central);
        const created = await client.memory.createRoom(context.agentId, { name: "SDK room" });
        const world = await attempt(client.memory.createWorldFromMessageServer(
          context.zero, { messageServerId: context.zero, name: "SDK world" }));
        const deletedInternal = await client.memory.deleteAgentInternalMemory(
          context.agentId, second.id);
        const deleted = await client.memory.deleteMemory(context.agentId, first.id);
        const deletedAgain = await attempt(client.memory.deleteMemory(context.agentId, first.id));
        await talk("They're always bugging us about something or other.");
        const clearedRoom = await client.memory.clearRoomMemories(context.agentId, context.central);
        await talk("Well, my boyfriend made me come here.");
        const clearedAllInternal = await client.memory.deleteAllAgentInternalMemories(
          context.agentId, context.central);
        await talk("He says I'm depressed much of the time.");
        const clearedWorld = await client.memory.clearWorldMemories(context.zero);
        await talk("It's true. I am unhappy.");
        const deletedWorld = await client.memory.deleteWorld(context.zero);
        const left = await client.memory.getAgentMemories(context.agentId);
        const last = await talk("I need some help, that much seems certain.");
        const cleared = await client.memory.clearAgentMemories(context.agentId);
        const deletedGroupMemory = await client.memory.deleteGroupMemory(
          context.central, last.userMessage.id);
        const clearedGroupChat = await client.memory.clearGroupChat(created.id);
        const unknownAgent = await attempt(client.memory.listAgentRooms(context.perspective));
        const badRoom = await attempt(client.memory.getRoom(context.agentId, "not-a-uuid"));
        return {
          said, agentMemories, roomMemories, updated, updatedInternal, internal, rooms, room,
          created, world, deletedInternal, deleted, deletedAgain, clearedRoom,
          clearedAllInternal, clearedWorld, deletedWorld, left, cleared, deletedGroupMemory,
          clearedGroupChat, unknownAgent, badRoom,
        };
        """,
        user=str(uuid.uuid4()),
        central=CENTRAL,
        zero=ZERO,
        perspective=str(uuid.uuid4()),
    )
    agent_id = sdk.agent_id
    assert result["said"]["agentResponse"]["text"] == "In what way?"

    memories = result["agentMemories"]["memories"]
    assert len(memories) == 2
    for memory in memories:
        _memory(memory, agent_id)
    assert {memory["content"]["text"] for memory in memories} == {
        "Men are all alike.",
        "In what way?",
    }
    assert [m["id"] for m in result["roomMemories"]["memories"]] == [m["id"] for m in memories]

    first = result["roomMemories"]["memories"][0]
    _memory(result["updated"], agent_id)
    assert result["updated"]["id"] == first["id"]
    assert result["updated"]["content"] == {"text": "edited"}
    assert result["updatedInternal"]["metadata"] == {"reviewed": True}
    assert result["updatedInternal"]["content"] == {"text": "edited"}
    assert result["internal"] == {"memories": []}

    rooms = result["rooms"]["rooms"]
    for room in rooms:
        _room(room, agent_id)
    assert CENTRAL in {room["id"] for room in rooms}
    _room(result["room"], agent_id)
    assert result["room"]["id"] == CENTRAL and result["room"]["worldName"] == "Default Server"
    _room(result["created"], agent_id)
    assert result["created"]["name"] == "SDK room"

    # The SDK sends no agentIds, which the reference (and elizabus) require.
    assert result["world"]["ok"] is False
    assert (result["world"]["error"]["status"], result["world"]["error"]["code"]) == (
        400,
        "VALIDATION_ERROR",
    )

    assert result["deletedInternal"] == {"message": "Memory deleted successfully"}
    assert result["deleted"] == {"message": "Memory deleted successfully"}
    assert result["deletedAgain"]["error"]["code"] == "MEMORY_NOT_FOUND"
    # A 204 is ``{success: true}`` to the SDK.
    for name in ("clearedRoom", "clearedAllInternal", "clearedWorld", "deletedWorld"):
        assert result[name] == {"success": True}, name
    assert result["left"] == {"memories": []}
    assert result["cleared"] == {
        "deleted": 2,
        "message": "All agent memories cleared successfully",
    }
    assert result["deletedGroupMemory"] == {"success": True}
    assert result["clearedGroupChat"] == {"success": True}
    assert result["unknownAgent"]["error"]["code"] == "AGENT_NOT_FOUND"
    assert result["badRoom"]["error"]["code"] == "INVALID_ID"


def test_every_server_method_but_stop(sdk) -> None:
    result = sdk.run(
        """
        await fetch(`${context.baseUrl}/api/no-such-route`);  // a warning in the server's log
        return {
          health: await client.server.checkHealth(),
          ping: await client.server.ping(),
          hello: await client.server.hello(),
          status: await client.server.getStatus(),
          debug: await client.server.getDebugInfo(),
          submitted: await client.server.submitLogs([{ level: "info", message: "from the SDK" }]),
          cleared: await client.server.clearLogs(),
        };
        """
    )
    health = result["health"]
    assert health["status"] == "OK" and health["dependencies"] == {"agents": "healthy"}
    assert {"version", "timestamp"} <= set(health)
    assert result["ping"]["pong"] is True
    assert result["hello"] == {"message": "Hello World!"}
    assert result["status"]["status"] == "ok" and result["status"]["agentCount"] == 1
    assert result["debug"]["count"] == 1
    assert result["debug"]["servers"][0]["id"] == ZERO
    submitted = result["submitted"]
    assert {"logs", "count", "total", "levels"} <= set(submitted)
    assert any("no-such-route" in entry["msg"] for entry in submitted["logs"])
    assert not any("from the SDK" in entry["msg"] for entry in submitted["logs"])
    cleared = result["cleared"]
    assert cleared["status"] == "success" and cleared["cleared"] >= 1


def test_environment_and_global_logs(sdk) -> None:
    result = sdk.run(
        """
        await fetch(`${context.baseUrl}/api/no-such-route`);
        const environment = await client.system.getEnvironment();
        const logs = await client.system.getGlobalLogs({ level: "warn" });
        const everything = await client.system.getGlobalLogs();
        const deleted = await client.system.deleteGlobalLogs();
        const after = await client.system.getGlobalLogs({ level: "warn" });
        return { environment, logs, everything, deleted, after };
        """
    )
    environment = result["environment"]
    assert environment and all(isinstance(value, str) for value in environment.values())
    assert environment["API_KEY_REQUIRED"] == "false"
    logs = result["logs"]
    assert set(logs) == {"logs", "count", "total", "level", "levels"}
    assert logs["level"] == "warn" and "warn" in logs["levels"]
    assert logs["count"] == len(logs["logs"]) >= 1
    for entry in logs["logs"]:
        assert entry["level"] == 40 and isinstance(entry["time"], int) and entry["msg"]
    assert result["everything"]["level"] == "all"
    assert result["deleted"]["status"] == "success" and result["deleted"]["message"]
    assert not any("no-such-route" in entry["msg"] for entry in result["after"]["logs"])


def test_runs_panels_worlds_and_an_agents_log(sdk) -> None:
    result = sdk.run(
        TALK
        + """
        const said = await talk("You are like my father in some ways.");
        const runs = await client.runs.listRuns(context.agentId, { limit: 5 });
        const run = await client.runs.getRun(context.agentId, runs.runs[0].runId);
        const errors = await client.runs.listRuns(context.agentId, { status: "error" });
        return {
          said, runs, run, errors,
          panels: await client.agents.getAgentPanels(context.agentId),
          worlds: await client.agents.getWorlds(),
          logs: await client.agents.getAgentLogs(context.agentId),
        };
        """,
        user=str(uuid.uuid4()),
        central=CENTRAL,
        zero=ZERO,
    )
    said = result["said"]["userMessage"]["id"]
    newest = result["runs"]["runs"][0]
    assert {"runs", "total", "hasMore"} <= set(result["runs"])
    assert (newest["status"], newest["messageId"], newest["roomId"]) == ("completed", said, CENTRAL)
    assert newest["metadata"]["outcome"] == "replied"
    assert newest["startedAt"] <= newest["endedAt"] and newest["durationMs"] >= 0
    assert result["run"]["summary"] == newest
    assert [event["type"] for event in result["run"]["events"]] == ["RUN_STARTED", "RUN_ENDED"]
    assert result["errors"]["runs"] == []
    assert result["panels"] == {"panels": []}
    assert result["worlds"]["worlds"][0]["id"] == ZERO
    assert isinstance(result["logs"], list)


SECRETS = {
    "DJANGO_SECRET_KEY": "django-secret-live-5f4e3d",
    "ELIZA_SERVER_AUTH_TOKEN": "api-key-live-2c1b0a",
    "OPENAI_API_KEY": "sk-live-9a8b7c",
}


def test_the_environment_shows_no_secret_and_needs_the_key(sdk_server) -> None:
    keyed = sdk_server(env=SECRETS)
    result = keyed.run(
        """
        const environment = await client.system.getEnvironment();
        const anonymous = await fetch(`${context.baseUrl}/api/system/env/local`);
        return { environment, status: anonymous.status, body: await anonymous.text() };
        """
    )
    environment = result["environment"]
    assert environment["API_KEY_REQUIRED"] == "true"
    assert result["status"] == 401
    shown = repr(environment) + result["body"]
    for secret in SECRETS.values():
        assert secret not in shown
