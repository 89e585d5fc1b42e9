"""Agents: registering and configuring them, and the memories they keep."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from elizabus import selectors
from elizabus.agents.conversation import agent_hops, chat_turns
from elizabus.agents.responders.base import ResponderError, load_responder
from elizabus.bus.events import AgentUpdated, MessageError, NewMessage
from elizabus.bus.publish import publish
from elizabus.conf import app_settings
from elizabus.exceptions import (
    AgentExists,
    AgentNotFound,
    AlreadyAnswered,
    ChannelNotFound,
    InvalidResponder,
    TitleFailed,
)
from elizabus.ids import memory_id, reply_id
from elizabus.models import (
    CENTRAL_CHANNEL_ID,
    DEFAULT_SERVER_ID,
    Agent,
    AgentRun,
    Channel,
    Entity,
    EntityKind,
    Memory,
    Message,
    RunOutcome,
    RunSkip,
)

from .channels import channel_participant_add, channel_participant_remove
from .messages import message_complete_announce, message_create, message_event
from .servers import server_agent_add


def _agent(agent_id: uuid.UUID, *, for_update: bool = False) -> Agent:
    queryset = Agent.objects.select_for_update() if for_update else Agent.objects
    agent = queryset.filter(entity_id=agent_id).first()
    if agent is None:
        raise AgentNotFound()
    return agent


def _check_responder(dotted_path: str, options: dict[str, Any]) -> None:
    """Builds the responder once, so a misspelt path or a bad option is refused now rather
    than found when the agent fails to start."""
    try:
        load_responder(dotted_path, options).close()
    except ResponderError as exc:
        raise InvalidResponder(str(exc)) from exc


def _bio_text(bio: Any) -> str:
    if isinstance(bio, list):
        return "\n".join(str(line) for line in bio)
    return str(bio or "")


@transaction.atomic
def agent_register(
    *,
    name: str,
    bio: str | list[str] = "",
    system_prompt: str = "",
    responder: str = "",
    responder_options: dict[str, Any] | None = None,
    character: dict[str, Any] | None = None,
    agent_id: uuid.UUID | None = None,
    enabled: bool = True,
    hosted_outside: bool = False,
) -> Agent:
    """Creates an agent, subscribes it to the default server and seats it in the central
    channel (docs/architecture.md, "The entity model"), then announces it so the runtime starts
    it; an agent ``hosted_outside`` is answered by the processes that attach for it
    (docs/agents.md, "The agent wire")."""
    agent_id = agent_id or uuid.uuid4()
    responder = responder or app_settings.DEFAULT_RESPONDER
    _check_responder(responder, responder_options or {})
    existing = Entity.objects.filter(id=agent_id).first()
    if existing is not None and (existing.kind == EntityKind.AGENT or existing.messages.exists()):
        raise AgentExists(f"Entity {agent_id} already exists")
    if existing is None:
        entity = Entity.objects.create(id=agent_id, kind=EntityKind.AGENT, names=[name])
    else:
        # A user id seen once (for example as a participant) may still become an agent.
        entity = existing
        entity.kind, entity.names = EntityKind.AGENT, [name]
        entity.save(update_fields=["kind", "names"])
    agent = Agent.objects.create(
        entity=entity,
        name=name,
        bio=_bio_text(bio),
        system_prompt=system_prompt,
        responder=responder,
        responder_options=responder_options or {},
        character=character or {"name": name, "bio": bio},
        enabled=enabled,
        hosted_outside=hosted_outside,
    )
    server_agent_add(server_id=DEFAULT_SERVER_ID, agent_id=agent_id)
    channel_participant_add(channel_id=CENTRAL_CHANNEL_ID, entity_id=agent_id)
    _announce("registered", agent_id)
    return agent


def _announce(change: str, agent_id: uuid.UUID) -> None:
    publish(AgentUpdated(type=change, agent_id=str(agent_id), written_at=time.time()))


# What an agent's representation answers in place of each secret of its character
# (docs/security.md, "Agents' secrets"); sent back in an update, it keeps the stored secret.
SECRET_REDACTED = "[REDACTED]"


def _secret_maps(character: dict[str, Any]) -> list[dict[str, Any]]:
    """The character's secrets: elizaOS characters keep them in ``secrets`` and in
    ``settings.secrets``."""
    settings = character.get("settings")
    maps = [
        character.get("secrets"),
        settings.get("secrets") if isinstance(settings, dict) else None,
    ]
    return [secrets for secrets in maps if isinstance(secrets, dict)]


def _keep_redacted_secrets(stored: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """``given`` with each redacted secret replaced by the stored one (dropped when there is
    none): a client that sends back the agent it read must not store the redaction."""
    given = {**given}
    if isinstance(given.get("settings"), dict):
        given["settings"] = {**given["settings"]}
    for owner in (given, given.get("settings")):
        if isinstance(owner, dict) and isinstance(owner.get("secrets"), dict):
            owner["secrets"] = {**owner["secrets"]}
    known: dict[str, Any] = {}
    for secrets in _secret_maps(stored):
        known.update(secrets)
    for secrets in _secret_maps(given):
        for key in [key for key, value in secrets.items() if value == SECRET_REDACTED]:
            if key in known and known[key] != SECRET_REDACTED:
                secrets[key] = known[key]
            else:
                del secrets[key]
    return given


@transaction.atomic
def agent_update(
    *,
    agent_id: uuid.UUID,
    name: str | None = None,
    bio: str | list[str] | None = None,
    system_prompt: str | None = None,
    responder: str | None = None,
    responder_options: dict[str, Any] | None = None,
    character: dict[str, Any] | None = None,
) -> Agent:
    """Changes an agent's configuration; a running agent takes it after the message it is
    answering."""
    agent = _agent(agent_id, for_update=True)
    if name is not None:
        agent.name = name
        agent.entity.names = [name]
        agent.entity.save(update_fields=["names"])
    if bio is not None:
        agent.bio = _bio_text(bio)
    if system_prompt is not None:
        agent.system_prompt = system_prompt
    if responder is not None or responder_options is not None:
        agent.responder = responder if responder is not None else agent.responder
        if responder_options is not None:
            agent.responder_options = responder_options
        _check_responder(agent.responder, agent.responder_options)
    if character is not None:
        agent.character = {**agent.character, **_keep_redacted_secrets(agent.character, character)}
    # The stored character is what clients read back: it follows the fields set here.
    explicit = {"name": name, "bio": bio, "system": system_prompt}
    agent.character = {
        **agent.character,
        **{key: value for key, value in explicit.items() if value is not None},
    }
    agent.save()
    _announce("updated", agent_id)
    return agent


@transaction.atomic
def agent_set_enabled(*, agent_id: uuid.UUID, enabled: bool) -> Agent:
    """Starts (``enabled``) or stops an agent everywhere it runs."""
    agent = _agent(agent_id, for_update=True)
    if agent.enabled != enabled:
        agent.enabled = enabled
        agent.save(update_fields=["enabled", "updated_at"])
    _announce("started" if enabled else "stopped", agent_id)
    return agent


@transaction.atomic
def agent_delete(*, agent_id: uuid.UUID) -> None:
    """Deletes an agent's configuration, subscriptions, seats and memories. Its messages stay,
    authored by its entity, which becomes a plain entity."""
    agent = _agent(agent_id, for_update=True)
    entity = agent.entity
    agent.delete()
    for channel_id in list(entity.memberships.values_list("channel_id", flat=True)):
        channel_participant_remove(channel_id=channel_id, entity_id=entity.id)
    _announce("deleted", agent_id)


@transaction.atomic
def memory_record(
    *,
    agent_id: uuid.UUID,
    message: NewMessage,
) -> bool:
    """Records an agent's memory of a message it saw or wrote. Idempotent: a message delivered
    twice is remembered once. Returns whether the memory is new."""
    if Memory.objects.filter(agent_id=agent_id, message_id=message.id).exists():
        return False
    content: dict[str, Any] = {
        "text": message.content,
        "source": message.source_type or "central-bus",
    }
    attachments = (message.metadata or {}).get("attachments")
    if attachments:
        content["attachments"] = attachments
    if message.in_reply_to_message_id:
        content["inReplyTo"] = message.in_reply_to_message_id
    try:
        # A savepoint: another worker may record the same memory between the check and here,
        # and the unique constraint then refuses the second one without spoiling the caller.
        with transaction.atomic():
            Memory.objects.create(
                id=memory_id(agent_id, message.id),
                agent_id=agent_id,
                message_id=message.id,
                channel_id=message.channel_id,
                server_id=message.message_server_id,
                author_id=message.author_id,
                content=content,
                metadata={
                    **(message.metadata or {}),
                    "type": "message",
                    "sourceId": message.id,
                    "senderName": message.author_display_name,
                },
                created_at=dt.datetime.fromtimestamp(message.created_at / 1000, dt.UTC),
            )
    except IntegrityError:
        return False
    return True


@transaction.atomic
def memory_forget_message(*, agent_id: uuid.UUID, message_id: uuid.UUID) -> int:
    """Deletes an agent's memory of one message. Returns how many rows went (0 or 1)."""
    deleted, _ = Memory.objects.filter(agent_id=agent_id, message_id=message_id).delete()
    return deleted


