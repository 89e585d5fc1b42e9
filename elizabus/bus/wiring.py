"""Who listens to what: the one table from bus event to receivers, connected once at start-up.

Reading this file tells everything that happens after an event. Besides these fixed receivers,
each running agent service connects its own handlers when it starts and disconnects them when it
stops (:mod:`elizabus.agents.service`): ``new_message``, ``message_deleted``, ``channel_cleared``,
``channel_updated``, ``channel_deleted``, ``participant_update`` and ``server_agent_update``; and
the registry of requests waiting for an agent's answer (``elizabus.api.exchange.agent_answers``)
connects one receiver each to ``new_message``, ``message:error`` and ``message_complete`` when
the first request waits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from elizabus.agents.runtime import agent_runtime
from elizabus.realtime import broadcast

from . import dispatch
from .events import (
    AgentUpdated,
    BusEvent,
    ChannelCleared,
    ChannelDeleted,
    ChannelUpdated,
    MessageComplete,
    MessageDeleted,
    MessageError,
    MessageUpdated,
    NewMessage,
)

RECEIVERS: dict[type[BusEvent], list[Callable[..., Any]]] = {
    # Sockets of the channel: messageBroadcast, for every message of people and agents alike.
    NewMessage: [broadcast.on_new_message],
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
    MessageComplete: [broadcast.on_message_complete],
    # Sockets of the channel: messageError.
    MessageError: [broadcast.on_message_error],
    # Start, restart or stop agent services where this process runs agents.
    AgentUpdated: [agent_runtime.on_agent_update],
}


def connect() -> None:
    """Connects every receiver of :data:`RECEIVERS`; idempotent through ``dispatch_uid``."""
    for event_type, receivers in RECEIVERS.items():
        for receiver in receivers:
            uid = f"wiring:{event_type.name}:{dispatch.receiver_name(receiver)}"
            dispatch.connect(event_type, receiver, dispatch_uid=uid)
