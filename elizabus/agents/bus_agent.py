"""A bus agent: one agent on the bus, the reference's MessageBusService for one agent.

Its receivers are connected in its agent's bus group (``agent:<id>``) while its agent runs. With
a transport that shares events (Redis), one process at a time consumes the group and
acknowledges each event once the agent is done with it; otherwise every process that runs the
agent gets every event. Receivers only do cheap in-memory checks and hand the work to the
agent's own worker thread, which keeps the agent's events in order: check participation, ask
the responder unless the message was handled before, and settle the outcome (memory, reply or
error, ``message_complete``) in one transaction, which the database keeps once however often
the message is handled. While the responder produces a reply, each piece of it goes on the bus
as an ephemeral ``message_stream_chunk`` under the reply's own (deterministic) id; the stored
reply ends the stream (docs/agents.md, "Streamed replies").
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from django.db import close_old_connections, connections
from django.utils import timezone

from elizabus import selectors, services
from elizabus.bus import dispatch
from elizabus.bus.events import (
    BusEvent,
    ChannelCleared,
    ChannelDeleted,
    ChannelUpdated,
    MessageDeleted,
    MessageStreamChunk,
    MessageStreamError,
    NewMessage,
    ParticipantUpdate,
    ServerAgentUpdate,
)
from elizabus.bus.metrics import bus_metrics
from elizabus.bus.publish import publish_ephemeral
from elizabus.bus.transports import get_transport
from elizabus.conf import app_settings
from elizabus.ids import is_uuid, reply_id
from elizabus.models import Agent, RunSkip

from .conversation import agent_hops, chat_turns
from .responders.base import ChatTurn, Responder, ResponderRequest, stream_reply

logger = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000
_STOP = object()


STOPPED = "Stream cancelled: the agent stopped"
DELETED = "Stream cancelled: the message was deleted"
CLEARED = "Stream cancelled: the channel was cleared"


class StreamCancelled(Exception):
    """A reply's stream was cancelled (its agent stopped, its message or channel went)."""


@dataclass
class ReplyStream:
    """The reply an agent is producing: what the receivers need to cancel it, and what the
    worker has streamed of it. ``cancelled`` (why, once set) is written by any thread, read by
    the worker between two pieces."""

    agent_id: str
    message_id: str
    channel_id: str
    reply_id: str
    cancelled: str = ""
    pieces: list[str] = field(default_factory=list)

    def send(self, piece: str) -> None:
        """Puts the next piece on the bus; raises StreamCancelled once cancelled."""
        if self.cancelled:
            raise StreamCancelled(self.cancelled)
        publish_ephemeral(
            MessageStreamChunk(
                channel_id=self.channel_id,
                message_id=self.reply_id,
                agent_id=self.agent_id,
                chunk=piece,
                index=len(self.pieces),
                in_reply_to_message_id=self.message_id,
            )
        )
        self.pieces.append(piece)

    def fail(self, error: str, *, final: bool = False) -> None:
        """Ends a stream that has begun without its reply: ``message_stream_error``; ``final``
        when nothing more will come about the message."""
        if not self.pieces:
            return  # no client has seen a piece: message:error alone tells them
        publish_ephemeral(
            MessageStreamError(
                channel_id=self.channel_id,
                message_id=self.reply_id,
                agent_id=self.agent_id,
                error=error,
                partial_text="".join(self.pieces),
                in_reply_to_message_id=self.message_id,
                final=final,
            )
        )


def agent_group(agent_id: uuid.UUID | str) -> dispatch.Scope:
    """The bus group of a bus agent."""
    return dispatch.group(f"agent:{agent_id}")


@dataclass(frozen=True)
class AgentProfile:
    """What the bus agent needs to know of its agent; read once at start."""

    agent_id: uuid.UUID
    name: str
    system_prompt: str

    @classmethod
    def of(cls, agent: Agent) -> AgentProfile:
        return cls(
            agent_id=agent.entity_id,
            name=agent.name,
            system_prompt=agent.system_prompt or agent.bio,
        )


def is_well_formed(event: NewMessage) -> bool:
    """The reference's first filter: ids, non-empty text and a creation time (docs/agents.md)."""
    ids = (event.id, event.channel_id, event.message_server_id, event.author_id)
    return (
        all(is_uuid(value) for value in ids)
        and isinstance(event.content, str)
        and bool(event.content.strip())
        and isinstance(event.created_at, int)
        and isinstance(event.metadata, dict)
    )


