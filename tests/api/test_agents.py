"""The agents API (``/api/agents``): registering, listing, reading, changing, starting,
stopping and deleting agents, their memories, and every refusal in the one error shape.

No agent runs here (``RUN_AGENTS_IN_PROCESS`` is off in tests); ``tests/agents/test_runtime.py``
checks that these calls start and stop running agents.
"""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from elizabus import selectors
from elizabus.conf import app_settings
from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID, Agent, Entity, Memory, Message
from tests import factories
from tests.api.helpers import Api, assert_error, assert_ok, new_id

AGENTS = "/api/agents"
ECHO = "elizabus.agents.responders.echo.EchoResponder"


def register(api: Api, **body: Any) -> dict[str, Any]:
    body.setdefault("characterJson", {"name": "Ada", "bio": "A helpful assistant."})
    return assert_ok(api.post(AGENTS, body), 201)


# --- POST /api/agents --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("bio", "stored"),
    [
        ("A helpful assistant.", "A helpful assistant."),
        (["Helpful.", "Kind."], "Helpful.\nKind."),
        (None, ""),
    ],
    ids=["string", "list", "absent"],
)
def test_register_answers_201_with_id_and_character(api: Api, bio: Any, stored: str) -> None:
    character = {"name": "Ada", **({"bio": bio} if bio is not None else {})}
    response = api.post(AGENTS, {"characterJson": character})
    body = response.json()
    assert response.status_code == 201
    assert body["success"] is True
    data = body["data"]
    agent_id = uuid.UUID(data["id"])
    assert data["character"]["id"] == data["id"]
    assert data["character"]["name"] == "Ada"
    if bio is not None:
        assert data["character"]["bio"] == bio
    agent = Agent.objects.get(entity_id=agent_id)
    assert (agent.name, agent.bio, agent.enabled) == ("Ada", stored, True)
    assert agent.responder == app_settings.DEFAULT_RESPONDER
    assert Entity.objects.get(id=agent_id).kind == "agent"


def test_the_character_may_come_as_agent_as_the_elizaos_ui_sends_it(api: Api) -> None:
    """The UI's creator posts ``{agent: character}``; the reference reads ``characterJson``
    first, then ``agent``."""
    character = {"name": "Ada", "system": "You are Ada.", "bio": [], "plugins": [], "style": {}}
    data = assert_ok(api.post(AGENTS, {"agent": character}), 201)
    assert (data["name"], data["character"]["system"]) == ("Ada", "You are Ada.")
    assert Agent.objects.get(entity_id=data["id"]).system_prompt == "You are Ada."
    both = assert_ok(api.post(AGENTS, {"characterJson": {"name": "Bo"}, "agent": character}), 201)
    assert both["name"] == "Bo"
    assert_error(api.post(AGENTS, {"agent": {"bio": "no name"}}), 400)


def test_an_id_in_the_character_becomes_the_agent_id(api: Api) -> None:
    agent_id = new_id()
    data = register(api, characterJson={"id": agent_id, "name": "Ada"})
    assert data["id"] == agent_id
    assert selectors.agent_get(uuid.UUID(agent_id)) is not None


def test_register_subscribes_to_the_default_server_and_seats_in_the_central_channel(
    api: Api,
) -> None:
    agent_id = register(api)["id"]
    servers = assert_ok(api.get(f"agents/{agent_id}/message-servers"))
    assert servers["messageServers"] == [str(DEFAULT_SERVER_ID)]
    participants = assert_ok(api.get(f"channels/{CENTRAL_CHANNEL_ID}/participants"))
    assert agent_id in participants


def test_register_keeps_the_responder_its_options_and_the_whole_character(api: Api) -> None:
    character = {"name": "Ada", "system": "You are Ada.", "topics": ["maths"], "style": {}}
    data = register(
        api,
        characterJson=character,
        responder=ECHO,
        responderOptions={"prefix": "> "},
        enabled=False,
    )
    assert data["responder"] == ECHO
    assert (data["enabled"], data["status"]) == (False, "inactive")
    assert data["character"]["topics"] == ["maths"]
    agent = Agent.objects.get(entity_id=data["id"])
    assert agent.responder_options == {"prefix": "> "}
    assert agent.system_prompt == "You are Ada."


def test_a_user_seen_before_may_become_an_agent(api: Api) -> None:
    user = factories.make_user(name="Someone").id
    data = register(api, characterJson={"id": str(user), "name": "Ada"})
    assert data["id"] == str(user)
    assert Entity.objects.get(id=user).kind == "agent"


