"""Agents hosted outside: processes of their own (an elizaOS runtime in hosts/elizaos/, or any
program that speaks the agent wire) that attach to elizabus over the network and answer their
agent's messages (docs/agents.md, "The agent wire").

The server side of an attached agent is a :class:`BusAgent` whose answer is a delivery: it
joins its agent's bus group while an instance is attached here, filters and orders the
agent's events exactly as the Python agents do, and hands each one to one attached instance
(the oldest), waiting for that instance's acknowledgement before the worker moves on and the
bus entry is acknowledged. An instance that goes away, or does not acknowledge nor extend a
delivery within ``AGENT_DELIVERY_LEASE_SECONDS``, loses it to the next instance. The instance
stores its reply itself through ``POST /submit`` (``services.agent_reply_submit`` settles it
once per agent and message); the acknowledgement settles what did not come with a reply.

Where its events wait while no instance is attached depends on the transport. The Redis
transport keeps them in the agent's group, which the bus side leaves after
``AGENT_ATTACH_GRACE_SECONDS`` to whichever server an instance attaches to next. The embedded
transports bring each event to every process once, at commit: there the bus side of every
enabled hosted agent runs from the server's start and holds its events, in order, until an
instance attaches, however long that takes (docs/agents.md, "The agent wire").
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.db import DatabaseError
from django.utils import timezone

from elizabus import selectors, services
from elizabus.bus.events import (
    AgentUpdated,
    ChannelCleared,
    MessageDeleted,
    MessageStreamError,
    NewMessage,
    ServerAgentUpdate,
)
from elizabus.bus.publish import publish_ephemeral
from elizabus.bus.transports import get_transport
from elizabus.conf import app_settings
from elizabus.exceptions import AgentNotFound, NotHostedOutside
from elizabus.models import Agent, RunSkip

from .bus_agent import AgentProfile, BusAgent
from .conversation import agent_hops

logger = logging.getLogger(__name__)

# How often a waiting worker looks at its delivery again (lease expiry, instances gone).
WAIT_STEP_SECONDS = 0.25
# How often a message waiting for an instance is looked up, in case an instance attached to
# another server answered it.
SETTLED_CHECK_SECONDS = 2.0


def events_wait_here() -> bool:
    """Whether a hosted agent's events wait in this process while no instance is attached:
    on a transport that does not share events no other process can take them over."""
    return not get_transport().shares_events


class Instance(Protocol):
    """One attached connection: ``send`` must not block and may be called from any thread."""

    instance_id: str

    def send(self, frame: dict[str, Any]) -> None: ...

    def close(self, code: int) -> None: ...


class DeliveryAborted(Exception):
    """The delivery was left unacknowledged: the agent stopped here, or no instance attached in
    time. The bus keeps the event for the agent's next holder."""


@dataclass
class Delivery:
    delivery_id: str
    frame: dict[str, Any]
    channel_id: str
    # The message a new_message delivery answers: its stream chunks', for the sse exchanges.
    message_id: str = ""
    holder: Instance | None = None
    passed_over: set[str] = field(default_factory=set)
    renewed_at: float = 0.0
    attempt: int = 0
    acknowledged: bool = False
    error: str = ""
    # The replies its holder has streamed: message id -> the pieces, in order.
    streams: dict[str, list[str]] = field(default_factory=dict)


