"""Channels (rooms) and their participants."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from elizabus import js
from elizabus.bus.events import ChannelCleared, ChannelDeleted, ChannelUpdated, ParticipantUpdate
from elizabus.bus.publish import publish
from elizabus.db import rows
from elizabus.exceptions import (
    CentralChannel,
    ChannelExists,
    ChannelNotFound,
    DmWithSelf,
    ParticipantNotFound,
    ServerMismatch,
    ServerNotFound,
)
from elizabus.models import (
    CENTRAL_CHANNEL_ID,
    Channel,
    ChannelType,
    Message,
    MessageServer,
    Participant,
)

from .entities import entity_ensure


def dm_channel_name(first: uuid.UUID, second: uuid.UUID) -> str:
    """The one naming rule for direct-message channels, whoever creates them, so that
    ``/dm-channel`` finds an auto-created DM again (docs/errors.md, "Limits")."""
    low, high = sorted((str(first), str(second)))
    return f"DM-{low}-{high}"


def _channel(channel_id: uuid.UUID, *, for_update: bool = False) -> Channel:
    queryset = Channel.objects.select_for_update() if for_update else Channel.objects
    channel = queryset.filter(id=channel_id).first()
    if channel is None:
        raise ChannelNotFound(f"Channel {channel_id} not found")
    return channel


def _server(server_id: uuid.UUID) -> MessageServer:
    server = MessageServer.objects.filter(id=server_id).first()
    if server is None:
        raise ServerNotFound(f"Message server {server_id} not found")
    return server


def _add_participants(channel: Channel, entity_ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """Adds the entities that are not members yet; returns the ones added, in order."""
    wanted = list(dict.fromkeys(entity_ids))
    present = set(
        Participant.objects.filter(channel=channel, entity_id__in=wanted).values_list(
            "entity_id", flat=True
        )
    )
    added = [entity_id for entity_id in wanted if entity_id not in present]
    for entity_id in added:
        entity_ensure(entity_id=entity_id)
    Participant.objects.bulk_create(
        [Participant(channel=channel, entity_id=entity_id) for entity_id in added],
        ignore_conflicts=True,
    )
    for entity_id in added:
        publish(
            ParticipantUpdate(type="added", channel_id=str(channel.id), entity_id=str(entity_id))
        )
    return added


@transaction.atomic
def channel_create(
    *,
    server_id: uuid.UUID,
    name: str,
    type: str = ChannelType.GROUP,
    participant_ids: Iterable[uuid.UUID] = (),
    metadata: dict[str, Any] | None = None,
    channel_id: uuid.UUID | None = None,
    source_type: str = "",
    source_id: str = "",
    topic: str = "",
    creator_id: uuid.UUID | None = None,
) -> Channel:
    """Creates a channel on ``server_id`` with its first participants; ``creator_id`` is the
    entity that asked for it, if one did."""
    server = _server(server_id)
    if channel_id is not None and Channel.objects.filter(id=channel_id).exists():
        raise ChannelExists(f"Channel {channel_id} already exists")
    channel = Channel.objects.create(
        id=channel_id or uuid.uuid4(),
        server=server,
        name=name,
        type=type.upper(),
        metadata=metadata or {},
        source_type=source_type,
        source_id=source_id,
        topic=topic,
        creator_id=creator_id,
    )
    _add_participants(channel, participant_ids)
    return channel


def require_same_server(
    channel_id: uuid.UUID, channel_server_id: uuid.UUID, server_id: uuid.UUID
) -> None:
    """Refuses a message for ``channel_id`` addressed to another server than the channel's."""
    if channel_server_id != server_id:
        raise ServerMismatch(
            f"Channel {channel_id} does not belong to message server {server_id}",
        )


def ensure_channel_for_post(
    *,
    channel_id: uuid.UUID,
    server_id: uuid.UUID,
    author_id: uuid.UUID,
    metadata: dict[str, Any],
    created_by: str,
) -> None:
    """Makes sure the channel a message is posted to exists on ``server_id``: it is
    auto-created when the client chose a new id, as the reference does, and one on another server
    is refused.

    A DM (``metadata.isDm`` or a ``DM`` channel type) with a known counterpart is named by the
    one DM rule so that ``/dm-channel`` finds it again. The caller holds the transaction (this
    runs inside a message post without a savepoint of its own); the channel row stays locked
    until it commits.
    """
    found_server_id = rows.channel_server(channel_id, lock=True)
    if found_server_id is not None:
        require_same_server(channel_id, found_server_id, server_id)
        return
    _server(server_id)
    channel_type = str(metadata.get("channelType") or metadata.get("channel_type") or "").upper()
    is_dm = metadata.get("isDm") is True or channel_type == ChannelType.DM
    target = metadata.get("targetUserId") or metadata.get("recipientId")
    target_id = optional_uuid(target)
    participants = [author_id]
    if is_dm and target_id is not None and target_id != author_id:
        participants.append(target_id)
        name = dm_channel_name(author_id, target_id)
    else:
        name = f"{'DM' if is_dm else 'Chat'} {str(channel_id)[:8]}"
    channel_create(
        server_id=server_id,
        channel_id=channel_id,
        name=name,
        type=ChannelType.DM if is_dm else ChannelType.GROUP,
        participant_ids=participants,
        source_type="auto_created",
        creator_id=author_id,
        metadata={
            "created_by": created_by,
            "created_for_user": str(author_id),
            "created_at": js.iso(timezone.now()),
            "channel_type": ChannelType.DM if is_dm else ChannelType.GROUP,
            **metadata,
        },
    )


