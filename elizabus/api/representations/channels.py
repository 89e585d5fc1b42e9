"""Channels and their messages on the wire."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from elizabus.js import epoch_ms, iso
from elizabus.models import (
    Channel,
)

from .base import without_unset


def channel_data(channel: Channel) -> dict[str, Any]:
    data = {
        "id": str(channel.id),
        "messageServerId": str(channel.server_id),
        "name": channel.name,
        "type": channel.type,
        "sourceType": channel.source_type or None,
        "sourceId": channel.source_id or None,
        "topic": channel.topic or None,
        "metadata": channel.metadata,
        "createdAt": iso(channel.created_at),
        "updatedAt": iso(channel.updated_at),
    }
    return without_unset(data, "sourceType", "sourceId", "topic")


def message_data(row: Mapping[str, Any], *, listing: bool = True) -> dict[str, Any]:
    """A message row (:data:`elizabus.db.rows.MESSAGE_COLUMNS`) as ``CentralRootMessage`` plus
    ``created_at``/``updated_at`` in ms and ``seq``, its place in the channel (docs/realtime.md,
    "Offsets"). In a ``listing``, ``metadata`` also gains the
    ``thought``, ``actions`` and ``attachments`` of ``rawMessage``, as in the reference's;
    elsewhere (``/submit``, ``/action``) it is the stored metadata."""
    raw_message = row["raw_message"]
    raw = raw_message if listing and isinstance(raw_message, dict) else {}
    metadata = dict(row["metadata"])
    for key in ("thought", "actions", "attachments"):
        if key in raw and key not in metadata:
            metadata[key] = raw[key]
    in_reply_to = row["in_reply_to_id"]
    data = {
        "id": str(row["id"]),
        "channelId": str(row["channel_id"]),
        "authorId": str(row["author_id"]),
        "content": row["content"],
        "rawMessage": raw_message,
        "sourceType": row["source_type"] or None,
        "sourceId": row["source_id"] or None,
        "metadata": metadata,
        "inReplyToRootMessageId": str(in_reply_to) if in_reply_to else None,
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
        "created_at": epoch_ms(row["created_at"]),
        "updated_at": epoch_ms(row["updated_at"]),
        "seq": row["seq"],
    }
    return without_unset(data, "rawMessage", "sourceType", "sourceId")
