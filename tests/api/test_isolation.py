"""Data isolation over REST (docs/security.md, "Access"): user A, with a token of its own,
against every operation of the OpenAPI schema on B's resources (channel, DM, message, agent,
session, job, memory, run). Every answer is a refusal in the envelope (401, 403, 404), or, on
the routes everyone may read, an answer that holds nothing of B's; and nothing of B's changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from elizabus import services
from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID, AgentRun, Memory
from tests import factories
from tests.conftest import db_state

from .helpers import Api, assert_error, assert_ok

KEY = "k" * 48
OPERATOR_KEY = "the-operator-key"
SECRETS = ("bob-secret-words", "bob-private-room", "bob-job-question", "bob-session-words")


@dataclass
class World:
    agent: Any
    alice: Any  # IssuedTokens
    bob: Any
    bob_channel: Any
    bob_dm: Any
    bob_message: Any
    bob_session: Any
    bob_job: Any
    memory: Any
    run: Any


@pytest.fixture
def isolated(settings: Any) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "DATA_ISOLATION": True, "JWT_SIGNING_KEYS": [KEY]}
    settings.ELIZA_SERVER_AUTH_TOKEN = OPERATOR_KEY


@pytest.fixture
def world(db: None, isolated: None) -> World:
    agent = factories.make_agent(name="Eliza", server_ids=[DEFAULT_SERVER_ID])
    alice = services.account_register(
        username="alice", email="alice@example.com", password="alice's passphrase"
    )
    bob = services.account_register(
        username="bob", email="bob@example.com", password="bob's long passphrase"
    )
    channel = services.channel_create(
        server_id=DEFAULT_SERVER_ID,
        name="bob-private-room",
        participant_ids=[bob.entity_id, agent.pk],
        creator_id=bob.entity_id,
    )
    message = factories.make_message(
        channel_id=channel.id, author_id=bob.entity_id, content="bob-secret-words"
    )
    dm, _ = services.dm_channel_get_or_create(
        user_id=bob.entity_id, target_id=agent.pk, server_id=DEFAULT_SERVER_ID
    )
    factories.make_message(channel_id=dm.id, author_id=bob.entity_id, content="bob-secret-words")
    services.agent_message_settle(
        agent_id=agent.pk,
        agent_name=agent.name,
        message=services.message_event(message, server_id=DEFAULT_SERVER_ID),
    )
    session = services.session_create(agent_id=agent.pk, user_id=bob.entity_id)
    services.session_message_send(session_id=session.id, content="bob-session-words")
    job = services.job_create(agent_id=agent.pk, user_id=bob.entity_id, content="bob-job-question")
    return World(
        agent=agent,
        alice=alice,
        bob=bob,
        bob_channel=channel,
        bob_dm=dm,
        bob_message=message,
        bob_session=session,
        bob_job=job,
        memory=Memory.objects.get(agent=agent, message_id=message.id),
        run=AgentRun.objects.get(agent=agent, message_id=message.id),
    )


def as_token(issued: Any) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.access_token}"}


def operations() -> list[tuple[str, str]]:
    """Every (method, path) of the OpenAPI schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    )


# The auth routes are about one's own credentials (tests/api/test_auth.py).
NOT_RESOURCES = re.compile(r"^/api/(auth|schema|docs)/")


def filled(path: str, world: World) -> str:
    ids = {
        "channel_id": world.bob_channel.id,
        "message_id": world.bob_message.id,
        "session_id": world.bob_session.id,
        "job_id": world.bob_job.id,
        "agent_id": world.agent.pk,
        "server_id": DEFAULT_SERVER_ID,
        "memory_id": world.memory.id,
        "room_id": world.bob_channel.id,
        "run_id": world.run.id,
        "filename": "x.png",
    }
    url = re.sub(r"\{(\w+)\}", lambda match: str(ids[match.group(1)]), path)
    if path.endswith("/dm-channel"):
        # Bob's DM, asked for by someone else.
        url += f"?currentUserId={world.bob.entity_id}&targetUserId={world.agent.pk}"
    return url


def body_for(method: str, path: str, world: World) -> dict[str, Any] | None:
    """A body that would be valid, aimed at B: B's channel, or B named as the author or user."""
    if method in {"GET", "DELETE"}:
        return None
    bob, channel = str(world.bob.entity_id), str(world.bob_channel.id)
    zero, agent = str(DEFAULT_SERVER_ID), str(world.agent.pk)
    message = {"channel_id": channel, "message_server_id": zero, "content": "from alice"}
    bodies = {
        "/api/messaging/submit": {
            **message,
            "author_id": bob,
            "source_type": "agent_response",
            "raw_message": {},
        },
        "/api/messaging/action": {
            **message,
            "author_id": bob,
            "source_type": "agent_action",
            "raw_message": {},
        },
        "/api/messaging/ingest-external": {**message, "author_id": bob},
        "/api/messaging/complete": {"channel_id": channel, "message_server_id": zero},
        "/api/messaging/channels": {
            "name": "alice's",
            "message_server_id": zero,
            "participantCentralUserIds": [bob, agent],
        },
        "/api/messaging/sessions": {"agentId": agent, "userId": bob},
        "/api/messaging/jobs": {"agentId": agent, "userId": bob, "content": "hi"},
    }
    template = re.sub(r"^/api/messaging/central-channels", "/api/messaging/channels", path)
    if template in bodies:
        return bodies[template]
    if template.endswith("/messages") and "/channels/" in template:
        return {"author_id": bob, "content": "from alice", "message_server_id": zero}
    if "/sessions/" in template and template.endswith("/messages"):
        return {"content": "from alice"}
    return {"agentId": agent, "content": "from alice", "name": "x"}