@transaction.atomic
def memory_forget_channel(*, agent_id: uuid.UUID, channel_id: uuid.UUID) -> int:
    """Deletes an agent's memories of one channel. Returns how many."""
    deleted, _ = Memory.objects.filter(agent_id=agent_id, channel_id=channel_id).delete()
    return deleted


@dataclass(frozen=True)
class AgentReply:
    """What an agent answers to a message, before it is stored."""

    content: str
    raw_message: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)


@transaction.atomic
def agent_message_settle(
    *,
    agent_id: uuid.UUID,
    agent_name: str,
    message: NewMessage,
    reply: AgentReply | None = None,
    error: str = "",
    started_at: dt.datetime | None = None,
    skip_reason: str = RunSkip.SILENT,
    reply_message_id: uuid.UUID | None = None,
    announce_complete: bool = True,
) -> bool:
    """Stores what an agent did with a message, all of it or nothing, with its events: its
    memory of the message; its reply (under ``reply_message_id``, else an id derived from the
    agent and the message) and its memory of the reply, or its ``message:error``;
    ``message_complete`` (unless the agent announces it itself, as hosted agents do through
    ``POST /complete``); and the run, from ``started_at`` (when the agent took the message up)
    to now, with its outcome: replied, failed, or skipped for ``skip_reason``.

    The memory is unique per agent and message, so a message handled twice (delivered again
    after a crash, or by two processes at once) is settled once: the second call writes and
    announces nothing and returns False.
    """
    if not memory_record(agent_id=agent_id, message=message):
        return False
    channel_id = uuid.UUID(message.channel_id)
    server_id = uuid.UUID(message.message_server_id)
    stored = None
    if reply is not None:
        stored = message_create(
            channel_id=channel_id,
            server_id=server_id,
            message_id=reply_message_id or reply_id(agent_id, message.id),
            author_id=agent_id,
            content=reply.content,
            raw_message=reply.raw_message,
            metadata=reply.metadata,
            in_reply_to_message_id=uuid.UUID(message.id),
            source_type="agent_response",
            author_display_name=agent_name,
        )
        own = message_event(stored, server_id=server_id, author_display_name=agent_name)
        memory_record(agent_id=agent_id, message=own)
    if error:
        message_error_report(
            message_id=message.id, channel_id=message.channel_id, agent_id=agent_id, error=error
        )
    _run_record(
        agent_id=agent_id,
        message=message,
        started_at=started_at,
        reply_id=stored.id if stored is not None else None,
        error=error,
        skip_reason=skip_reason,
    )
    if announce_complete:
        message_complete_announce(
            channel_id=channel_id,
            server_id=server_id,
            agent_id=agent_id,
            message_id=uuid.UUID(message.id),
        )
    return True


