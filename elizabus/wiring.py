"""Who listens to what: the one table from bus event to receivers, connected once at start-up.

It lives above the bus, the agents and the real-time layer, which is why it may name them all.
Reading this file tells everything that happens after an event. Besides these fixed receivers,
each running bus agent connects its own handlers, in its agent's group, when it starts and
disconnects them when it stops (:mod:`elizabus.agents.bus_agent`): ``new_message``,
``message_deleted``, ``channel_cleared``, ``channel_updated``, ``channel_deleted``,
``participant_update`` and ``server_agent_update``; and the registry of requests waiting for an
agent's answer (``elizabus.api.exchange.agent_answers``) connects one receiver each (scope
``EACH``) to ``new_message``, ``message:error`` and ``message_complete`` when the first request
waits.

Broadcasts run ``ONCE`` per event when the channel layer is shared by the processes (Redis): the
layer itself brings them to every process's sockets. With a layer of one process's own they run
in ``EACH`` process, for its own sockets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from elizabus import job_receivers
from elizabus.agents.attached import attachments
from elizabus.agents.runtime import agent_runtime, keep_agent_group
from elizabus.bus import dispatch
from elizabus.bus.events import (
    AgentUpdated,
    BusEvent,
    ChannelCleared,
    ChannelDeleted,
    ChannelUpdated,
    MessageComplete,
    MessageDeleted,
    MessageError,
    MessageStreamChunk,
    MessageStreamError,
    MessageUpdated,
    NewMessage,
)
from elizabus.realtime import broadcast

RECEIVERS: dict[type[BusEvent], list[Callable[..., Any]]] = {
    # Sockets of the channel: messageBroadcast, for every message of people and agents alike.
    # Jobs: the job's agent answered in the job's channel, so the job completes.
    NewMessage: [broadcast.on_new_message, job_receivers.on_new_message],
    # Sockets of the channel: messageBroadcast again, same id, updated content.
    MessageUpdated: [broadcast.on_message_updated],
    # Sockets of the channel: messageDeleted.
    MessageDeleted: [broadcast.on_message_deleted],
    # Sockets of the channel: channelCleared (not when the channel itself was deleted).
    ChannelCleared: [broadcast.on_channel_cleared],
    # Sockets of the channel: channelUpdated.
    ChannelUpdated: [broadcast.on_channel_updated],
    # Sockets of the channel: channelDeleted.
    ChannelDeleted: [broadcast.on_channel_deleted],
    # Sockets of the channel: messageComplete, which ends the "thinking…" state.
    # Jobs: the agent is done with a job's question without answering it, so the job fails.
    MessageComplete: [broadcast.on_message_complete, job_receivers.on_message_complete],
    # Sockets of the channel: messageError.
    # Jobs: the agent failed on a job's question, so the job fails.
    MessageError: [broadcast.on_message_error, job_receivers.on_message_error],
    # Sockets of the channel: messageStreamChunk and messageStreamError, a reply as it grows
    # (ephemeral: EACH process gets them from a shared transport, and serves its own sockets).
    MessageStreamChunk: [broadcast.on_message_stream_chunk],
    MessageStreamError: [broadcast.on_message_stream_error],
    # Start, restart or stop bus agents where this process runs agents; open or drop the
    # agent's group (once), whether or not a process runs agents now. Agents hosted outside:
    # start or stop their bus side where their instances attach, and tell the instances.
    AgentUpdated: [agent_runtime.on_agent_update, keep_agent_group, attachments.on_agent_update],
}


# Where each receiver runs (elizabus.bus.dispatch); broadcasts' scope follows the layer. The
# job receivers write, so they run once per event: in the process that committed it (or the
# relay that repaired it), which sees every event it committed, whatever the transport.
SCOPES: dict[Callable[..., Any], dispatch.Scope] = {
    agent_runtime.on_agent_update: dispatch.EACH,
    # Ephemeral events reach EACH receivers only (bus/publish.py).
    broadcast.on_message_stream_chunk: dispatch.EACH,
    broadcast.on_message_stream_error: dispatch.EACH,
    keep_agent_group: dispatch.ONCE,
    attachments.on_agent_update: dispatch.EACH,
    job_receivers.on_new_message: dispatch.ONCE,
    job_receivers.on_message_error: dispatch.ONCE,
    job_receivers.on_message_complete: dispatch.ONCE,
}


def scope_of(receiver: Callable[..., Any]) -> dispatch.Scope:
    if receiver in SCOPES:
        return SCOPES[receiver]
    return dispatch.ONCE if broadcast.layer_is_shared() else dispatch.EACH


def connect() -> None:
    """Connects every receiver of :data:`RECEIVERS`; idempotent through ``dispatch_uid``."""
    for event_type, receivers in RECEIVERS.items():
        for receiver in receivers:
            uid = f"wiring:{event_type.name}:{dispatch.receiver_name(receiver)}"
            dispatch.connect(event_type, receiver, dispatch_uid=uid, scope=scope_of(receiver))
