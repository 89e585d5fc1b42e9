"""Who may do what with data isolation on (docs/security.md, "Access"): the rules both edges,
the REST API and the socket router, apply to the entity of a request's token.

An :class:`Actor` is the operator (the API key: everything) or one entity. Without isolation
every request acts as the operator, which keeps the default what the reference does. Reads
only; imports selectors, models, conf and exceptions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from elizabus import selectors
from elizabus.conf import app_settings
from elizabus.exceptions import (
    JobNotFound,
    NotChannelManager,
    NotParticipant,
    NotYourself,
    OperatorOnly,
    SessionNotFound,
)
from elizabus.models import Channel, ChannelType, Job, Message, Session


@dataclass(frozen=True)
class Actor:
    """The operator (``entity_id`` None) or one entity, as a request's credential says."""

    entity_id: uuid.UUID | None = None

    @property
    def operator(self) -> bool:
        return self.entity_id is None


OPERATOR = Actor()


def isolation_enabled() -> bool:
    return bool(app_settings.DATA_ISOLATION)


def require_operator(actor: Actor) -> None:
    if not actor.operator:
        raise OperatorOnly()


def act_as(actor: Actor, entity_id: uuid.UUID | None) -> uuid.UUID | None:
    """The entity a write names (an author, a user, a sender): the actor's own when it names
    none; 403 when it names another."""
    if actor.operator:
        return entity_id
    if entity_id is None:
        return actor.entity_id
    if entity_id != actor.entity_id:
        raise NotYourself()
    return entity_id


def require_self_or_operator(actor: Actor, entity_id: uuid.UUID) -> None:
    """An agent's own records (memories, logs, runs, media) are the agent's and the
    operator's."""
    if not actor.operator and entity_id != actor.entity_id:
        raise NotYourself("Only the agent itself or the operator may do this")


def require_participant(actor: Actor, channel_id: uuid.UUID) -> None:
    """Reads and posts: a participant only. A channel that does not exist is let through: the
    route answers its 404, or a post creates it with the actor among its participants."""
    if actor.operator:
        return
    if selectors.channel_is_participant(channel_id=channel_id, entity_id=actor.entity_id):
        return
    if Channel.objects.filter(id=channel_id).exists():
        raise NotParticipant()


def may_manage(actor: Actor, channel: Channel) -> bool:
    """Changing, clearing, deleting a channel and choosing its agents: its creator, either
    participant of a DM, the operator."""
    if actor.operator or channel.creator_id == actor.entity_id:
        return True
    return channel.type == ChannelType.DM and selectors.channel_is_participant(
        channel_id=channel.id, entity_id=actor.entity_id
    )


def require_manager(actor: Actor, channel_id: uuid.UUID) -> None:
    if actor.operator:
        return
    channel = selectors.channel_get(channel_id)
    if channel is not None and not may_manage(actor, channel):
        raise NotChannelManager()


def require_message_deleter(actor: Actor, channel_id: uuid.UUID, message_id: uuid.UUID) -> None:
    """A message is deleted by its author, or by who may manage its channel."""
    if actor.operator:
        return
    author = (
        Message.objects.filter(id=message_id, channel_id=channel_id)
        .values_list("author_id", flat=True)
        .first()
    )
    if author == actor.entity_id:
        return
    require_participant(actor, channel_id)
    require_manager(actor, channel_id)


def require_author(actor: Actor, message_id: uuid.UUID) -> None:
    """An action badge is updated by its author only."""
    if actor.operator:
        return
    author = Message.objects.filter(id=message_id).values_list("author_id", flat=True).first()
    if author is not None and author != actor.entity_id:
        raise NotYourself("Only the message's author may change it")


def require_session_owner(actor: Actor, session_id: uuid.UUID) -> None:
    """A session is its user's: another's answers 404, as one that does not exist."""
    if actor.operator:
        return
    owner = Session.objects.filter(id=session_id).values_list("user_id", flat=True).first()
    if owner is not None and owner != actor.entity_id:
        raise SessionNotFound()


def require_job_owner(actor: Actor, job_id: uuid.UUID) -> None:
    """A job is its user's: another's answers 404, as one that does not exist."""
    if actor.operator:
        return
    owner = Job.objects.filter(id=job_id).values_list("user_id", flat=True).first()
    if owner is not None and owner != actor.entity_id:
        raise JobNotFound()


def visible_channel_ids(actor: Actor) -> set[uuid.UUID] | None:
    """The channels the actor may see; None for all of them."""
    if actor.operator:
        return None
    return selectors.entity_channel_ids(entity_id=actor.entity_id)