@transaction.atomic
def agent_reply_submit(
    *,
    agent: Agent,
    original: Message,
    server_id: uuid.UUID,
    message_id: uuid.UUID | None,
    content: str,
    raw_message: dict[str, Any],
    metadata: dict[str, Any],
) -> Message:
    """Stores the reply an agent hosted outside submits (``POST /submit``) to ``original``,
    settling the original for that agent in the same transaction, so the agent answers a
    message once however many of its instances answer it. ``message_id`` (the reply id the
    agent chose) makes a retry idempotent: the same reply again is answered with the stored
    one. Any other reply to a message the agent has settled is refused (``AlreadyAnswered``).
    The reply carries the hop count (``agentHops``) the bus agents give theirs."""
    if message_id is not None:
        stored = Message.objects.filter(id=message_id, author_id=agent.entity_id).first()
        if stored is not None and stored.in_reply_to_id == original.id:
            return stored
    event = message_event(original, server_id=server_id)
    reply_id_chosen = message_id or uuid.uuid4()
    settled = agent_message_settle(
        agent_id=agent.entity_id,
        agent_name=agent.name,
        message=event,
        reply=AgentReply(
            content=content,
            raw_message=raw_message,
            metadata={**metadata, "agentHops": agent_hops(event) + 1},
        ),
        # Its run is timed from the message's arrival: the instance's own start is not known.
        started_at=original.created_at,
        reply_message_id=reply_id_chosen,
        announce_complete=False,
    )
    if not settled:
        raise AlreadyAnswered()
    return Message.objects.get(id=reply_id_chosen)


