"""The message servers router, as the reference answers it: servers, and agents' subscriptions
to them, with the deprecated ``/servers``, ``/central-servers`` and ``/agents/:id/servers``
aliases."""

from __future__ import annotations

import pytest

from elizabus.models import DEFAULT_SERVER_ID, MessageServer, ServerAgent
from tests import factories

from .helpers import ZERO, assert_error, assert_ok, new_id

SERVER_KEYS = {"id", "name", "sourceType", "metadata", "createdAt", "updatedAt"}
MISSING = object()


@pytest.fixture
def agent(db):
    """A registered agent, subscribed to no server yet."""
    return factories.make_agent(name="Eliza")


def test_current_server_is_the_default_server(api):
    assert assert_ok(api.get("message-server/current")) == {"messageServerId": ZERO}


@pytest.mark.parametrize(
    ("route", "key"), [("message-servers", "messageServers"), ("central-servers", "servers")]
)
def test_list_servers(api, route, key):
    made = factories.make_server(name="Discord", source_type="discord", source_id="guild-1")

    listed = assert_ok(api.get(route))

    assert set(listed) == {key}
    by_id = {server["id"]: server for server in listed[key]}
    assert by_id[ZERO]["name"] == "Default Server"
    assert set(by_id[ZERO]) == SERVER_KEYS
    assert by_id[str(made.id)]["sourceId"] == "guild-1"


@pytest.mark.parametrize("route", ["message-servers", "servers"])
def test_create_server(api, route):
    body = {"name": "Telegram", "sourceType": "telegram", "sourceId": "t-1", "metadata": {"a": 1}}

    server = assert_ok(api.post(route, body), 201)["server"]

    assert set(server) == SERVER_KEYS | {"sourceId"}
    assert (server["name"], server["sourceType"], server["sourceId"]) == (
        "Telegram",
        "telegram",
        "t-1",
    )
    assert server["metadata"] == {"a": 1}
    assert MessageServer.objects.filter(id=server["id"]).exists()


def test_create_server_with_a_known_id_returns_it_unchanged(api):
    server_id = new_id()
    body = {"id": server_id, "name": "First", "sourceType": "test"}

    first = assert_ok(api.post("message-servers", body), 201)["server"]
    second = assert_ok(api.post("message-servers", {**body, "name": "Second"}), 201)["server"]

    assert first == second and first["id"] == server_id and first["name"] == "First"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", MISSING),
        ("sourceType", MISSING),
        ("name", 5),
        ("name", None),
        ("sourceType", ["x"]),
        ("sourceId", 9),
        ("metadata", "x"),
        ("id", "server-1"),
    ],
)
def test_create_server_refuses_bad_input(api, unchanged, field, value):
    body = {"name": "S", "sourceType": "test"}
    if value is MISSING:
        del body[field]
    else:
        body[field] = value

    with unchanged():
        error = assert_error(api.post("message-servers", body), 400, "VALIDATION_ERROR")
    assert error["message"] == "Missing required fields: name, sourceType"


@pytest.mark.parametrize(("method", "route"), [("GET", "servers"), ("POST", "central-servers")])
def test_each_deprecated_server_alias_does_only_what_the_reference_does(api, method, route):
    assert_error(api.empty(method, route), 405, "METHOD_NOT_ALLOWED")


# --- agents of a server -------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["message-servers", "servers"])
def test_add_list_and_remove_a_server_agent(api, agent, route):
    agent_id = str(agent.pk)
    added = {
        "messageServerId": ZERO,
        "agentId": agent_id,
        "message": "Agent added to message server successfully",
    }

    for _ in range(2):  # adding twice is idempotent
        assert assert_ok(api.post(f"{route}/{ZERO}/agents", {"agentId": agent_id}), 201) == added
    assert assert_ok(api.get(f"{route}/{ZERO}/agents")) == {
        "messageServerId": ZERO,
        "agents": [agent_id],
    }
    assert ServerAgent.objects.filter(server_id=DEFAULT_SERVER_ID, agent=agent).count() == 1

    removed = assert_ok(api.delete(f"{route}/{ZERO}/agents/{agent_id}"))
    assert removed == {**added, "message": "Agent removed from message server successfully"}
    assert assert_ok(api.get(f"{route}/{ZERO}/agents"))["agents"] == []
    response = api.delete(f"{route}/{ZERO}/agents/{agent_id}")
    assert_error(response, 404, "NOT_SUBSCRIBED")


def test_an_agent_can_join_any_existing_server(api, agent):
    """The reference allows only its current server (403 elsewhere); elizabus any server."""
    server = factories.make_server()

    assert_ok(api.post(f"message-servers/{server.id}/agents", {"agentId": str(agent.pk)}), 201)

    assert assert_ok(api.get(f"message-servers/{server.id}/agents"))["agents"] == [str(agent.pk)]


@pytest.mark.parametrize(
    ("route", "key"), [("message-servers", "messageServers"), ("servers", "servers")]
)
def test_servers_of_an_agent(api, route, key):
    server = factories.make_server()
    agent = factories.make_agent(server_ids=[DEFAULT_SERVER_ID, server.id])

    listed = assert_ok(api.get(f"agents/{agent.pk}/{route}"))

    assert listed == {"agentId": str(agent.pk), key: [ZERO, str(server.id)]}


def test_servers_of_an_unknown_agent_is_an_empty_list(api):
    agent_id = new_id()
    assert assert_ok(api.get(f"agents/{agent_id}/message-servers")) == {
        "agentId": agent_id,
        "messageServers": [],
    }


def test_adding_an_unregistered_agent_leaves_nothing_behind(api, unchanged):
    with unchanged():
        response = api.post(f"message-servers/{ZERO}/agents", {"agentId": new_id()})
        assert_error(response, 404, "AGENT_NOT_FOUND")


def test_adding_an_agent_to_an_unknown_server_leaves_nothing_behind(api, agent, unchanged):
    with unchanged():
        response = api.post(f"message-servers/{new_id()}/agents", {"agentId": str(agent.pk)})
        assert_error(response, 404, "SERVER_NOT_FOUND")


def test_agents_of_an_unknown_server_is_not_found(api):
    assert_error(api.get(f"message-servers/{new_id()}/agents"), 404, "SERVER_NOT_FOUND")


@pytest.mark.parametrize("agent_id", ["eliza", 7, None, [new_id()]])
def test_adding_a_malformed_agent_id_is_refused(api, unchanged, agent_id):
    with unchanged():
        response = api.post(f"message-servers/{ZERO}/agents", {"agentId": agent_id})
        error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["message"] == "Invalid messageServerId or agentId format"