# What A may ask of anyone's: lists filtered to A's own, and the server-wide reads.
READABLE = {
    ("GET", "/api/agents"),
    ("GET", "/api/agents/worlds"),
    ("GET", "/api/agents/{agent_id}"),
    ("GET", "/api/agents/{agent_id}/panels"),
    ("GET", "/api/messaging/agents/{agent_id}/message-servers"),
    ("GET", "/api/messaging/agents/{agent_id}/servers"),
    ("GET", "/api/messaging/message-server/current"),
    ("GET", "/api/messaging/message-servers"),
    ("GET", "/api/messaging/central-servers"),
    ("GET", "/api/messaging/message-servers/{server_id}/agents"),
    ("GET", "/api/messaging/servers/{server_id}/agents"),
    ("GET", "/api/messaging/message-servers/{server_id}/channels"),
    ("GET", "/api/messaging/central-servers/{server_id}/channels"),
    ("GET", "/api/messaging/sessions"),
    ("GET", "/api/messaging/sessions/health"),
    ("GET", "/api/messaging/jobs"),
    ("GET", "/api/messaging/jobs/health"),
    ("GET", "/api/server/ping"),
    ("GET", "/api/server/hello"),
    ("GET", "/api/server/status"),
    ("GET", "/api/server/health"),
    ("GET", "/api/system/version"),
    ("GET", "/api/system/config"),
}


def test_a_user_reaches_nothing_of_another_s(client: Client, world: World) -> None:
    api = Api(client)
    before = db_state()
    answered: dict[tuple[str, str], int] = {}
    wrong: list[tuple[str, str, str]] = []

    for method, path in operations():
        if NOT_RESOURCES.match(path):
            continue
        url = filled(path, world)
        response = api.request(method, url, body_for(method, path, world), **as_token(world.alice))
        answered[(method, path)] = response.status_code
        text = response.content.decode(errors="replace")
        leaked = [secret for secret in SECRETS if secret in text]
        assert not leaked, (method, url, response.status_code, text[:300])
        if (method, path) in READABLE:
            if response.status_code != 200:
                wrong.append((method, url, text[:200]))
            assert str(world.bob_channel.id) not in text and str(world.bob_dm.id) not in text
        elif response.status_code not in {403, 404}:
            wrong.append((method, url, text[:200]))
        else:
            error = assert_error(response, response.status_code)
            assert error["code"] != "VALIDATION_ERROR", (method, url, error)

    assert wrong == []
    assert db_state() == before
    assert len(answered) > 80
    assert {op for op in answered if answered[op] == 200} == READABLE


def test_no_token_is_401_everywhere_but_the_auth_and_config_routes(
    client: Client, world: World
) -> None:
    api = Api(client)
    for method, path in operations():
        if NOT_RESOURCES.match(path) or path.startswith("/api/system/"):
            continue
        response = api.request(method, filled(path, world), body_for(method, path, world))
        error = assert_error(response, 401, "MISSING_TOKEN")
        assert error["message"] == "JWT token required for data isolation"
        bad = api.request(method, filled(path, world), None, HTTP_AUTHORIZATION="Bearer x.y.z")
        assert assert_error(bad, 401, "INVALID_TOKEN")["message"] == "Invalid JWT token"


def test_the_config_says_a_log_in_is_required(client: Client, world: World) -> None:
    assert assert_ok(Api(client).get("/api/system/config")) == {"requiresAuth": True}


def test_without_isolation_the_config_says_no_log_in(api: Api) -> None:
    assert assert_ok(api.get("/api/system/config")) == {"requiresAuth": False}


def test_the_owner_and_the_operator_reach_b_s_channel(client: Client, world: World) -> None:
    api = Api(client)
    url = f"channels/{world.bob_channel.id}/messages"

    for credential in (as_token(world.bob), {"HTTP_X_API_KEY": OPERATOR_KEY}):
        messages = assert_ok(api.request("GET", url, **credential))["messages"]
        assert [m["content"] for m in messages] == ["bob-secret-words"]