@pytest.mark.parametrize(
    "existing",
    ["agent", "author of a message"],
)
def test_a_duplicate_id_is_refused(api: Api, existing: str) -> None:
    if existing == "agent":
        taken = register(api)["id"]
    else:
        taken = str(factories.make_message(channel_id=CENTRAL_CHANNEL_ID).author_id)
    count = Agent.objects.count()
    response = api.post(AGENTS, {"characterJson": {"id": taken, "name": "Twin"}})
    assert_error(response, 400, "AGENT_EXISTS")
    assert Agent.objects.count() == count


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"characterJson": None},
        {"characterJson": "Ada"},
        {"characterJson": ["Ada"]},
        {"characterJson": {}},
        {"characterJson": {"bio": "no name"}},
        {"characterJson": {"name": ""}},
        {"characterJson": {"name": 42}},
        {"characterJson": {"name": ["Ada"]}},
        {"characterJson": {"name": "Ada", "bio": 42}},
        {"characterJson": {"name": "Ada", "bio": ["ok", 42]}},
        {"characterJson": {"name": "Ada", "bio": {"text": "x"}}},
        {"characterJson": {"name": "Ada", "system": 42}},
        {"characterJson": {"name": "Ada", "id": "not-a-uuid"}},
        {"characterJson": {"name": "Ada", "id": 42}},
        {"characterJson": {"name": "Ada"}, "responder": 42},
        {"characterJson": {"name": "Ada"}, "responderOptions": "prefix"},
        {"characterJson": {"name": "Ada"}, "enabled": "perhaps"},
        {"characterJson": {"name": "Ada"}, "responder": "elizabus.agents.responders.no.Such"},
        {"characterJson": {"name": "Ada"}, "responder": "elizabus.models.Agent"},
        {
            "characterJson": {"name": "Ada"},
            "responder": "elizabus.agents.responders.openai.OpenAIChatResponder",
            "responderOptions": {"base_url": "not a url", "timeout": -1},
        },
    ],
    ids=repr,
)
def test_register_refuses_bad_input(api: Api, body: dict[str, Any]) -> None:
    assert_error(api.post(AGENTS, body), 400)
    assert not Agent.objects.exists()


CANARY_SOURCE = """
import pathlib
pathlib.Path(__file__).with_name("imported").write_text("yes")
from elizabus.agents.responders.echo import EchoResponder as CanaryResponder
"""