class AttachedAgent(BusAgent):
    """The bus side of an agent hosted outside, in the process its instances attach to."""

    def __init__(self, profile: AgentProfile) -> None:
        super().__init__(profile, None)
        self._instances: list[Instance] = []
        self._cond = threading.Condition()
        self._delivery: Delivery | None = None
        self._closing = False

    # --- instances (any thread) ---------------------------------------------------------------
    def add_instance(self, instance: Instance) -> None:
        with self._cond:
            self._instances.append(instance)
            self._cond.notify_all()

    def remove_instance(self, instance: Instance) -> int:
        """Forgets an instance; its delivery, if it held one, goes to the next. Returns how many
        instances are left."""
        with self._cond:
            if instance in self._instances:
                self._instances.remove(instance)
            if self._delivery is not None and self._delivery.holder is instance:
                self._delivery.holder = None
            self._cond.notify_all()
            return len(self._instances)

    def instances(self) -> list[Instance]:
        with self._cond:
            return list(self._instances)

    def broadcast(self, frame: dict[str, Any]) -> None:
        for instance in self.instances():
            instance.send(frame)

    # --- frames from an instance (its connection's thread) ---------------------------------------
    def _held_by(self, instance: Instance, delivery_id: str) -> Delivery | None:
        delivery = self._delivery
        if delivery is None or delivery.delivery_id != delivery_id:
            return None
        return delivery if delivery.holder is instance else None

    def acknowledge(self, instance: Instance, delivery_id: str, error: str = "") -> bool:
        """The instance is done with a delivery it holds; False for one it does not hold (it was
        handed over, or settled): the instance's work on it is then not the agent's outcome."""
        with self._cond:
            delivery = self._held_by(instance, delivery_id)
            if delivery is None:
                return False
            delivery.acknowledged, delivery.error = True, error
            self._cond.notify_all()
            return True

    def extend(self, instance: Instance, delivery_id: str) -> str | None:
        """Renews the lease of a delivery the instance holds; returns its channel, None for a
        delivery it does not hold."""
        with self._cond:
            delivery = self._held_by(instance, delivery_id)
            if delivery is None:
                return None
            delivery.renewed_at = time.monotonic()
            return delivery.channel_id

    def stream(
        self, instance: Instance, delivery_id: str, message_id: str, chunk: str
    ) -> Delivery | None:
        """A piece of a reply the instance streams for a delivery it holds: renews the lease and
        keeps the piece, so that a stream left without its reply can be ended. Returns the
        delivery (the chunk is its channel's, answering its message), None for a delivery it
        does not hold."""
        with self._cond:
            channel_id = self.extend(instance, delivery_id)
            delivery = self._delivery
            if not channel_id or delivery is None:
                return None
            delivery.streams.setdefault(message_id, []).append(chunk)
            return delivery

    # --- lifecycle ------------------------------------------------------------------------
    def start(self, since: str | None = None) -> None:
        with self._cond:
            self._closing = False
        super().start(since)

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        super().stop(timeout)

    # --- the worker: one delivery at a time, in the agent's event order -------------------------
    def _deliver(
        self,
        event_name: str,
        data: dict[str, Any],
        channel_id: str = "",
        settled: Callable[[], bool] | None = None,
        message_id: str = "",
    ) -> Delivery:
        """Hands an event to one attached instance and waits for its acknowledgement. Before
        handing it to another instance, ``settled`` says whether the one before already did
        the work (stored its reply, then went away): then the delivery is done."""
        delivery = Delivery(
            delivery_id=uuid.uuid4().hex,
            frame={"type": "deliver", "event": event_name, "data": data},
            channel_id=channel_id,
            message_id=message_id,
        )
        lease = app_settings.AGENT_DELIVERY_LEASE_SECONDS
        grace = app_settings.AGENT_ATTACH_GRACE_SECONDS
        waits_here = events_wait_here()
        alone_since: float | None = None
        checked_at = time.monotonic()
        with self._cond:
            self._delivery = delivery
            try:
                while not delivery.acknowledged:
                    if self._closing:
                        raise DeliveryAborted(f"{self.profile.name} stopped here")
                    now = time.monotonic()
                    holder = delivery.holder
                    if holder is not None and now - delivery.renewed_at > lease:
                        if any(other is not holder for other in self._instances):
                            self.log.warning(
                                "agent %s: instance %s let a delivery's lease run out",
                                self.profile.name,
                                holder.instance_id,
                            )
                            delivery.passed_over.add(holder.instance_id)
                            delivery.holder = holder = None
                        else:
                            delivery.renewed_at = now  # nobody else to give it to
                    if holder is None and delivery.attempt:
                        # The holder went away (or let the lease run out) mid-answer: what it
                        # streamed will not become a reply.
                        self._end_streams(delivery, "the agent's instance went away")
                        if self._unlocked(settled):
                            return delivery
                    if holder is None:
                        holder = self._next_holder(delivery)
                    if holder is None:
                        alone_since = alone_since if alone_since is not None else now
                        if not waits_here and now - alone_since > grace:
                            raise DeliveryAborted(f"no instance of {self.profile.name} attached")
                        if waits_here and now - checked_at > SETTLED_CHECK_SECONDS:
                            checked_at = now
                            if self._unlocked(settled):
                                return delivery
                    else:
                        alone_since = None
                    self._cond.wait(WAIT_STEP_SECONDS)
                return delivery
            finally:
                self._end_streams(delivery, delivery.error or "the reply was not stored")
                self._delivery = None

    def _end_streams(self, delivery: Delivery, error: str) -> None:
        """Ends with ``message_stream_error`` each stream of the delivery whose reply was not
        stored, so that clients drop its partial text (docs/realtime.md, "Streamed replies").
        Called with the lock held; reads and publishes without it."""
        streams, delivery.streams = delivery.streams, {}
        if not streams:
            return
        self._cond.release()
        try:
            for message_id, pieces in streams.items():
                if selectors.message_in_channel(
                    channel_id=uuid.UUID(delivery.channel_id), message_id=uuid.UUID(message_id)
                ):
                    continue
                publish_ephemeral(
                    MessageStreamError(
                        channel_id=delivery.channel_id,
                        message_id=message_id,
                        agent_id=str(self.profile.agent_id),
                        error=error,
                        partial_text="".join(pieces),
                        in_reply_to_message_id=delivery.message_id,
                    )
                )
        except Exception:
            # Only the clients' partial bubbles are at stake: the delivery goes on.
            self.log.exception("agent %s: could not end a stream", self.profile.name)
        finally:
            self._cond.acquire()

    def _unlocked(self, check: Callable[[], bool] | None) -> bool:
        """``check()`` (a database read) without holding the instances' lock."""
        if check is None:
            return False
        self._cond.release()
        try:
            return check()
        finally:
            self._cond.acquire()

    def _next_holder(self, delivery: Delivery) -> Instance | None:
        fresh = [i for i in self._instances if i.instance_id not in delivery.passed_over]
        candidates = fresh or self._instances
        if not candidates:
            return None
        holder = candidates[0]
        delivery.holder, delivery.renewed_at = holder, time.monotonic()
        delivery.attempt += 1
        holder.send(
            {**delivery.frame, "deliveryId": delivery.delivery_id, "attempt": delivery.attempt}
        )
        return holder

    def _answer(self, event: NewMessage, started_at: float) -> None:
        hops = agent_hops(event)
        if hops >= app_settings.AGENT_HOP_LIMIT:
            # The instance is not asked: the hop limit is the bus's, whatever the agent runs.
            services.agent_message_settle(
                agent_id=self.profile.agent_id,
                agent_name=self.profile.name,
                message=event,
                skip_reason=RunSkip.HOP_LIMIT,
            )
            return
        run_started_at = timezone.now()
        delivery = self._deliver(
            "new_message",
            event.payload(),
            event.channel_id,
            settled=lambda: selectors.memory_exists(
                agent_id=self.profile.agent_id, message_id=event.id
            ),
            message_id=event.id,
        )
        settling_at = self._timed("respond", started_at)
        # A reply the instance submitted settled the message already; this settles the rest
        # (silence, IGNORE, a failure) once. The instance announced its completion itself.
        services.agent_message_settle(
            agent_id=self.profile.agent_id,
            agent_name=self.profile.name,
            message=event,
            error=delivery.error,
            started_at=run_started_at,
            announce_complete=False,
        )
        self._timed("reply", settling_at)

    def _forget_message(self, event: MessageDeleted) -> None:
        super()._forget_message(event)
        self._deliver(event.name, event.payload(), event.channel_id)

    def _forget_channel(self, event: ChannelCleared) -> None:
        super()._forget_channel(event)
        self._deliver(event.name, event.payload(), event.channel_id)

    def _on_server_agent_update(self, event: ServerAgentUpdate, **kwargs: Any) -> Any:
        super()._on_server_agent_update(event)
        if event.agent_id == self._agent_key:
            return self._enqueue(self._forward_subscription, event)
        return None

    def _forward_subscription(self, event: ServerAgentUpdate) -> None:
        self._deliver(event.name, event.payload())


