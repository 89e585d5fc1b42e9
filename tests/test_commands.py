"""Management commands: ``ensure_demo_agent`` registers Eliza once; ``runagents`` refuses to run
where it could hear nothing (the in-process bus)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from elizabus import selectors, services
from elizabus.bus.transports import get_transport, reset_transport
from elizabus.bus.transports.inprocess import InProcessTransport
from elizabus.management.commands.ensure_demo_agent import DEMO_AGENT_ID
from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID, Agent

pytestmark = pytest.mark.django_db


def _run(name: str) -> str:
    out = StringIO()
    call_command(name, stdout=out)
    return out.getvalue()


def test_ensure_demo_agent_registers_eliza_once() -> None:
    assert "Registered the demo agent Eliza" in _run("ensure_demo_agent")
    assert _run("ensure_demo_agent") == ""
    (agent,) = Agent.objects.all()
    assert agent.entity_id == DEMO_AGENT_ID
    assert agent.name == "Eliza"
    assert agent.responder == "elizabus.agents.responders.eliza.ElizaResponder"
    assert agent.enabled
    assert selectors.agent_server_ids(DEMO_AGENT_ID) == [DEFAULT_SERVER_ID]
    assert DEMO_AGENT_ID in selectors.channel_participants(CENTRAL_CHANNEL_ID)


def test_ensure_demo_agent_leaves_a_disabled_demo_agent_alone() -> None:
    _run("ensure_demo_agent")
    services.agent_set_enabled(agent_id=DEMO_AGENT_ID, enabled=False)
    assert _run("ensure_demo_agent") == ""
    assert not Agent.objects.get(entity_id=DEMO_AGENT_ID).enabled


def test_runagents_refuses_the_in_process_bus(settings) -> None:
    settings.ELIZABUS = {
        **settings.ELIZABUS,
        "BUS_TRANSPORT": "elizabus.bus.transports.inprocess.InProcessTransport",
    }
    reset_transport()
    try:
        assert type(get_transport()) is InProcessTransport
        with pytest.raises(CommandError, match="cross-process bus"):
            call_command("runagents")
    finally:
        reset_transport()
