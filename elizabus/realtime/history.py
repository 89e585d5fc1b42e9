"""Stored messages as the bus events the sockets would have got: what a socket resuming with
``lastMessageId`` missed (router.py), and what this process's rooms may have missed while the
channel layer was unreachable (rooms.py).
"""

from __future__ import annotations

import datetime as dt
import uuid

from elizabus import selectors, services
from elizabus.bus.events import NewMessage
from elizabus.conf import app_settings
from elizabus.models import Message

# How far before the last message a resuming socket saw the resend starts. The last one a
# client saw can be newer than one still on its way to it when it lost its server: its own
# message's copy comes straight back to the sender, ahead of the broadcasts queued for its room.
RESUME_OVERLAP = dt.timedelta(seconds=10)


def missed_after(*, channel_id: uuid.UUID, message_id: uuid.UUID) -> list[NewMessage]:
    """What a socket that last saw ``message_id`` may have missed, oldest first (at most
    ``SOCKET_RESUME_LIMIT``): what came after it, and what came in the
    :data:`RESUME_OVERLAP` before it, which the client may already hold (it drops an id it
    has). An unknown ``message_id`` yields nothing."""
    seen_at = selectors.message_time(channel_id=channel_id, message_id=message_id)
    if seen_at is None:
        return []
    messages = selectors.messages_since(
        channel_id=channel_id,
        since=seen_at - RESUME_OVERLAP,
        limit=app_settings.SOCKET_RESUME_LIMIT + 1,
    )
    return _events(channel_id, [m for m in messages if m.id != message_id])


def said_since(*, channel_id: uuid.UUID, since: dt.datetime) -> list[NewMessage]:
    """What was stored in the channel from ``since`` on, oldest first (at most
    ``SOCKET_RESUME_LIMIT``)."""
    messages = selectors.messages_since(
        channel_id=channel_id, since=since, limit=app_settings.SOCKET_RESUME_LIMIT
    )
    return _events(channel_id, messages)


def _events(channel_id: uuid.UUID, messages: list[Message]) -> list[NewMessage]:
    if not messages:
        return []
    server_id = selectors.channel_get(channel_id).server_id
    names = selectors.entity_names([message.author_id for message in messages])
    return [
        services.message_event(
            message,
            server_id=server_id,
            author_display_name=(message.metadata or {}).get("user_display_name")
            or names.get(message.author_id, ""),
        )
        for message in messages
    ]