class Attachments:
    """The agents hosted outside that have instances attached to this process."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._agents: dict[uuid.UUID, AttachedAgent] = {}
        self._releases: dict[uuid.UUID, threading.Timer] = {}
        # Whether this process holds the events of hosted agents with no instance attached.
        self._holds = False

    def get(self, agent_id: uuid.UUID) -> AttachedAgent | None:
        return self._agents.get(agent_id)

    def hold_enabled(self) -> None:
        """Called by a server (which instances attach to) as it starts: on a transport that does
        not share events, starts the bus side of every enabled hosted agent, where its events
        wait for an instance, and from now on of every hosted agent registered or started."""
        self._holds = events_wait_here()
        if not self._holds:
            return
        try:
            agents = list(selectors.agent_list().filter(enabled=True, hosted_outside=True))
        except DatabaseError:
            # A server starts without its database (not migrated yet, or down): the agents
            # registered or started from now on are still held.
            logger.warning("hosted agents not held: the database cannot be read", exc_info=True)
            return
        for agent in agents:
            self._hold(agent)

    def _hold(self, agent: Agent) -> AttachedAgent:
        with self._lock:
            attached = self._agents.get(agent.entity_id)
            if attached is None:
                attached = self._agents[agent.entity_id] = AttachedAgent(AgentProfile.of(agent))
            if agent.enabled and not attached.running:
                attached.start()
            return attached

    def attach(self, agent_id: uuid.UUID, instance: Instance) -> Agent:
        """Attaches an instance for an agent hosted outside, starting its bus side here when it
        is the first and the agent is enabled; the instance's first frame is ``welcome``."""
        agent = selectors.agent_get(agent_id)
        if agent is None:
            raise AgentNotFound()
        if not agent.hosted_outside:
            raise NotHostedOutside()
        with self._lock:
            release = self._releases.pop(agent_id, None)
            if release is not None:
                release.cancel()
            attached = self._hold(agent)
            # Before it is an instance: a delivery waiting for one must come after the welcome.
            instance.send(
                {
                    "type": "welcome",
                    "agentId": str(agent.entity_id),
                    "instanceId": instance.instance_id,
                    "enabled": agent.enabled,
                    "leaseSeconds": app_settings.AGENT_DELIVERY_LEASE_SECONDS,
                    "hopLimit": app_settings.AGENT_HOP_LIMIT,
                }
            )
            attached.add_instance(instance)
        return agent

    def detach(self, agent_id: uuid.UUID, instance: Instance) -> None:
        """Detaches an instance. When it was the last, the agent's bus side stays a grace
        period for another instance (a restart) before it leaves the group to other processes."""
        with self._lock:
            attached = self._agents.get(agent_id)
            if attached is None or attached.remove_instance(instance) or self._holds:
                return
            release = threading.Timer(
                app_settings.AGENT_ATTACH_GRACE_SECONDS, self._release, args=(agent_id,)
            )
            release.daemon = True
            self._releases[agent_id] = release
            release.start()

    def _release(self, agent_id: uuid.UUID) -> None:
        with self._lock:
            self._releases.pop(agent_id, None)
            attached = self._agents.get(agent_id)
            if attached is None or attached.instances():
                return
            del self._agents[agent_id]
        attached.stop()

    def close_all(self) -> None:
        """Stops every attached agent of this process (shutdown, tests)."""
        with self._lock:
            for release in self._releases.values():
                release.cancel()
            self._releases.clear()
            self._holds = False
            agents, self._agents = list(self._agents.values()), {}
        for attached in agents:
            for instance in attached.instances():
                instance.close(1001)
            attached.stop()

    def on_agent_update(self, event: AgentUpdated, **kwargs: Any) -> None:
        """Bus receiver, every process: start/stop from the API or the UI reaches the attached
        agent here and, as an ``agent_update`` frame, its instances."""
        agent_id = uuid.UUID(event.agent_id)
        with self._lock:
            attached = self._agents.get(agent_id)
            if attached is None:
                if self._holds and event.type != "deleted":
                    agent = selectors.agent_get(agent_id)
                    if agent is not None and agent.enabled and agent.hosted_outside:
                        self._hold(agent)  # registered or started: its events wait here
                return
            agent = selectors.agent_get(agent_id)
            enabled = agent is not None and agent.enabled and agent.hosted_outside
            if attached.running and not enabled:
                attached.stop()
            if enabled and agent is not None:
                # Renamed or re-prompted in place: a restart would give up the waiting delivery.
                attached.profile = AgentProfile.of(agent)
                if not attached.running:
                    attached.start()
            frame = {"type": "agent_update", "change": event.type, "enabled": enabled}
            attached.broadcast(frame)
            if agent is None or not agent.hosted_outside:
                del self._agents[agent_id]
                for instance in attached.instances():
                    instance.close(4410)


attachments = Attachments()
