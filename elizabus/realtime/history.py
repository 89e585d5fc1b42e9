"""Stored messages as the bus events the sockets would have got: what a socket resuming with
``lastMessageId`` missed (router.py), and what this process's rooms may have missed while the
channel layer was unreachable (rooms.py).

May import the selectors and services (reads only) and the bus events.
"""

from __future__ import annotations

import datetime as dt
import uuid

from elizabus import selectors, services
from elizabus.bus.events import NewMessage
from elizabus.conf import app_settings
from elizabus.models import Message


def missed_after(*, channel_id: uuid.UUID, message_id: uuid.UUID) -> list[NewMessage]:
    """What came after ``message_id`` in its channel, oldest first (at most
    ``SOCKET_RESUME_LIMIT``)."""
    messages = selectors.messages_after(
        channel_id=channel_id, message_id=message_id, limit=app_settings.SOCKET_RESUME_LIMIT
    )
    return _events(channel_id, messages)


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
