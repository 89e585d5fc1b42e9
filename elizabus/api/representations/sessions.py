"""Sessions on the wire: the reference's shapes, with no ``{success, data}`` envelope (its
sessions router uses none), dates as ISO strings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from elizabus.js import iso
from elizabus.models import (
    Message,
    Session,
)
from elizabus.services.sessions import (
    SessionStatus,
    is_near_expiration,
    session_timeout_config,
    time_remaining,
)


def session_created_data(session: Session) -> dict[str, Any]:
    """The answer to ``POST /sessions``."""
    return {
        "sessionId": str(session.id),
        "channelId": str(session.channel_id),
        "agentId": str(session.agent_id),
        "userId": str(session.user_id),
        "createdAt": iso(session.created_at),
        "metadata": session.metadata,
        "expiresAt": iso(session.expires_at),
        "timeoutConfig": session_timeout_config(session).as_wire(),
    }


def session_data(session: Session, now: dt.datetime) -> dict[str, Any]:
    """``SessionInfoResponse``: the session as ``GET /sessions/:id`` and the list answer it."""
    return {
        **session_created_data(session),
        "lastActivity": iso(session.last_activity),
        "renewalCount": session.renewal_count,
        "timeRemaining": int(time_remaining(session, now).total_seconds() * 1000),
        "isNearExpiration": is_near_expiration(session, now),
    }


def session_status_data(status: SessionStatus) -> dict[str, Any]:
    return {
        "expiresAt": iso(status.expires_at),
        "renewalCount": status.renewal_count,
        "wasRenewed": status.was_renewed,
        "isNearExpiration": status.is_near_expiration,
    }


def session_user_message_data(wire: dict[str, Any], message: Message) -> dict[str, Any]:
    """The user's message as the reference answers it (``MessageServiceStructure``), plus the
    ``authorId`` and ``createdAt`` that the SDK's ``UserMessageData`` type promises."""
    return {**wire, "authorId": str(message.author_id), "createdAt": iso(message.created_at)}


def session_message_data(message: Message) -> dict[str, Any]:
    """A listed message (``SimplifiedMessage``): its metadata carries its raw message's
    ``thought`` and ``actions``; ``isAgent`` is true for agents' replies."""
    raw = message.raw_message if isinstance(message.raw_message, dict) else {}
    metadata = dict(message.metadata or {})
    for key in ("thought", "actions"):
        if key in raw:
            metadata[key] = raw[key]
        else:
            # The reference spreads ``{thought: raw.thought}`` over the metadata, so a
            # thought of the metadata's own does not survive a raw message without one.
            metadata.pop(key, None)
    return {
        "id": str(message.id),
        "content": message.content,
        "authorId": str(message.author_id),
        "isAgent": message.source_type == "agent_response",
        "createdAt": iso(message.created_at),
        "metadata": metadata,
        "seq": message.seq,
    }