class BusAgent:
    """One agent on the bus. ``start`` and ``stop`` may be called from any thread."""

    @property
    def _responder(self) -> Responder:
        """The responder, on the paths of an agent answering here (one hosted outside has none)."""
        assert self.responder is not None
        return self.responder

    def __init__(self, profile: AgentProfile, responder: Responder | None) -> None:
        self.profile = profile
        # Agent log records name their agent, for the log stream's agentName filter.
        self.log = logging.LoggerAdapter(
            logger, {"agentName": profile.name, "agentId": str(profile.agent_id)}
        )
        self.responder = responder
        self._agent_key = str(profile.agent_id)
        self._group = agent_group(profile.agent_id)
        self._metrics_scope = f"agent:{profile.name}"
        self._subscriptions: set[str] = set()
        self._seats: dict[str, bool] = {}
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_LIMIT)
        self._thread: threading.Thread | None = None
        # The reply the worker is producing, if any; receivers may cancel it.
        self._streaming: ReplyStream | None = None
        self._receivers: dict[type[BusEvent], dispatch.Receiver] = {
            NewMessage: self._on_new_message,
            MessageDeleted: self._on_message_deleted,
            ChannelCleared: self._on_channel_cleared,
            ChannelUpdated: self._on_channel_updated,
            ChannelDeleted: self._on_channel_deleted,
            ParticipantUpdate: self._on_participant_update,
            ServerAgentUpdate: self._on_server_agent_update,
        }

    @property
    def running(self) -> bool:
        return self._thread is not None

    # --- lifecycle ------------------------------------------------------------------------
    def start(self, since: str | None = None) -> None:
        """Starts the worker and joins the agent's group; ``since`` is the stream position a
        new group starts after (the event that started the agent)."""
        if self._thread is not None:
            return
        self._load_subscriptions()
        self._seats.clear()
        self._thread = threading.Thread(
            target=self._work, name=f"agent-{self.profile.name}", daemon=True
        )
        self._thread.start()
        for event_type, receiver in self._receivers.items():
            dispatch.connect(
                event_type,
                receiver,
                dispatch_uid=self._dispatch_uid(event_type),
                label=f"agent:{self.profile.name}",
                scope=self._group,
            )
        dispatch.join(self._group, since=since, on_acquire=self._on_acquire)
        get_transport().prepare_group(self._group.name, since)
        # Again, now that the receivers listen: a subscription that changed between the first
        # read and the connection is in the database by now (events leave after commit).
        self._load_subscriptions()

    def _load_subscriptions(self) -> None:
        self._subscriptions = {
            str(server_id) for server_id in selectors.agent_server_ids(self.profile.agent_id)
        }

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnects every receiver, lets the worker finish what it holds, closes the
        responder."""
        if self._thread is None:
            return
        dispatch.leave(self._group)
        for event_type in self._receivers:
            dispatch.disconnect(event_type, dispatch_uid=self._dispatch_uid(event_type))
        self._cancel_stream(STOPPED)
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None
        if self.responder is not None:
            self.responder.close()

    def reconfigure(self, profile: AgentProfile, responder: Responder) -> None:
        """Takes a new profile and responder in the agent's event order: the message being
        answered is finished by the old responder, those after it by the new one. Unlike a
        restart, nothing in progress is given up (which the embedded transports, with no
        redelivery, would lose)."""
        self._enqueue(lambda _: self._take(profile, responder), None)

    def _take(self, profile: AgentProfile, responder: Responder) -> None:
        previous, self.responder, self.profile = self.responder, responder, profile
        self.log = logging.LoggerAdapter(
            logger, {"agentName": profile.name, "agentId": str(profile.agent_id)}
        )
        self._metrics_scope = f"agent:{profile.name}"
        if previous is not None:
            previous.close()

    def _dispatch_uid(self, event_type: type[BusEvent]) -> str:
        return f"agent:{self._agent_key}:{event_type.name}"

    def _on_acquire(self) -> None:
        """This process now consumes the agent's group: what it cached while another process
        did may be stale."""
        self._enqueue(self._refresh, None)

    def _refresh(self, event: None) -> None:
        self._seats.clear()
        self._load_subscriptions()

    # --- receivers: any thread, cheap; a Future when there is work for the worker ------------
    def _on_new_message(self, event: NewMessage, **kwargs: Any) -> Future[None] | None:
        if not is_well_formed(event):
            self.log.warning("agent %s dropped a malformed new_message", self.profile.name)
            return None
        if event.author_id == self._agent_key:
            return None
        if event.message_server_id not in self._subscriptions:
            return None
        return self._enqueue(self._handle_message, event)

    def _on_message_deleted(self, event: MessageDeleted, **kwargs: Any) -> Future[None] | None:
        self._cancel_stream(DELETED, message_id=event.message_id)
        return self._enqueue(self._forget_message, event)

    def _cancel_stream(
        self, why: str, *, message_id: str | None = None, channel_id: str | None = None
    ) -> None:
        """Cancels the reply in progress if it answers ``message_id`` (or is that reply), or is
        in ``channel_id``, or unconditionally when neither is given."""
        stream = self._streaming
        if stream is None:
            return
        if message_id is not None and message_id not in (stream.message_id, stream.reply_id):
            return
        if channel_id is not None and channel_id != stream.channel_id:
            return
        stream.cancelled = why
        # The worker may be waiting for the model's next piece: the responder cuts that short.
        self._responder.cancel(stream.message_id)

    # The seat cache is changed by the worker only, in event order: a participation read that
    # raced with a seat change then caches its stale answer *before* the change, not after it.
    def _on_channel_cleared(self, event: ChannelCleared, **kwargs: Any) -> Future[None] | None:
        self._cancel_stream(CLEARED, channel_id=event.channel_id)
        return self._enqueue(self._forget_channel, event)

    def _on_channel_updated(self, event: ChannelUpdated, **kwargs: Any) -> Future[None] | None:
        if "participantCentralUserIds" in event.updates:
            return self._enqueue(self._drop_seat, event)
        return None

    def _on_channel_deleted(self, event: ChannelDeleted, **kwargs: Any) -> Future[None] | None:
        return self._enqueue(self._drop_seat, event)

    def _on_participant_update(
        self, event: ParticipantUpdate, **kwargs: Any
    ) -> Future[None] | None:
        if event.entity_id == self._agent_key:
            return self._enqueue(self._take_seat, event)
        return None

    def _on_server_agent_update(self, event: ServerAgentUpdate, **kwargs: Any) -> None:
        if event.agent_id != self._agent_key:
            return
        if event.type == "agent_added_to_server":
            self._subscriptions.add(event.message_server_id)
        elif event.type == "agent_removed_from_server":
            self._subscriptions.discard(event.message_server_id)

    def _enqueue(self, handler: Any, event: BusEvent | None) -> Future[None] | None:
        done: Future[None] = Future()
        try:
            self._queue.put_nowait((handler, event, time.perf_counter(), done))
        except queue.Full:
            name = event.name if event is not None else "a refresh"
            self.log.error("agent %s is overloaded; dropped %s", self.profile.name, name)
            if isinstance(event, NewMessage):
                self._report_error(event, "Agent is overloaded; message not processed")
            return None
        return done

    # --- the worker: the agent's own thread -------------------------------------------------
    def _work(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                handler, event, enqueued_at, done = item
                self._timed("queue", enqueued_at)
                close_old_connections()
                try:
                    handler(event)
                except Exception as exc:
                    name = event.name if event is not None else "a refresh"
                    self.log.exception("agent %s failed on %s", self.profile.name, name)
                    # Under a shared transport the event stays unacknowledged and comes back.
                    done.set_exception(exc)
                else:
                    done.set_result(None)
        finally:
            connections.close_all()

    def _seated(self, channel_id: str) -> bool:
        seated = self._seats.get(channel_id)
        if seated is None:
            seated = selectors.channel_is_participant(
                channel_id=uuid.UUID(channel_id), entity_id=self.profile.agent_id
            )
            self._seats[channel_id] = seated
        return seated

    def _timed(self, stage: str, started_at: float) -> float:
        """Records how long ``stage`` took since ``started_at``; returns the time now."""
        now = time.perf_counter()
        bus_metrics.stage_done(self._metrics_scope, stage, now - started_at)
        return now

    def _handle_message(self, event: NewMessage) -> None:
        started_at = time.perf_counter()
        if not self._seated(event.channel_id):
            return
        if selectors.memory_exists(agent_id=self.profile.agent_id, message_id=event.id):
            return  # delivered before: already handled
        self._answer(event, started_at)

    def _answer(self, event: NewMessage, started_at: float) -> None:
        """Answers a message that passed the filters, and settles it."""
        run_started_at = timezone.now()
        hops = agent_hops(event)
        reply, error, skip_reason = None, "", RunSkip.SILENT
        if hops < app_settings.AGENT_HOP_LIMIT:
            try:
                reply = self._reply(event, hops)
            except StreamCancelled as exc:
                self.log.info("agent %s: %s (%s)", self.profile.name, exc, event.id)
                if str(exc) == STOPPED:
                    raise  # not settled: the message is answered again where the agent runs
                return  # the message is gone: nothing to settle
            except Exception as exc:
                self.log.exception("agent %s could not answer %s", self.profile.name, event.id)
                error = f"{type(exc).__name__}: {exc}"
        else:
            skip_reason = RunSkip.HOP_LIMIT
        settling_at = self._timed("respond", started_at)
        services.agent_message_settle(
            agent_id=self.profile.agent_id,
            agent_name=self.profile.name,
            message=event,
            reply=reply,
            error=error,
            started_at=run_started_at,
            skip_reason=skip_reason,
        )
        self._timed("reply", settling_at)

    def _reply(self, event: NewMessage, hops: int) -> services.AgentReply | None:
        stream = ReplyStream(
            agent_id=self._agent_key,
            message_id=event.id,
            channel_id=event.channel_id,
            reply_id=str(reply_id(self.profile.agent_id, event.id)),
        )
        self._streaming = stream
        try:
            reply = stream_reply(self._responder.stream(self._request(event)), stream.send)
            if stream.cancelled:
                raise StreamCancelled(stream.cancelled)
        except Exception as exc:
            # A cancelled stream may end in any error (the responder's connection was cut).
            if stream.cancelled:
                stream.fail(stream.cancelled, final=stream.cancelled != STOPPED)
                raise StreamCancelled(stream.cancelled) from exc
            stream.fail(str(exc) or type(exc).__name__)
            raise
        finally:
            self._streaming = None
        if reply is None:
            if stream.pieces:
                stream.fail("The agent chose not to answer")
            return None
        return services.AgentReply(
            content=reply.text,
            raw_message={
                "text": reply.text,
                "thought": reply.thought,
                "actions": list(reply.actions),
            },
            metadata={
                "agent_id": self._agent_key,
                "agentName": self.profile.name,
                "agentHops": hops + 1,
                **_channel_hints(event),
            },
        )

    def _request(self, event: NewMessage) -> ResponderRequest:
        return ResponderRequest(
            agent_id=self._agent_key,
            agent_name=self.profile.name,
            system_prompt=self.profile.system_prompt,
            channel_id=event.channel_id,
            message_id=event.id,
            author_id=event.author_id,
            author_name=event.author_display_name or f"User-{event.author_id[:8]}",
            text=event.content,
            history=self._history(event),
        )

    def _history(self, event: NewMessage) -> tuple[ChatTurn, ...]:
        limit = self._responder.history_limit
        if limit <= 0:
            return ()
        earlier = [
            message
            for message in selectors.message_list(
                channel_id=uuid.UUID(event.channel_id), limit=limit + 1
            )
            if str(message.id) != event.id
        ][:limit]
        return chat_turns(earlier)

    def _forget_message(self, event: MessageDeleted) -> None:
        services.memory_forget_message(
            agent_id=self.profile.agent_id, message_id=uuid.UUID(event.message_id)
        )

    def _drop_seat(self, event: ChannelUpdated | ChannelDeleted) -> None:
        self._seats.pop(event.channel_id, None)

    def _take_seat(self, event: ParticipantUpdate) -> None:
        self._seats[event.channel_id] = event.type == "added"

    def _forget_channel(self, event: ChannelCleared) -> None:
        if event.channel_deleted:
            self._seats.pop(event.channel_id, None)
        services.memory_forget_channel(
            agent_id=self.profile.agent_id, channel_id=uuid.UUID(event.channel_id)
        )

    def _report_error(self, event: NewMessage, error: str) -> None:
        services.message_error_report(
            message_id=event.id,
            channel_id=event.channel_id,
            agent_id=self.profile.agent_id,
            error=error,
        )


def _channel_hints(event: NewMessage) -> dict[str, Any]:
    """The original's channel type and DM flag, so clients render the reply in place."""
    metadata = event.metadata
    hints: dict[str, Any] = {
        key: metadata[key] for key in ("channelType", "isDm") if key in metadata
    }
    return hints
