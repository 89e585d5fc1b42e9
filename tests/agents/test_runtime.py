"""AgentRuntime follows ``agent_update``: the agents API starts, stops, restarts, reconfigures and
removes running bus agents without a server restart; activation starts the enabled agents.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from django.test import Client

from elizabus import services
from elizabus.agents.runtime import AgentRuntime
from elizabus.bus import dispatch
from elizabus.bus.events import EVENT_TYPES, AgentUpdated
from elizabus.exceptions import InvalidInput
from elizabus.logs import LogQuery, log_ring
from elizabus.models import Agent
from tests.agents.conftest import AGENT_DB, Stage
from tests.agents.helpers import ECHO, SILENT, SLOW

pytestmark = AGENT_DB


def _receivers() -> dict[str, int]:
    return {name: dispatch.receiver_count(event) for name, event in EVENT_TYPES.items()}


def _post(client: Client, path: str, body: Any = None, method: str = "post") -> Any:
    response = getattr(client, method)(path, body or {}, content_type="application/json")
    assert response.status_code in {200, 201}, response.content
    return response.json()["data"]


def test_the_agents_api_drives_the_runtime(stage: Stage, client: Client) -> None:
    baseline = _receivers()
    data = _post(
        client,
        "/api/agents",
        {"characterJson": {"name": "Dyn"}, "responder": SILENT},
    )
    agent = uuid.UUID(data["id"])
    home = stage.channel(agent)

    # Registered: started at once, silent.
    assert stage.runtime.running_ids() == [agent]
    first = stage.say(home)
    stage.wait_done(first, agent)
    assert stage.replies(first) == []

    # A new responder and options take effect without a restart of the server.
    _post(
        client,
        f"/api/agents/{agent}",
        {"responder": ECHO, "responderOptions": {"prefix": "v2: "}},
        method="patch",
    )
    assert stage.wait_reply(stage.say(home, "patched"), agent).content == "v2: patched"

    # Stopped: off the bus entirely, so nothing it could answer reaches it.
    _post(client, f"/api/agents/{agent}/stop")
    assert stage.runtime.running_ids() == []
    assert _receivers() == baseline
    unanswered = stage.say(home, "anyone?")

    # Started again: answers what comes next (not what was said while it was away).
    _post(client, f"/api/agents/{agent}/start")
    assert stage.runtime.running_ids() == [agent]
    assert stage.wait_reply(stage.say(home, "back?"), agent).content == "v2: back?"
    stage.settle(agent, home)
    assert stage.replies(unanswered) == []
    assert stage.completions(unanswered) == []

    # Deleted: stopped and gone.
    assert client.delete(f"/api/agents/{agent}").status_code == 204
    assert stage.runtime.running_ids() == []
    assert not Agent.objects.filter(entity_id=agent).exists()
    assert _receivers() == baseline


def test_a_disabled_agent_is_registered_but_not_started(stage: Stage, client: Client) -> None:
    data = _post(client, "/api/agents", {"characterJson": {"name": "Idle"}, "enabled": False})
    assert data["enabled"] is False
    assert stage.runtime.running_ids() == []


def test_registering_an_agent_whose_responder_cannot_be_built_is_refused(stage: Stage) -> None:
    with pytest.raises(InvalidInput, match="NoSuchResponder"):
        services.agent_register(name="Broken", responder="tests.agents.helpers.NoSuchResponder")
    assert not Agent.objects.exists()
    assert stage.runtime.running_ids() == []


def test_a_stored_agent_whose_responder_no_longer_builds_is_not_started(
    transactional_db: None,
) -> None:
    agent = services.agent_register(name="Gone", responder=ECHO, enabled=False)
    # As after a deploy that removed the responder's module: the row predates the check.
    Agent.objects.filter(pk=agent.pk).update(
        responder="tests.agents.helpers.NoSuchResponder", enabled=True
    )
    runtime = AgentRuntime()
    runtime.activate()
    try:
        assert runtime.running_ids() == []
    finally:
        runtime.deactivate()


def test_activate_starts_enabled_agents_and_deactivate_stops_them(transactional_db: None) -> None:
    running = services.agent_register(name="On", responder=ECHO).entity_id
    services.agent_register(name="Off", responder=ECHO, enabled=False)
    baseline = _receivers()
    runtime = AgentRuntime()
    runtime.activate()
    try:
        assert runtime.running_ids() == [running]
        assert _receivers() != baseline
    finally:
        runtime.deactivate()
    assert runtime.running_ids() == []
    assert _receivers() == baseline


def test_starting_and_stopping_are_in_the_agents_own_log(transactional_db: None) -> None:
    """The UI's agent panel reads the agent's log (``agentName``); its start and stop are there."""
    agent = services.agent_register(name="Logged", responder=ECHO)
    runtime = AgentRuntime()
    runtime.activate()
    runtime.deactivate()
    entries, _ = log_ring.query(LogQuery(agent_id=str(agent.entity_id)))
    assert [entry["msg"] for entry in entries][-2:] == [
        "agent Logged started",
        "agent Logged stopped",
    ]
    assert {entry["agentName"] for entry in entries} == {"Logged"}


def test_new_settings_leave_the_answer_in_progress_to_finish(stage: Stage) -> None:
    agent = stage.agent("Tortoise", SLOW, {"delay": 1.0})
    home = stage.channel(agent)
    slow = stage.say(home, "take your time")
    time.sleep(0.3)  # the slow responder is answering it
    services.agent_update(agent_id=agent, responder=ECHO, responder_options={"prefix": "v2: "})
    assert stage.wait_reply(slow, agent).content == "late: take your time"
    assert stage.wait_reply(stage.say(home, "next"), agent).content == "v2: next"
    assert len(stage.replies(slow)) == 1


def test_an_inactive_runtime_starts_nothing(transactional_db: None) -> None:
    runtime = AgentRuntime()
    uid = "tests.agents.inactive-runtime"
    dispatch.connect(AgentUpdated, runtime.on_agent_update, dispatch_uid=uid)
    try:
        services.agent_register(name="Unheard", responder=ECHO)
        assert runtime.running_ids() == []
    finally:
        dispatch.disconnect(AgentUpdated, dispatch_uid=uid)