def _run_record(
    *,
    agent_id: uuid.UUID,
    message: NewMessage,
    started_at: dt.datetime | None,
    reply_id: uuid.UUID | None,
    error: str,
    skip_reason: str,
) -> AgentRun:
    """The run of a settled message: a part of the settling's transaction, never alone."""
    ended_at = timezone.now()
    started_at = min(started_at or ended_at, ended_at)
    if reply_id is not None:
        outcome, skip_reason, error = RunOutcome.REPLIED, "", ""
    elif error:
        outcome, skip_reason = RunOutcome.FAILED, ""
    else:
        outcome, skip_reason = RunOutcome.SKIPPED, skip_reason or RunSkip.SILENT
    return AgentRun.objects.create(
        agent_id=agent_id,
        message_id=message.id,
        channel_id=message.channel_id,
        server_id=message.message_server_id,
        author_id=message.author_id,
        source_type=(message.source_type or "")[:100],
        outcome=outcome,
        skip_reason=skip_reason,
        error=error[:2000],
        reply_id=reply_id,
        started_at=started_at,
        ended_at=ended_at,
        duration_ms=int((ended_at - started_at).total_seconds() * 1000),
    )


def message_error_report(
    *, message_id: str, channel_id: str, agent_id: uuid.UUID, error: str
) -> None:
    """Announces that an agent failed on a message (``message:error``)."""
    publish(
        MessageError(
            message_id=message_id, channel_id=channel_id, agent_id=str(agent_id), error=error[:500]
        )
    )


TITLE_MIN_MESSAGES = 4
TITLE_CONTEXT_MESSAGES = 20


def agent_channel_title(*, agent_id: uuid.UUID, channel_id: uuid.UUID) -> tuple[str | None, str]:
    """A title for a channel's conversation, in the words of an enabled agent's responder
    (``POST /channels/:id/generate-title``), and why there is none when there is none.
    Writes nothing: the client decides whether to rename the channel."""
    agent = Agent.objects.filter(entity_id=agent_id, enabled=True).first()
    if agent is None:
        raise AgentNotFound("Agent not found or not active")
    if not Channel.objects.filter(id=channel_id).exists():
        raise ChannelNotFound()
    recent = list(selectors.message_list(channel_id=channel_id, limit=TITLE_CONTEXT_MESSAGES))
    if len(recent) < TITLE_MIN_MESSAGES:
        return None, "Not enough messages to generate a title"
    conversation = chat_turns(recent)
    try:
        responder = load_responder(agent.responder, agent.responder_options)
        try:
            title = responder.title(conversation)
        finally:
            responder.close()
    except ResponderError as exc:
        raise TitleFailed(str(exc)) from exc
    return title, "" if title else "The agent offered no title"