@pytest.fixture
def canary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module whose import leaves a file behind, on the import path under a fresh name."""
    name = f"canary_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(CANARY_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path / name


def test_an_unregistered_responder_is_refused_before_its_module_is_imported(
    api: Api, canary: Path
) -> None:
    body = {"responder": f"{canary.name}.CanaryResponder"}
    created = api.post(AGENTS, {"characterJson": {"name": "Ada"}, **body})
    assert_error(created, 400, "INVALID_RESPONDER")
    agent_id = register(api, responder=ECHO)["id"]
    assert_error(api.patch(f"{AGENTS}/{agent_id}", body), 400, "INVALID_RESPONDER")
    assert canary.name not in sys.modules
    assert not (canary.parent / "imported").exists()
    assert Agent.objects.get().responder == ECHO


def test_an_operator_may_register_a_responder_of_their_own(
    api: Api, canary: Path, settings: Any
) -> None:
    path = f"{canary.name}.CanaryResponder"
    settings.ELIZABUS = {**settings.ELIZABUS, "RESPONDERS": [path]}
    data = register(api, responder=path)
    assert data["responder"] == path
    assert (canary.parent / "imported").read_text() == "yes"


def test_a_large_character_file_is_accepted_up_to_its_own_limit(api: Api) -> None:
    knowledge = ["A fact worth knowing, at some length. " * 4] * 400  # about 60 KiB
    data = register(api, characterJson={"name": "Sage", "knowledge": knowledge})
    assert data["character"]["knowledge"] == knowledge
    too_big = ["x" * 1000] * (app_settings.MAX_CHARACTER_BYTES // 1000 + 1)
    response = api.post(AGENTS, {"characterJson": {"name": "Huge", "knowledge": too_big}})
    assert_error(response, 413, "CHARACTER_TOO_LARGE")


def test_register_refuses_a_body_that_is_not_a_json_object(api: Api) -> None:
    assert_error(api.post(AGENTS, ["Ada"]), 400)
    assert_error(api.post(AGENTS, data="{", content_type="application/json"), 400, "INVALID_JSON")
    assert not Agent.objects.exists()


# --- list, get, patch, delete, start, stop ------------------------------------------------------
def test_list_and_get(api: Api) -> None:
    first, second = register(api), register(api, characterJson={"name": "Bo"})
    listed = assert_ok(api.get(AGENTS))["agents"]
    assert [agent["id"] for agent in listed] == [first["id"], second["id"]]
    assert assert_ok(api.get(f"{AGENTS}/{second['id']}")) == second


@pytest.mark.parametrize(
    ("patch", "name", "bio", "system"),
    [
        ({"name": "Ada II"}, "Ada II", "A helpful assistant.", ""),
        ({"bio": ["New.", "Bio."]}, "Ada", "New.\nBio.", ""),
        ({"system": "Be brief."}, "Ada", "A helpful assistant.", "Be brief."),
        ({"characterJson": {"name": "Ada III", "bio": "Via file."}}, "Ada III", "Via file.", ""),
        ({"characterJson": {"bio": "File."}, "bio": "Field."}, "Ada", "Field.", ""),
    ],
    ids=["name", "bio", "system", "characterJson", "field-over-characterJson"],
)
def test_patch_changes_the_agent_and_its_character(
    api: Api, patch: dict[str, Any], name: str, bio: str, system: str
) -> None:
    agent_id = register(api)["id"]
    data = assert_ok(api.patch(f"{AGENTS}/{agent_id}", patch))
    assert data["name"] == data["character"]["name"] == name
    agent = Agent.objects.get(entity_id=agent_id)
    assert (agent.name, agent.bio, agent.system_prompt) == (name, bio, system)
    assert Entity.objects.get(id=agent_id).names == [name]
    # What GET shows is what was stored, character included.
    shown = assert_ok(api.get(f"{AGENTS}/{agent_id}"))
    assert shown == data
    expected_bio = patch.get("bio", patch.get("characterJson", {}).get("bio"))
    if expected_bio is not None:
        assert shown["character"]["bio"] == expected_bio


def test_the_character_fields_are_at_the_top_as_in_the_reference(api: Api) -> None:
    """The reference answers an agent's row, the character's fields at the top; the UI's
    settings form reads them there."""
    character = {"name": "Ada", "system": "Be brief.", "topics": ["maths"], "settings": {"a": 1}}
    agent_id = register(api, characterJson=character)["id"]
    shown = assert_ok(api.get(f"{AGENTS}/{agent_id}"))
    assert {key: shown[key] for key in character} == character
    assert (shown["id"], shown["status"]) == (agent_id, "active")


def test_patch_takes_the_character_fields_at_the_top_as_the_elizaos_ui_sends_them(
    api: Api,
) -> None:
    agent_id = register(api, characterJson={"name": "Ada", "topics": ["maths"]})["id"]
    patch = {
        "id": agent_id,
        "name": "Ada II",
        "system": "Be kind.",
        "bio": ["Kind."],
        "adjectives": ["calm"],
        "settings": {"secrets": {}},
    }
    data = assert_ok(api.patch(f"{AGENTS}/{agent_id}", patch))
    shown = assert_ok(api.get(f"{AGENTS}/{agent_id}"))
    assert shown == data
    assert {key: shown[key] for key in patch} == patch
    assert shown["topics"] == shown["character"]["topics"] == ["maths"]
    agent = Agent.objects.get(entity_id=agent_id)
    assert (agent.name, agent.bio, agent.system_prompt) == ("Ada II", "Kind.", "Be kind.")


SECRET_CHARACTER = {
    "name": "Ada",
    "secrets": {"DISCORD_TOKEN": "tok-top"},
    "settings": {"model": "small", "secrets": {"OPENAI_API_KEY": "sk-inner", "EMPTY": ""}},
}


def test_a_character_s_secrets_are_never_answered(api: Api) -> None:
    created = register(api, characterJson=SECRET_CHARACTER)
    agent_id = created["id"]
    answers = [created, assert_ok(api.get(f"{AGENTS}/{agent_id}"))]
    answers += assert_ok(api.get(AGENTS))["agents"]
    answers.append(assert_ok(api.post(f"{AGENTS}/{agent_id}/start")))
    for shown in answers:
        for character in (shown, shown["character"]):
            assert character["secrets"] == {"DISCORD_TOKEN": "[REDACTED]"}
            assert character["settings"] == {
                "model": "small",
                "secrets": {"OPENAI_API_KEY": "[REDACTED]", "EMPTY": ""},
            }
    listed = api.get(AGENTS).content + api.get(f"{AGENTS}/{agent_id}").content
    assert b"tok-top" not in listed and b"sk-inner" not in listed
    # The agent itself still has them.
    stored = Agent.objects.get(entity_id=agent_id).character
    assert stored["settings"]["secrets"]["OPENAI_API_KEY"] == "sk-inner"


def test_a_redacted_secret_sent_back_keeps_the_stored_one(api: Api) -> None:
    """The elizaOS UI's settings form sends back what it read: the redaction must not become
    the secret."""
    agent_id = register(api, characterJson=SECRET_CHARACTER)["id"]
    shown = assert_ok(api.get(f"{AGENTS}/{agent_id}"))
    settings = {**shown["settings"], "model": "large"}
    settings["secrets"] = {**settings["secrets"], "NEW_KEY": "new-value"}
    assert_ok(
        api.patch(f"{AGENTS}/{agent_id}", {"settings": settings, "secrets": shown["secrets"]})
    )
    stored = Agent.objects.get(entity_id=agent_id).character
    assert stored["settings"] == {
        "model": "large",
        "secrets": {"OPENAI_API_KEY": "sk-inner", "EMPTY": "", "NEW_KEY": "new-value"},
    }
    assert stored["secrets"] == {"DISCORD_TOKEN": "tok-top"}
    changed = {**settings, "secrets": {"OPENAI_API_KEY": "sk-changed"}}
    assert_ok(api.patch(f"{AGENTS}/{agent_id}", {"settings": changed}))
    stored = Agent.objects.get(entity_id=agent_id).character
    assert stored["settings"]["secrets"] == {"OPENAI_API_KEY": "sk-changed"}


def test_patch_changes_the_responder_and_keeps_the_rest_of_the_character(api: Api) -> None:
    agent_id = register(api, characterJson={"name": "Ada", "topics": ["maths"]})["id"]
    data = assert_ok(
        api.patch(
            f"{AGENTS}/{agent_id}",
            {"responder": ECHO, "responderOptions": {"prefix": "!"}, "characterJson": {"x": 1}},
        )
    )
    assert data["responder"] == ECHO
    assert data["character"]["topics"] == ["maths"]
    assert data["character"]["x"] == 1
    assert Agent.objects.get(entity_id=agent_id).responder_options == {"prefix": "!"}


@pytest.mark.parametrize(
    "patch",
    [
        {"name": ""},
        {"name": 42},
        {"system": 42},
        {"responder": None},
        {"responderOptions": []},
        {"characterJson": "Ada"},
        {"characterJson": {"name": 42}},
        {"characterJson": {"bio": 42}},
        {"responder": "elizabus.agents.responders.no.Such"},
        {"responderOptions": {"prefix": "!"}, "responder": "builtins.dict"},
    ],
    ids=repr,
)
def test_patch_refuses_bad_input(api: Api, patch: dict[str, Any]) -> None:
    agent_id = register(api)["id"]
    before = Agent.objects.get(entity_id=agent_id)
    assert_error(api.patch(f"{AGENTS}/{agent_id}", patch), 400)
    after = Agent.objects.get(entity_id=agent_id)
    assert (after.name, after.bio, after.character) == (before.name, before.bio, before.character)


@pytest.mark.parametrize(("action", "enabled"), [("stop", False), ("start", True)])
@pytest.mark.parametrize("method", ["post", "put"])
def test_start_and_stop_set_whether_the_agent_runs(
    api: Api, action: str, enabled: bool, method: str
) -> None:
    agent_id = register(api, enabled=not enabled)["id"]
    response = api.request(method, f"{AGENTS}/{agent_id}/{action}", {})
    data = assert_ok(response)
    assert (data["enabled"], data["status"]) == (enabled, "active" if enabled else "inactive")
    assert Agent.objects.get(entity_id=agent_id).enabled is enabled


def test_delete_removes_the_agent_its_seats_and_memories_but_not_its_messages(api: Api) -> None:
    agent_id = uuid.UUID(register(api)["id"])
    agent = Agent.objects.get(entity_id=agent_id)
    message = factories.make_message(channel_id=CENTRAL_CHANNEL_ID, author_id=agent_id)
    factories.make_memory(agent=agent, message=message)

    response = api.delete(f"{AGENTS}/{agent_id}")
    assert response.status_code == 204
    assert_error(api.get(f"{AGENTS}/{agent_id}"), 404, "AGENT_NOT_FOUND")
    assert not Memory.objects.filter(agent_id=agent_id).exists()
    assert selectors.agent_server_ids(agent_id) == []
    assert agent_id not in selectors.channel_participants(CENTRAL_CHANNEL_ID)
    assert Message.objects.filter(id=message.id).exists()


# --- memories ----------------------------------------------------------------------------------
@pytest.fixture
def remembering(api: Api) -> tuple[str, uuid.UUID, uuid.UUID, list[Memory]]:
    """An agent with five memories, one a minute: three of channel ``one``, two of ``two``."""
    agent_id = register(api)["id"]
    agent = Agent.objects.get(entity_id=agent_id)
    one, two = factories.make_channel().id, factories.make_channel().id
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    memories = []
    for index, channel in enumerate([one, two, one, two, one]):
        message = factories.make_message(channel_id=channel, content=f"m{index}")
        memory = factories.make_memory(agent=agent, message=message)
        # Recorded within the same millisecond, perhaps: a minute apart makes ``before`` exact.
        memory.created_at = start + dt.timedelta(minutes=index)
        Memory.objects.filter(pk=memory.pk).update(created_at=memory.created_at)
        memories.append(memory)
    return agent_id, one, two, memories


def _ids(response: Any) -> list[str]:
    return [memory["id"] for memory in assert_ok(response)["memories"]]


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_memories_newest_first_with_limit_and_before(api: Api, remembering: Any) -> None:
    agent_id, _, _, memories = remembering
    newest_first = [str(memory.id) for memory in reversed(memories)]
    path = f"{AGENTS}/{agent_id}/memories"
    assert _ids(api.get(path)) == newest_first
    assert _ids(api.get(path, limit=2)) == newest_first[:2]
    assert _ids(api.get(path, before=_ms(memories[3].created_at))) == newest_first[2:]
    assert _ids(api.get(path, before=_ms(memories[3].created_at), limit=1)) == newest_first[2:3]


def test_memory_shape(api: Api, remembering: Any) -> None:
    agent_id, one, _, memories = remembering
    (shown,) = assert_ok(api.get(f"{AGENTS}/{agent_id}/memories", limit=1))["memories"]
    memory = memories[-1]
    assert shown == {
        "id": str(memory.id),
        "agentId": agent_id,
        "entityId": str(memory.author_id),
        "roomId": str(one),
        "channelId": str(one),
        "messageServerId": str(DEFAULT_SERVER_ID),
        "messageId": str(memory.message_id),
        "content": {"text": "m4", "source": "central-bus"},
        "metadata": {"type": "message", "sourceId": str(memory.message_id), "senderName": ""},
        "createdAt": _ms(memory.created_at),
    }


def test_room_memories_are_those_of_one_channel(api: Api, remembering: Any) -> None:
    agent_id, one, two, memories = remembering
    in_one = [str(memory.id) for memory in reversed(memories) if memory.channel_id == one]
    in_two = [str(memory.id) for memory in reversed(memories) if memory.channel_id == two]
    assert _ids(api.get(f"{AGENTS}/{agent_id}/rooms/{one}/memories")) == in_one
    assert _ids(api.get(f"{AGENTS}/{agent_id}/rooms/{two}/memories", limit=1)) == in_two[:1]
    assert _ids(api.get(f"{AGENTS}/{agent_id}/rooms/{new_id()}/memories")) == []


@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 501}, {"limit": "many"}, {"before": -1}, {"before": "yesterday"}],
    ids=repr,
)
def test_memories_refuse_a_bad_query(api: Api, remembering: Any, query: dict[str, Any]) -> None:
    agent_id = remembering[0]
    assert_error(api.get(f"{AGENTS}/{agent_id}/memories", **query), 400)


# --- ids ----------------------------------------------------------------------------------------
AGENT_PATHS = [
    ("get", "{id}"),
    ("patch", "{id}"),
    ("delete", "{id}"),
    ("post", "{id}/start"),
    ("post", "{id}/stop"),
    ("get", "{id}/memories"),
    ("get", "{id}/rooms/" + str(CENTRAL_CHANNEL_ID) + "/memories"),
]


def _call(api: Api, method: str, path: str) -> Any:
    url = f"{AGENTS}/{path}"
    if method == "get":
        return api.get(url)
    if method == "delete":
        return api.delete(url)
    return api.request(method, url, {"name": "x"})


@pytest.mark.parametrize(("method", "path"), AGENT_PATHS)
def test_a_non_uuid_agent_id_is_refused(api: Api, method: str, path: str) -> None:
    assert_error(_call(api, method, path.format(id="not-a-uuid")), 400, "INVALID_ID")


@pytest.mark.parametrize(("method", "path"), AGENT_PATHS)
def test_an_unknown_agent_is_404(api: Api, method: str, path: str) -> None:
    assert_error(_call(api, method, path.format(id=new_id())), 404, "AGENT_NOT_FOUND")


def test_a_non_uuid_room_id_is_refused(api: Api) -> None:
    agent_id = register(api)["id"]
    assert_error(api.get(f"{AGENTS}/{agent_id}/rooms/general/memories"), 400, "INVALID_ID")
