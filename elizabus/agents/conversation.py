"""Stored messages as a responder sees them: a conversation of :class:`ChatTurn`."""

from __future__ import annotations

from collections.abc import Sequence

from elizabus import selectors
from elizabus.bus.events import NewMessage
from elizabus.models import Message

from .responders.base import ChatTurn


def chat_turns(messages: Sequence[Message]) -> tuple[ChatTurn, ...]:
    """``messages``, newest first as the selectors give them, as a responder's conversation:
    oldest first, with each author's name."""
    names = selectors.entity_names([message.author_id for message in messages])
    return tuple(
        ChatTurn(
            author_id=str(message.author_id),
            author_name=names.get(message.author_id, ""),
            text=message.content,
            from_agent=message.source_type == "agent_response",
        )
        for message in reversed(messages)
    )


def agent_hops(event: NewMessage) -> int:
    """How many agent replies led to this message: 0 for a person's message."""
    hops = event.metadata.get("agentHops") if isinstance(event.metadata, dict) else None
    if isinstance(hops, int) and not isinstance(hops, bool) and hops >= 0:
        return hops
    return 1 if event.source_type == "agent_response" else 0
