"""Reads. Each returns a queryset or plain values with its joins already chosen."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db.models import Avg, Count, QuerySet

from elizabus.db import rows
from elizabus.db.rows import MESSAGE_COLUMNS
from elizabus.models import (
    CENTRAL_CHANNEL_ID,
    Agent,
    AgentRun,
    Channel,
    Entity,
    Job,
    JobStatus,
    Memory,
    Message,
    MessageServer,
    Participant,
    ServerAgent,
    Session,
)


def server_list() -> QuerySet[MessageServer]:
    return MessageServer.objects.order_by("created_at")


def server_get(server_id: uuid.UUID) -> MessageServer | None:
    return MessageServer.objects.filter(id=server_id).first()


def server_agent_ids(server_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        ServerAgent.objects.filter(server_id=server_id)
        .order_by("created_at")
        .values_list("agent_id", flat=True)
    )


def agent_server_ids(agent_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        ServerAgent.objects.filter(agent_id=agent_id)
        .order_by("created_at")
        .values_list("server_id", flat=True)
    )


def channel_get(channel_id: uuid.UUID) -> Channel | None:
    return Channel.objects.filter(id=channel_id).first()


def channel_list(server_id: uuid.UUID) -> QuerySet[Channel]:
    return Channel.objects.filter(server_id=server_id).order_by("created_at")


def channel_participants(channel_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        Participant.objects.filter(channel_id=channel_id)
        .order_by("created_at", "id")
        .values_list("entity_id", flat=True)
    )


def channel_is_participant(*, channel_id: uuid.UUID, entity_id: uuid.UUID | None) -> bool:
    # No entity (the operator's actor) is no participant: the query matches no row.
    return Participant.objects.filter(
        channel_id=channel_id,
        entity_id=entity_id,  # type: ignore[misc]
    ).exists()


def entity_channel_ids(*, entity_id: uuid.UUID | None) -> set[uuid.UUID]:
    """The channels an entity participates in."""
    # No entity (the operator's actor) is in no channel: the query matches no row.
    rows = Participant.objects.filter(entity_id=entity_id)  # type: ignore[misc]
    return set(rows.values_list("channel_id", flat=True))


def channel_may_join(*, channel_id: uuid.UUID, entity_id: uuid.UUID, central: bool = True) -> bool:
    """A socket may join the central channel (unless ``central`` is off: with data isolation
    it is its participants', the agents), and any channel its entity participates in."""
    return (central and channel_id == CENTRAL_CHANNEL_ID) or channel_is_participant(
        channel_id=channel_id, entity_id=entity_id
    )


def channel_may_send(*, channel_id: uuid.UUID, entity_id: uuid.UUID, central: bool = True) -> bool:
    """A socket may send where it may join, and to a channel that does not exist yet: the post
    creates it with the sender among its participants (docs/security.md, "Sockets")."""
    return channel_may_join(channel_id=channel_id, entity_id=entity_id, central=central) or (
        not Channel.objects.filter(id=channel_id).exists()
    )


def message_list(
    *, channel_id: uuid.UUID, limit: int = 50, before: dt.datetime | None = None
) -> QuerySet[Message]:
    """The newest ``limit`` messages of a channel, newest first; ``before`` is exclusive."""
    queryset = Message.objects.filter(channel_id=channel_id)
    if before is not None:
        queryset = queryset.filter(created_at__lt=before)
    return queryset.order_by("-created_at", "-id")[:limit]


def message_in_channel(*, channel_id: uuid.UUID, message_id: uuid.UUID) -> Message | None:
    return Message.objects.filter(id=message_id, channel_id=channel_id).first()


def message_row(message: Message) -> dict[str, Any]:
    """A stored message as a row of :data:`MESSAGE_COLUMNS`."""
    return {column: getattr(message, column) for column in MESSAGE_COLUMNS}


def channel_last_seq(channel_id: uuid.UUID) -> int | None:
    """The seq of the channel's newest message, deleted or not (0 before its first); None
    for no such channel."""
    return Channel.objects.filter(id=channel_id).values_list("last_seq", flat=True).first()


def message_seq(*, channel_id: uuid.UUID, message_id: uuid.UUID) -> int | None:
    """A message's seq in the channel; None for one the channel does not hold."""
    return (
        Message.objects.filter(id=message_id, channel_id=channel_id)
        .values_list("seq", flat=True)
        .first()
    )


def messages_after(
    *,
    channel_id: uuid.UUID,
    after_seq: int,
    upto_seq: int | None = None,
    limit: int,
    newest: bool = False,
) -> list[Message]:
    """The channel's messages with a seq after ``after_seq`` (up to ``upto_seq`` inclusive),
    at most ``limit``: the oldest of them, in seq order, or with ``newest`` the newest, newest
    first."""
    queryset = Message.objects.filter(channel_id=channel_id, seq__gt=after_seq)
    if upto_seq is not None:
        queryset = queryset.filter(seq__lte=upto_seq)
    return list(queryset.order_by("-seq" if newest else "seq")[:limit])


def entity_names(entity_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    return {
        entity.id: entity.display_name
        for entity in Entity.objects.filter(id__in=entity_ids).only("id", "names")
    }


def agent_list() -> QuerySet[Agent]:
    return Agent.objects.select_related("entity").order_by("created_at")


def agent_get(agent_id: uuid.UUID) -> Agent | None:
    return Agent.objects.select_related("entity").filter(entity_id=agent_id).first()


def enabled_agent_count() -> int:
    return Agent.objects.filter(enabled=True).count()


def agent_servers(agent_id: uuid.UUID) -> QuerySet[MessageServer]:
    """The message servers an agent is subscribed to (its elizaOS worlds), oldest first."""
    return MessageServer.objects.filter(agent_links__agent_id=agent_id).order_by("created_at")


def agent_rooms(agent_id: uuid.UUID) -> QuerySet[Channel]:
    """The channels an agent is a participant of (its elizaOS rooms), with their servers."""
    return (
        Channel.objects.filter(memberships__entity_id=agent_id)
        .select_related("server")
        .order_by("created_at", "id")
    )


def agent_room(*, agent_id: uuid.UUID, channel_id: uuid.UUID) -> Channel | None:
    return agent_rooms(agent_id).filter(id=channel_id).first()


def agent_run_list(
    *,
    agent_id: uuid.UUID,
    channel_id: uuid.UUID | None = None,
    outcomes: list[str] | None = None,
    started_from: dt.datetime | None = None,
    started_to: dt.datetime | None = None,
) -> QuerySet[AgentRun]:
    """An agent's runs, newest first, narrowed to a channel, some outcomes and a span of start
    times (both ends included, as the reference's ``from`` and ``to``)."""
    queryset = AgentRun.objects.filter(agent_id=agent_id)
    if channel_id is not None:
        queryset = queryset.filter(channel_id=channel_id)
    if outcomes is not None:
        queryset = queryset.filter(outcome__in=outcomes)
    if started_from is not None:
        queryset = queryset.filter(started_at__gte=started_from)
    if started_to is not None:
        queryset = queryset.filter(started_at__lte=started_to)
    return queryset.order_by("-started_at", "-id")


def agent_run_get(*, agent_id: uuid.UUID, run_id: uuid.UUID) -> AgentRun | None:
    return AgentRun.objects.filter(agent_id=agent_id, id=run_id).first()


def channel_answering_agent(
    *, channel_id: uuid.UUID, author_id: uuid.UUID, preferred: uuid.UUID | None = None
) -> uuid.UUID | None:
    """The agent that answers ``author_id`` in a channel: ``preferred`` when it is a registered
    agent, else the first agent to have joined the channel other than the author, as the reference
    picks it."""
    if preferred is not None and Agent.objects.filter(entity_id=preferred).exists():
        return preferred
    return (
        Participant.objects.filter(channel_id=channel_id, entity__agent__isnull=False)
        .exclude(entity_id=author_id)
        .order_by("created_at", "id")
        .values_list("entity_id", flat=True)
        .first()
    )


def memory_list(
    *,
    agent_id: uuid.UUID,
    channel_id: uuid.UUID | None = None,
    limit: int = 50,
    before: dt.datetime | None = None,
) -> QuerySet[Memory]:
    """An agent's memories, newest first, optionally of one channel (room)."""
    queryset = Memory.objects.filter(agent_id=agent_id)
    if channel_id is not None:
        queryset = queryset.filter(channel_id=channel_id)
    if before is not None:
        queryset = queryset.filter(created_at__lt=before)
    return queryset.order_by("-created_at", "-id")[:limit]


def memory_exists(*, agent_id: uuid.UUID, message_id: uuid.UUID | str) -> bool:
    """Whether the agent remembers the message: it has handled it."""
    return Memory.objects.filter(agent_id=agent_id, message_id=message_id).exists()


def agent_first_enabled() -> Agent | None:
    """The agent a job asks when it names none (the reference's first running agent)."""
    return Agent.objects.filter(enabled=True).order_by("created_at", "entity_id").first()


def channel_metadata(channel_id: uuid.UUID) -> dict[str, Any]:
    metadata = Channel.objects.filter(id=channel_id).values_list("metadata", flat=True).first()
    return metadata if isinstance(metadata, dict) else {}


# --- sessions ------------------------------------------------------------------------------------
def session_get(session_id: uuid.UUID) -> Session | None:
    return Session.objects.filter(id=session_id).first()


def session_list_active(*, now: dt.datetime, user_id: uuid.UUID | None = None) -> QuerySet[Session]:
    """The sessions not expired at ``now``, newest first; of one user if ``user_id``."""
    queryset = Session.objects.filter(expires_at__gt=now)
    if user_id is not None:
        queryset = queryset.filter(user_id=user_id)
    return queryset.order_by("-created_at", "id")


def session_counts(*, now: dt.datetime) -> dict[str, int]:
    """``total`` rows (expired ones stay until touched or pruned), ``active`` ones, and those
    ``expiring_soon``: active and within their own warning threshold of expiry."""
    active = list(
        Session.objects.filter(expires_at__gt=now).values_list(
            "expires_at", "warning_threshold_minutes"
        )
    )
    expiring_soon = sum(
        1 for expires_at, threshold in active if expires_at - now <= dt.timedelta(minutes=threshold)
    )
    return {
        "total": Session.objects.count(),
        "active": len(active),
        "expiring_soon": expiring_soon,
    }


def session_messages(
    *,
    channel_id: uuid.UUID,
    limit: int,
    before: dt.datetime | None = None,
    after: dt.datetime | None = None,
) -> tuple[list[Message], bool]:
    """A page of a session's messages, newest first, and whether more match beyond it.

    Both bounds are exclusive, in whole milliseconds (as the wire shows times). With
    ``after`` alone the page is the ``limit`` messages right after it (paging forwards, as the
    reference's over-fetch meant), otherwise the newest ``limit`` below ``before``. A real
    query, not the reference's fetch-and-filter of the newest thousand.
    """
    queryset = Message.objects.filter(channel_id=channel_id)
    if before is not None:
        queryset = queryset.filter(created_at__lt=before)
    if after is not None:
        # Stored times have microseconds, the wire has milliseconds: a message at .123456 is
        # at 123 ms, not after it.
        queryset = queryset.filter(created_at__gte=after + dt.timedelta(milliseconds=1))
    forwards = after is not None and before is None
    order = ("created_at", "id") if forwards else ("-created_at", "-id")
    rows = list(queryset.order_by(*order)[: limit + 1])
    has_more = len(rows) > limit
    page = rows[:limit]
    if forwards:
        page.reverse()
    return page, has_more


# --- jobs ----------------------------------------------------------------------------------------
JOB_OPEN_STATUSES = (JobStatus.PENDING, JobStatus.PROCESSING)


def job_get(job_id: uuid.UUID) -> Job | None:
    return Job.objects.filter(id=job_id).first()


def job_list(
    *, limit: int, status: str | None = None, user_id: uuid.UUID | None = None
) -> QuerySet[Job]:
    """The newest ``limit`` jobs, of one status and of one user if given."""
    queryset = Job.objects.all() if user_id is None else Job.objects.filter(user_id=user_id)
    if status is not None:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-created_at", "id")[:limit]


def job_status_counts() -> dict[str, int]:
    """How many jobs are kept in each status (every status present, zero or not)."""
    counts = dict.fromkeys(JobStatus.values, 0)
    for status, count in Job.objects.values_list("status").annotate(count=Count("id")):
        counts[status] = count
    return counts


def job_average_processing_ms() -> float:
    average = Job.objects.filter(status=JobStatus.COMPLETED).aggregate(
        average=Avg("processing_time_ms")
    )["average"]
    return float(average or 0)


def job_open_in_channel(
    *, channel_id: uuid.UUID | str, agent_id: uuid.UUID | str
) -> uuid.UUID | None:
    """The open job whose channel this is and whose agent this is, if any: what the job
    receivers look up for every message, so one statement built once, on a unique index."""
    job = rows.job_in_channel(channel_id)
    if job is None:
        return None
    job_id, job_agent_id, status = job
    if str(job_agent_id) != str(agent_id) or status not in JOB_OPEN_STATUSES:
        return None
    return job_id


def job_open_for_request(
    *, message_id: uuid.UUID | str, agent_id: uuid.UUID | str
) -> uuid.UUID | None:
    """The open job that asked ``message_id`` of ``agent_id``, if any."""
    return (
        Job.objects.filter(
            request_message_id=message_id, agent_id=agent_id, status__in=JOB_OPEN_STATUSES
        )
        .values_list("id", flat=True)
        .first()
    )