def test_a_user_posts_as_itself_and_only_where_it_participates(
    client: Client, world: World
) -> None:
    api = Api(client)
    alice = str(world.alice.entity_id)
    mine = assert_ok(
        api.post(
            "channels",
            {
                "name": "alice's",
                "message_server_id": str(DEFAULT_SERVER_ID),
                "participantCentralUserIds": [alice, str(world.agent.pk)],
            },
            **as_token(world.alice),
        ),
        201,
    )
    url = f"channels/{mine['id']}/messages"
    post = {"content": "hello", "message_server_id": str(DEFAULT_SERVER_ID)}

    # author_id left out: the token's entity.
    posted = assert_ok(api.post(url, post, **as_token(world.alice)), 201)
    assert posted["author_id"] == alice
    assert_ok(api.post(url, {**post, "author_id": alice}, **as_token(world.alice)), 201)
    impersonated = api.post(
        url, {**post, "author_id": str(world.bob.entity_id)}, **as_token(world.alice)
    )
    assert_error(impersonated, 403, "NOT_YOURSELF")
    # Bob is no participant of Alice's channel.
    assert_error(api.post(url, post, **as_token(world.bob)), 403, "NOT_A_PARTICIPANT")
    assert_error(api.request("GET", url, **as_token(world.bob)), 403, "NOT_A_PARTICIPANT")
    central = f"channels/{CENTRAL_CHANNEL_ID}/messages"
    assert_error(api.request("GET", central, **as_token(world.alice)), 403, "NOT_A_PARTICIPANT")
    # Her own channel is hers to clear; Bob's message in Bob's channel is not.
    assert_ok(api.request("GET", url, **as_token(world.alice)))
    assert api.delete(url, **as_token(world.alice)).status_code == 204


def test_a_user_opens_dms_sessions_and_jobs_for_itself_only(client: Client, world: World) -> None:
    api = Api(client)
    agent, alice = str(world.agent.pk), str(world.alice.entity_id)

    dm = assert_ok(
        api.request(
            "GET", "dm-channel", None, QUERY_STRING=f"targetUserId={agent}", **as_token(world.alice)
        )
    )
    assert dm["name"] == services.dm_channel_name(world.alice.entity_id, world.agent.pk)
    session = api.post("sessions", {"agentId": agent}, **as_token(world.alice))
    assert session.status_code == 201 and session.json()["userId"] == alice
    job = api.post("jobs", {"agentId": agent, "content": "hi"}, **as_token(world.alice))
    assert job.status_code == 201
    sessions = api.request("GET", "sessions", **as_token(world.alice)).json()["sessions"]
    assert [s["userId"] for s in sessions] == [alice]
    jobs = api.request("GET", "jobs", **as_token(world.alice)).json()
    assert [j["userId"] for j in jobs["jobs"]] == [alice] and jobs["total"] == 1


def test_the_creator_manages_a_group_and_either_side_a_dm(client: Client, world: World) -> None:
    api = Api(client)
    bob_channel = f"channels/{world.bob_channel.id}"
    carol = services.account_register(
        username="carol", email="carol@example.com", password="carol's passphrase"
    )
    services.channel_participant_add(channel_id=world.bob_channel.id, entity_id=carol.entity_id)

    # Carol participates: she reads, she does not manage.
    assert_ok(api.request("GET", f"{bob_channel}/details", **as_token(carol)))
    assert_error(
        api.patch(bob_channel, {"name": "mine"}, **as_token(carol)), 403, "NOT_CHANNEL_MANAGER"
    )
    assert_error(
        api.delete(f"{bob_channel}/messages", **as_token(carol)), 403, "NOT_CHANNEL_MANAGER"
    )
    message = f"{bob_channel}/messages/{world.bob_message.id}"
    assert_error(api.delete(message, **as_token(carol)), 403, "NOT_CHANNEL_MANAGER")
    # Bob created it.
    assert_ok(api.patch(bob_channel, {"name": "renamed"}, **as_token(world.bob)))
    assert api.delete(message, **as_token(world.bob)).status_code == 204
    # The agent's side of Bob's DM may clear it too.
    assert (
        api.delete(f"channels/{world.bob_dm.id}/messages", **as_token(world.bob)).status_code == 204
    )


def test_a_channel_s_files_are_its_participants(
    client: Client, world: World, settings: Any, tmp_path: Any
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    upload = f"/api/messaging/channels/{world.bob_channel.id}/upload-media"
    file = SimpleUploadedFile("cat.png", png, content_type="image/png")
    url = assert_ok(client.post(upload, {"file": file}, **as_token(world.bob)))["url"]

    assert client.get(url, **as_token(world.bob)).status_code == 200
    assert client.get(url, HTTP_X_API_KEY=OPERATOR_KEY).status_code == 200
    assert_error(client.get(url, **as_token(world.alice)), 403, "NOT_A_PARTICIPANT")
    assert_error(client.get(url), 401, "MISSING_TOKEN")
    file = SimpleUploadedFile("cat.png", png, content_type="image/png")
    assert_error(client.post(upload, {"file": file}, **as_token(world.alice)), 403)
