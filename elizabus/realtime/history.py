"""Stored messages as the bus events the sockets would have got, by their seqs (docs/realtime.md,
"Offsets"): what a socket resuming from an offset missed (router.py), and what this process's
rooms may have missed while the channel layer was unreachable (rooms.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from elizabus import selectors, services
from elizabus.bus.events import NewMessage
from elizabus.conf import app_settings
from elizabus.models import Message


@dataclass(frozen=True, slots=True)
class Missed:
    """What a channel stored after an offset: the ``events``, oldest first, up to ``last_seq``
    (the channel's newest seq when they were read: later ones come live). ``complete`` is False
    when they are not all there is: the offset was unknown, or more were stored than a resend
    holds (then ``events`` are the newest of them). ``covered`` is the range of seqs the events
    account for: each seq in it is one of them, or was deleted."""

    events: list[NewMessage]
    last_seq: int
    complete: bool
    covered: range = range(0)


def missed(
    *,
    channel_id: uuid.UUID,
    after_seq: int | None = None,
    after_message_id: uuid.UUID | None = None,
) -> Missed:
    """The channel's messages after ``after_seq``, or after the message ``after_message_id``
    (``after_seq`` wins when both are given); at most ``SOCKET_RESUME_LIMIT``. A message id the
    channel does not hold (deleted, or another channel's) resends nothing, incomplete."""
    last_seq = selectors.channel_last_seq(channel_id) or 0
    if after_seq is None and after_message_id is not None:
        after_seq = selectors.message_seq(channel_id=channel_id, message_id=after_message_id)
    if after_seq is None:
        return Missed(events=[], last_seq=last_seq, complete=False)
    limit = app_settings.SOCKET_RESUME_LIMIT
    messages = selectors.messages_after(
        channel_id=channel_id, after_seq=after_seq, upto_seq=last_seq, limit=limit + 1, newest=True
    )
    complete = len(messages) <= limit
    events = _events(channel_id, messages[:limit][::-1])
    start = after_seq + 1 if complete or not events else events[0].seq
    return Missed(
        events=events,
        last_seq=last_seq,
        complete=complete,
        covered=range(start, last_seq + 1),
    )


def stored_after(*, channel_id: uuid.UUID, after_seq: int) -> Missed:
    """The channel's messages after ``after_seq``, oldest first, at most
    ``SOCKET_RESUME_LIMIT`` (``complete`` False when there are more: read again from the last
    one's seq)."""
    last_seq = selectors.channel_last_seq(channel_id) or 0
    limit = app_settings.SOCKET_RESUME_LIMIT
    messages = selectors.messages_after(
        channel_id=channel_id, after_seq=after_seq, upto_seq=last_seq, limit=limit + 1
    )
    complete = len(messages) <= limit
    messages = messages[:limit]
    return Missed(
        events=_events(channel_id, messages),
        last_seq=last_seq if complete else messages[-1].seq,
        complete=complete,
    )


def _events(channel_id: uuid.UUID, messages: list[Message]) -> list[NewMessage]:
    channel = selectors.channel_get(channel_id) if messages else None
    if channel is None:  # deleted meanwhile: its sockets get channelDeleted
        return []
    server_id = channel.server_id
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
