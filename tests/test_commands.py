"""Management commands: ``ensure_demo_agent`` registers Eliza once; ``runagents`` refuses to run
where it could hear nothing (the in-process bus); ``sessions_prune`` and ``jobs_prune`` delete
what expired or aged; ``serve`` trusts the proxies the throttle trusts."""

from __future__ import annotations

import datetime as dt
import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from elizabus import selectors, services
from elizabus.bus.transports import get_transport, reset_transport
from elizabus.bus.transports.inprocess import InProcessTransport
from elizabus.management.commands.ensure_demo_agent import DEMO_AGENT_ID
from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID, Agent, Job, JobStatus, Session

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


def test_sessions_prune_deletes_the_expired_sessions() -> None:
    _run("ensure_demo_agent")
    live = services.session_create(agent_id=DEMO_AGENT_ID, user_id=uuid.uuid4())
    expired = services.session_create(agent_id=DEMO_AGENT_ID, user_id=uuid.uuid4())
    past = dt.timedelta(minutes=31)
    Session.objects.filter(id=expired.id).update(
        created_at=expired.created_at - past, expires_at=expired.expires_at - past
    )
    assert _run("sessions_prune") == "Pruned 1 expired session.\n"
    assert list(Session.objects.values_list("id", flat=True)) == [live.id]
    assert _run("sessions_prune") == "Pruned 0 expired sessions.\n"


def test_jobs_prune_times_out_what_is_due_and_deletes_by_age(settings) -> None:
    _run("ensure_demo_agent")
    old, overdue, fresh = (
        services.job_create(user_id=uuid.uuid4(), content="hi", timeout_ms=1000) for _ in range(3)
    )
    for job, hours in ((old, 30), (overdue, 0.01)):
        shift = dt.timedelta(hours=hours)
        Job.objects.filter(id=job.id).update(
            created_at=job.created_at - shift, expires_at=job.expires_at - shift
        )
    assert _run("jobs_prune") == "Timed out 2 jobs; pruned 1 job.\n"
    assert dict(Job.objects.values_list("id", "status")) == {
        overdue.id: JobStatus.TIMEOUT,
        fresh.id: JobStatus.PROCESSING,
    }
    out = StringIO()
    call_command("jobs_prune", "--hours", "0", stdout=out)
    assert out.getvalue() == "Timed out 0 jobs; pruned 2 jobs.\n"


def test_serve_trusts_the_proxies_of_the_setting_and_shares_those_it_is_given(settings) -> None:
    from elizabus.api.throttling import trusted_proxies
    from elizabus.management.commands.serve import trusted_proxies_option

    settings.ELIZABUS = {**settings.ELIZABUS, "FORWARDED_ALLOW_IPS": ["10.0.0.5", "10.1.0.0/16"]}
    assert trusted_proxies_option(None) == "10.0.0.5,10.1.0.0/16"

    assert trusted_proxies_option("172.28.0.10") == "172.28.0.10"
    assert "172.28.0.10" in trusted_proxies() and "10.0.0.5" not in trusted_proxies()