def optional_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


@transaction.atomic
def dm_channel_get_or_create(
    *, user_id: uuid.UUID, target_id: uuid.UUID, server_id: uuid.UUID
) -> tuple[Channel, bool]:
    """The DM channel of two entities on a server, created on first use. Symmetric."""
    if user_id == target_id:
        raise DmWithSelf()
    _server(server_id)
    name = dm_channel_name(user_id, target_id)
    existing = (
        Channel.objects.filter(server_id=server_id, type=ChannelType.DM, name=name)
        .order_by("created_at")
        .first()
    )
    if existing is not None:
        return existing, False
    low, high = sorted((str(user_id), str(target_id)))
    channel = channel_create(
        server_id=server_id,
        name=name,
        type=ChannelType.DM,
        participant_ids=[user_id, target_id],
        metadata={"user1": low, "user2": high},
        creator_id=user_id,
    )
    return channel, True


@transaction.atomic
def channel_update(
    *,
    channel_id: uuid.UUID,
    name: str | None = None,
    participant_ids: list[uuid.UUID] | None = None,
    metadata: dict[str, Any] | None = None,
    topic: str | None = None,
) -> Channel:
    """Renames, re-describes or re-populates a channel. Metadata is replaced, not merged, as
    the reference does; a participant list replaces the old one."""
    channel = _channel(channel_id, for_update=True)
    updates: dict[str, Any] = {}
    if name is not None:
        channel.name = updates["name"] = name
    if metadata is not None:
        channel.metadata = updates["metadata"] = metadata
    if topic is not None:
        channel.topic = updates["topic"] = topic
    channel.save()
    if participant_ids is not None:
        keep = list(dict.fromkeys(participant_ids))
        removed = list(
            Participant.objects.filter(channel=channel)
            .exclude(entity_id__in=keep)
            .values_list("entity_id", flat=True)
        )
        Participant.objects.filter(channel=channel, entity_id__in=removed).delete()
        for entity_id in removed:
            publish(
                ParticipantUpdate(
                    type="removed", channel_id=str(channel.id), entity_id=str(entity_id)
                )
            )
        _add_participants(channel, keep)
        updates["participantCentralUserIds"] = [str(entity_id) for entity_id in keep]
    publish(ChannelUpdated(channel_id=str(channel.id), updates=updates))
    return channel


@transaction.atomic
def channel_participant_add(*, channel_id: uuid.UUID, entity_id: uuid.UUID) -> bool:
    """Adds an entity to a channel; idempotent. Returns whether it was new."""
    return bool(_add_participants(_channel(channel_id), [entity_id]))


@transaction.atomic
def channel_participant_remove(*, channel_id: uuid.UUID, entity_id: uuid.UUID) -> None:
    """Removes an entity from a channel; NotFound when it was not a participant."""
    channel = _channel(channel_id)
    deleted, _ = Participant.objects.filter(channel=channel, entity_id=entity_id).delete()
    if not deleted:
        raise ParticipantNotFound()
    publish(ParticipantUpdate(type="removed", channel_id=str(channel_id), entity_id=str(entity_id)))


@transaction.atomic
def channel_clear(*, channel_id: uuid.UUID) -> int:
    """Deletes every message of a channel in one statement. Returns how many."""
    _channel(channel_id, for_update=True)
    deleted, _ = Message.objects.filter(channel_id=channel_id).delete()
    publish(ChannelCleared(channel_id=str(channel_id), message_count=deleted))
    return deleted


@transaction.atomic
def channel_delete(*, channel_id: uuid.UUID) -> None:
    """Deletes a channel with its messages and participants. The central channel stays: it
    always exists (docs/architecture.md, "The entity model"); it can be cleared."""
    if channel_id == CENTRAL_CHANNEL_ID:
        raise CentralChannel()
    channel = _channel(channel_id, for_update=True)
    deleted, _ = Message.objects.filter(channel=channel).delete()
    channel.delete()
    publish(ChannelCleared(channel_id=str(channel_id), message_count=deleted, channel_deleted=True))
    publish(ChannelDeleted(channel_id=str(channel_id)))
