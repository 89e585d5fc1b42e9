"""The agent runtime of one process: which bus agents run here, started and stopped as the
bus announces agents (``agent_update``).

A process runs agents once :meth:`AgentRuntime.activate` was called: the server process when
``ELIZABUS["RUN_AGENTS_IN_PROCESS"]`` is on (the embedded default), or the ``runagents`` worker.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from elizabus import selectors
from elizabus.bus.events import AgentUpdated
from elizabus.bus.transports import get_transport
from elizabus.models import Agent

from .bus_agent import AgentProfile, BusAgent, agent_group
from .responders.base import Responder, ResponderError, load_responder

logger = logging.getLogger(__name__)


class AgentRuntime:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._agents: dict[uuid.UUID, BusAgent] = {}
        self._active = False

    @property
    def active(self) -> bool:
        return self._active

    def activate(self) -> None:
        """Starts every enabled agent, and from now on follows ``agent_update`` events."""
        with self._lock:
            self._active = True
            for agent in selectors.agent_list().filter(enabled=True):
                self._start(agent)

    def deactivate(self) -> None:
        """Stops every bus agent of this process."""
        with self._lock:
            self._active = False
            for agent_id in list(self._agents):
                self._stop(agent_id)

    def running_ids(self) -> list[uuid.UUID]:
        with self._lock:
            return list(self._agents)

    def bus_agent(self, agent_id: uuid.UUID) -> BusAgent | None:
        return self._agents.get(agent_id)

    def on_agent_update(
        self, event: AgentUpdated, position: str | None = None, **kwargs: Any
    ) -> None:
        """Bus receiver: (re)start an enabled agent, stop a disabled or deleted one.

        A stopped agent's group is dropped, so it does not answer, when started again, what
        was said while it was off; ``position`` (the event's place in the stream) is where the
        group of an agent started by this event begins."""
        if not self._active:
            return
        agent_id = uuid.UUID(event.agent_id)
        with self._lock:
            running = self._agents.get(agent_id)
            if event.type == "updated" and running is not None and self._reconfigure(running):
                return
            self._stop(agent_id)
            if event.type in {"stopped", "deleted"}:
                get_transport().drop_group(agent_group(agent_id).name)
                return
            agent = selectors.agent_get(agent_id)
            if agent is not None and agent.enabled:
                self._start(agent, since=position)

    def _reconfigure(self, running: BusAgent) -> bool:
        """A running agent's new settings, taken without a restart; False when it must stop
        (disabled, now hosted outside) or be restarted (its new responder cannot be built)."""
        agent = selectors.agent_get(running.profile.agent_id)
        if agent is None or not agent.enabled or agent.hosted_outside:
            return False
        responder = _responder(agent)
        if responder is None:
            return False
        running.reconfigure(AgentProfile.of(agent), responder)
        return True

    def _start(self, agent: Agent, since: str | None = None) -> None:
        if agent.entity_id in self._agents or agent.hosted_outside:
            # A hosted agent is answered where its processes attach (agents/attached.py).
            return
        responder = _responder(agent)
        if responder is None:
            return
        bus_agent = BusAgent(AgentProfile.of(agent), responder)
        bus_agent.start(since=since)
        self._agents[agent.entity_id] = bus_agent
        # Named, as the agent's own records are: the UI's agent panel lists the agent's log.
        logger.info("agent %s started", agent.name, extra=_names(agent.entity_id, agent.name))

    def _stop(self, agent_id: uuid.UUID) -> None:
        bus_agent = self._agents.pop(agent_id, None)
        if bus_agent is not None:
            bus_agent.stop()
            name = bus_agent.profile.name
            logger.info("agent %s stopped", name, extra=_names(agent_id, name))


def _responder(agent: Agent) -> Responder | None:
    try:
        return load_responder(agent.responder, agent.responder_options)
    except ResponderError:
        logger.exception("agent %s not started: its responder cannot be built", agent.name)
        return None


def _names(agent_id: uuid.UUID, name: str) -> dict[str, str]:
    """The log record fields that name an agent (``GET /api/agents/:id/logs`` filters by them)."""
    return {"agentName": name, "agentId": str(agent_id)}


agent_runtime = AgentRuntime()


def keep_agent_group(event: AgentUpdated, **kwargs: Any) -> None:
    """Bus receiver, once per event: opens the group of an enabled agent from the moment the
    event was written, and drops a disabled or deleted agent's group.

    So an agent registered or started while no process runs agents (every worker down, or
    not started yet) keeps what is said to it until one does, as it would with a worker up:
    the runtimes start bus agents on groups that already exist. Decided by the agent's state
    now, not the event's, so a late or repeated event cannot reopen a stopped agent's group."""
    agent_id = uuid.UUID(event.agent_id)
    name = agent_group(agent_id).name
    agent = selectors.agent_get(agent_id)
    if agent is None or not agent.enabled:
        get_transport().drop_group(name)
    else:
        get_transport().prepare_group(name, None, written_after=event.written_at)
