"""The memory API (``/api/memory/...``, the same routes under ``/api/agents/...``): an agent's
memories listed, edited, forgotten one by one, by room, all at once or by server; its rooms
(the channels it sits in); group channels; and every refusal in the one error shape.

Listing with ``limit`` and ``before`` is checked in ``test_agents.py`` (the same view).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID, Agent, Channel, Memory
from tests import factories
from tests.api.helpers import ZERO, Api, assert_error, assert_ok, new_id

MEMORY = "/api/memory"


@dataclass(frozen=True)
class Mind:
    """An agent seated in ``general`` (and the central channel) remembering two messages there
    and one in the central channel; a second agent remembering one of them too."""

    agent: Agent
    other: Agent
    alice: uuid.UUID
    general: Channel
    memories: list[Memory]
    central_memory: Memory
    others: Memory

    @property
    def path(self) -> str:
        return f"{MEMORY}/{self.agent.pk}"


@pytest.fixture
def mind(db: None) -> Mind:
    agent = factories.make_agent(name="Eliza")
    other = factories.make_agent(name="Ada")
    alice = factories.make_user(name="Alice").id
    general = factories.make_channel(name="general", participant_ids=[alice, agent.pk])
    said = [
        factories.make_message(channel_id=general.id, author_id=alice, content=text)
        for text in ("one", "two")
    ]
    central = factories.make_message(channel_id=CENTRAL_CHANNEL_ID, author_id=alice)
    return Mind(
        agent=agent,
        other=other,
        alice=alice,
        general=general,
        memories=[factories.make_memory(agent=agent, message=message) for message in said],
        central_memory=factories.make_memory(agent=agent, message=central),
        others=factories.make_memory(agent=other, message=said[0]),
    )


def _memory_ids(response: Any) -> set[str]:
    return {memory["id"] for memory in assert_ok(response)["memories"]}


# --- listing ------------------------------------------------------------------------------------
def test_an_agents_memories_under_both_prefixes(api: Api, mind: Mind) -> None:
    expected = {str(memory.id) for memory in [*mind.memories, mind.central_memory]}
    assert _memory_ids(api.get(f"{mind.path}/memories")) == expected
    assert _memory_ids(api.get(f"/api/agents/{mind.agent.pk}/memories")) == expected


@pytest.mark.parametrize("name", ["channelId", "roomId"])
def test_memories_of_one_channel_by_query(api: Api, mind: Mind, name: str) -> None:
    response = api.get(f"{mind.path}/memories", **{name: str(mind.general.id)})
    assert _memory_ids(response) == {str(memory.id) for memory in mind.memories}


def test_a_room_lists_its_memories_and_an_unknown_room_none(api: Api, mind: Mind) -> None:
    room = f"{mind.path}/rooms/{mind.general.id}/memories"
    assert _memory_ids(api.get(room)) == {str(memory.id) for memory in mind.memories}
    # An agent's internal perspective room, and embeddings, have no rows in elizabus.
    perspective = f"{mind.path}/rooms/{new_id()}/memories"
    assert assert_ok(api.get(perspective, includeEmbedding="true")) == {"memories": []}


def test_tables_other_than_messages_are_empty(api: Api, mind: Mind) -> None:
    assert assert_ok(api.get(f"{mind.path}/memories", tableName="documents")) == {"memories": []}
    assert len(assert_ok(api.get(f"{mind.path}/memories", tableName="messages"))["memories"]) == 3


@pytest.mark.parametrize(
    "query",
    [{"channelId": "general"}, {"roomId": "../etc"}, {"limit": "-1"}, {"tableName": "x" * 101}],
    ids=repr,
)
def test_a_bad_memory_query_is_refused(api: Api, mind: Mind, query: dict[str, str]) -> None:
    assert_error(api.get(f"{mind.path}/memories", **query), 400)


# --- one memory -----------------------------------------------------------------------------------
def test_update_replaces_content_and_metadata(api: Api, mind: Mind) -> None:
    memory = mind.memories[0]
    body = {"content": {"text": "edited"}, "metadata": {"note": "by hand"}, "id": new_id()}
    data = assert_ok(api.patch(f"{mind.path}/memories/{memory.id}", body))
    assert data["id"] == str(memory.id)
    assert data["message"] == "Memory updated successfully"
    assert (data["content"], data["metadata"]) == (body["content"], body["metadata"])
    memory.refresh_from_db()
    assert (memory.content, memory.metadata) == (body["content"], body["metadata"])


def test_update_of_content_alone_keeps_the_metadata(api: Api, mind: Mind) -> None:
    memory = mind.memories[0]
    assert_ok(api.patch(f"{mind.path}/memories/{memory.id}", {"content": {"text": "x"}}))
    stored = Memory.objects.get(pk=memory.pk)
    assert stored.content == {"text": "x"} and stored.metadata == memory.metadata


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"content": "text"}, 400, "VALIDATION_ERROR"),
        ({"metadata": [1]}, 400, "VALIDATION_ERROR"),
        ({"content": {"text": "x" * (80 * 1024)}}, 413, "CONTENT_TOO_LARGE"),
        ({"metadata": {"blob": "x" * (17 * 1024)}}, 413, "METADATA_TOO_LARGE"),
        (["content"], 400, "INVALID_BODY"),
    ],
    ids=["text-content", "list-metadata", "huge-content", "huge-metadata", "list-body"],
)
def test_a_bad_update_is_refused_and_changes_nothing(
    api: Api, mind: Mind, unchanged: Any, body: Any, status: int, code: str
) -> None:
    with unchanged():
        response = api.patch(f"{mind.path}/memories/{mind.memories[0].id}", body)
    assert_error(response, status, code)


def test_delete_one_memory(api: Api, mind: Mind) -> None:
    memory = mind.memories[0]
    path = f"{mind.path}/memories/{memory.id}"
    assert assert_ok(api.delete(path)) == {"message": "Memory deleted successfully"}
    assert not Memory.objects.filter(pk=memory.pk).exists()
    assert Memory.objects.filter(pk=mind.others.pk).exists()
    assert_error(api.delete(path), 404, "MEMORY_NOT_FOUND")


def test_another_agents_memory_is_not_found(api: Api, mind: Mind, unchanged: Any) -> None:
    with unchanged():
        assert_error(api.delete(f"{mind.path}/memories/{mind.others.id}"), 404, "MEMORY_NOT_FOUND")
        response = api.patch(f"{mind.path}/memories/{mind.others.id}", {"content": {}})
        assert_error(response, 404, "MEMORY_NOT_FOUND")


# --- forgetting many ------------------------------------------------------------------------------
def test_clear_an_agents_memories(api: Api, mind: Mind) -> None:
    data = assert_ok(api.delete(f"{mind.path}/memories"))
    assert data == {"deleted": 3, "message": "All agent memories cleared successfully"}
    assert not Memory.objects.filter(agent=mind.agent).exists()
    assert Memory.objects.filter(agent=mind.other).count() == 1
    assert assert_ok(api.delete(f"{mind.path}/memories"))["deleted"] == 0


def test_clear_a_rooms_memories(api: Api, mind: Mind) -> None:
    response = api.delete(f"{mind.path}/memories/all/{mind.general.id}")
    assert response.status_code == 204 and response.content == b""
    remaining = set(Memory.objects.filter(agent=mind.agent).values_list("id", flat=True))
    assert remaining == {mind.central_memory.id}
    assert Memory.objects.filter(pk=mind.others.pk).exists()


@pytest.mark.parametrize("suffix", ["", "/memories"])
def test_forgetting_a_group_forgets_every_agents_memories_of_its_server(
    api: Api, mind: Mind, suffix: str
) -> None:
    elsewhere = factories.make_server()
    channel = factories.make_channel(server_id=elsewhere.id, participant_ids=[mind.alice])
    message = factories.make_message(channel_id=channel.id, author_id=mind.alice)
    kept = factories.make_memory(agent=mind.agent, message=message)

    response = api.delete(f"{MEMORY}/groups/{DEFAULT_SERVER_ID}{suffix}")
    assert response.status_code == 204
    assert list(Memory.objects.values_list("id", flat=True)) == [kept.id]
    assert Channel.objects.filter(id=mind.general.id).exists()


def test_forgetting_an_unknown_group_is_404(api: Api, mind: Mind, unchanged: Any) -> None:
    with unchanged():
        assert_error(api.delete(f"{MEMORY}/groups/{new_id()}"), 404, "SERVER_NOT_FOUND")
        assert_error(api.delete(f"{MEMORY}/groups/{new_id()}/memories"), 404, "SERVER_NOT_FOUND")


# --- rooms ---------------------------------------------------------------------------------------
def test_an_agents_rooms_are_the_channels_it_sits_in(api: Api, mind: Mind) -> None:
    rooms = assert_ok(api.get(f"{mind.path}/rooms"))["rooms"]
    assert [room["id"] for room in rooms] == [str(CENTRAL_CHANNEL_ID), str(mind.general.id)]
    general = rooms[1]
    assert general == {
        "id": str(mind.general.id),
        "name": "general",
        "agentId": str(mind.agent.pk),
        "source": "central-bus",
        "type": "GROUP",
        "channelId": str(mind.general.id),
        "messageServerId": str(DEFAULT_SERVER_ID),
        "worldId": str(DEFAULT_SERVER_ID),
        "metadata": {},
        "createdAt": general["createdAt"],
        "updatedAt": general["updatedAt"],
    }


def test_one_room_with_its_worlds_name(api: Api, mind: Mind) -> None:
    room = assert_ok(api.get(f"{mind.path}/rooms/{mind.general.id}"))
    assert room["id"] == str(mind.general.id)
    assert room["worldName"] == "Default Server"


def test_a_room_the_agent_is_not_in_is_not_found(api: Api, mind: Mind) -> None:
    elsewhere = factories.make_channel(participant_ids=[mind.alice])
    assert_error(api.get(f"{mind.path}/rooms/{elsewhere.id}"), 404, "ROOM_NOT_FOUND")
    assert_error(api.get(f"{mind.path}/rooms/{new_id()}"), 404, "ROOM_NOT_FOUND")


def test_create_a_room_with_the_agent_in_it(api: Api, mind: Mind) -> None:
    body = {"name": "Planning", "type": "group", "metadata": {"topic": "q3"}}
    room = assert_ok(api.post(f"{mind.path}/rooms", body), 201)
    channel = Channel.objects.get(id=room["id"])
    assert (channel.name, channel.type, channel.server_id) == (
        "Planning",
        "GROUP",
        DEFAULT_SERVER_ID,
    )
    assert list(channel.memberships.values_list("entity_id", flat=True)) == [mind.agent.pk]
    assert room["source"] == "client" and room["metadata"] == {"topic": "q3"}
    assert isinstance(room["createdAt"], int)
    rooms = assert_ok(api.get(f"{mind.path}/rooms"))["rooms"]
    assert room["id"] in {listed["id"] for listed in rooms}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "VALIDATION_ERROR"),
        ({"name": ""}, 400, "VALIDATION_ERROR"),
        ({"name": "x", "type": "CAVE"}, 400, "VALIDATION_ERROR"),
        ({"name": "x", "messageServerId": "nope"}, 400, "VALIDATION_ERROR"),
        ({"name": "x", "metadata": {"blob": "x" * (17 * 1024)}}, 413, "METADATA_TOO_LARGE"),
        ({"name": "x", "messageServerId": "7a0f7c1e-0000-4000-8000-000000000000"}, 404, None),
    ],
    ids=["no-name", "empty-name", "bad-type", "bad-server-id", "huge-metadata", "unknown-server"],
)
def test_a_bad_room_is_refused_and_nothing_is_created(
    api: Api, mind: Mind, unchanged: Any, body: dict, status: int, code: str | None
) -> None:
    with unchanged():
        assert_error(api.post(f"{mind.path}/rooms", body), status, code)


# --- groups ---------------------------------------------------------------------------------------
def test_a_group_is_one_channel_with_the_agents(api: Api, mind: Mind) -> None:
    agents = [str(mind.agent.pk), str(mind.other.pk)]
    body = {"agentIds": agents, "name": "Team", "source": "sdk"}
    rooms = assert_ok(api.post(f"{MEMORY}/groups/{DEFAULT_SERVER_ID}", body), 201)
    assert [room["agentId"] for room in rooms] == agents
    assert len({room["id"] for room in rooms}) == 1
    channel = Channel.objects.get(id=rooms[0]["id"])
    assert (channel.name, channel.type, channel.source_type) == ("Team", "API", "sdk")
    members = set(channel.memberships.values_list("entity_id", flat=True))
    assert members == {mind.agent.pk, mind.other.pk}


@pytest.mark.parametrize(
    ("server", "body", "status"),
    [
        (str(DEFAULT_SERVER_ID), {}, 400),
        (str(DEFAULT_SERVER_ID), {"agentIds": []}, 400),
        (str(DEFAULT_SERVER_ID), {"agentIds": ["not-a-uuid"]}, 400),
        (str(DEFAULT_SERVER_ID), {"agentIds": [str(uuid.UUID(int=7))]}, 404),
        ("not-a-uuid", {"agentIds": [str(uuid.UUID(int=7))]}, 400),
        (new_id(), "AGENT", 404),
    ],
    ids=["no-agents", "empty-agents", "bad-agent-id", "unknown-agent", "bad-server", "no-server"],
)
def test_a_bad_group_is_refused_and_nothing_is_created(
    api: Api, mind: Mind, unchanged: Any, server: str, body: Any, status: int
) -> None:
    if body == "AGENT":
        body = {"agentIds": [str(mind.agent.pk)]}
    with unchanged():
        assert_error(api.post(f"{MEMORY}/groups/{server}", body), status)


# --- ids ------------------------------------------------------------------------------------------
AGENT_PATHS = [
    ("get", "{agent}/memories"),
    ("delete", "{agent}/memories"),
    ("patch", "{agent}/memories/{id}"),
    ("delete", "{agent}/memories/{id}"),
    ("delete", "{agent}/memories/all/{id}"),
    ("get", "{agent}/rooms"),
    ("post", "{agent}/rooms"),
    ("get", "{agent}/rooms/{id}"),
    ("get", "{agent}/rooms/{id}/memories"),
]


def _call(api: Api, method: str, path: str) -> Any:
    return api.request(method, f"{MEMORY}/{path}", {"name": "x"} if method != "get" else None)


@pytest.mark.parametrize(("method", "path"), AGENT_PATHS)
@pytest.mark.parametrize("bad", ["not-a-uuid", "..%2F..%2Fetc", "<script>", "' OR 1=1 --"])
def test_a_non_uuid_agent_id_is_refused(
    api: Api, mind: Mind, unchanged: Any, method: str, path: str, bad: str
) -> None:
    with unchanged():
        response = _call(api, method, path.format(agent=bad, id=new_id()))
    assert response.status_code in {400, 404}
    assert_error(response, response.status_code)


@pytest.mark.parametrize(("method", "path"), AGENT_PATHS)
def test_an_unknown_agent_is_404(api: Api, mind: Mind, method: str, path: str) -> None:
    response = _call(api, method, path.format(agent=new_id(), id=new_id()))
    assert_error(response, 404, "AGENT_NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path"), [(m, p) for m, p in AGENT_PATHS if "{id}" in p], ids=str
)
def test_a_non_uuid_second_id_is_refused(api: Api, mind: Mind, method: str, path: str) -> None:
    response = _call(api, method, path.format(agent=mind.agent.pk, id="general"))
    assert_error(response, 400, "INVALID_ID")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("patch", "{agent}/memories/{memory}", {"content": {"text": "a\u0000b"}}),
        ("patch", "{agent}/memories/{memory}", {"metadata": {"k\u0000": 1}}),
        ("post", "{agent}/rooms", {"name": "ok", "metadata": {"k": ["a\u0000b"]}}),
        ("post", "groups/{server}", {"agentIds": ["{agent}"], "metadata": {"k": "\u0000"}}),
    ],
    ids=["content", "metadata-key", "room-metadata", "group-metadata"],
)
def test_a_nul_character_is_refused_not_stored(
    api: Api, mind: Mind, unchanged: Any, method: str, path: str, body: dict
) -> None:
    """PostgreSQL's jsonb cannot hold one: refused as bad input, never a failed write."""
    ids = {"agent": str(mind.agent.pk), "memory": str(mind.memories[0].id), "server": ZERO}
    if "agentIds" in body:
        body = {**body, "agentIds": [ids["agent"]]}
    with unchanged():
        response = api.request(method, f"{MEMORY}/{path.format(**ids)}", body)
    assert_error(response, 400, "VALIDATION_ERROR")
