"""How rows look on the wire: the reference's camelCase shapes (SPEC B5, B10)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from elizabus.models import Agent, AgentRun, Channel, Memory, MessageServer, RunOutcome, RunSkip


def iso(moment: dt.datetime) -> str:
    """As JavaScript's ``Date.toISOString()``: milliseconds and a ``Z``."""
    if moment.utcoffset() != dt.timedelta(0):
        moment = moment.astimezone(dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def _without_unset(data: dict[str, Any], *optional: str) -> dict[str, Any]:
    """Leaves out the ``optional`` keys that have no value, as the reference does (JSON has no
    ``undefined``): a client testing ``"sourceId" in channel`` sees the same answer from both."""
    for key in optional:
        if data.get(key, 0) is None:
            del data[key]
    return data


def server_data(server: MessageServer) -> dict[str, Any]:
    data = {
        "id": str(server.id),
        "name": server.name,
        "sourceType": server.source_type,
        "sourceId": server.source_id or None,
        "metadata": server.metadata,
        "createdAt": iso(server.created_at),
        "updatedAt": iso(server.updated_at),
    }
    return _without_unset(data, "sourceId")


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
    return _without_unset(data, "sourceType", "sourceId", "topic")


def message_data(row: Mapping[str, Any], *, listing: bool = True) -> dict[str, Any]:
    """A message row (:data:`elizabus.db.rows.MESSAGE_COLUMNS`) as ``CentralRootMessage`` plus
    ``created_at``/``updated_at`` in ms. In a ``listing``, ``metadata`` also gains the
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
    }
    return _without_unset(data, "rawMessage", "sourceType", "sourceId")


def agent_data(agent: Agent) -> dict[str, Any]:
    """The agent, its character's fields at the top as the reference's agent row has them
    (the elizaOS UI's settings form reads ``bio``, ``system``, ``settings`` there), and the
    whole character under ``character`` too."""
    character = {
        **agent.character,
        "id": str(agent.entity_id),
        "name": agent.name,
        "bio": agent.character.get("bio", agent.bio),
    }
    return {
        **character,
        "id": str(agent.entity_id),
        "name": agent.name,
        "enabled": agent.enabled,
        "status": "active" if agent.enabled else "inactive",
        "responder": agent.responder,
        "character": character,
        "createdAt": iso(agent.created_at),
        "updatedAt": iso(agent.updated_at),
    }


def memory_data(memory: Memory) -> dict[str, Any]:
    """As an elizaOS ``Memory``: ``roomId`` is the channel, ``entityId`` the author."""
    return {
        "id": str(memory.id),
        "agentId": str(memory.agent_id),
        "entityId": str(memory.author_id),
        "roomId": str(memory.channel_id),
        "channelId": str(memory.channel_id),
        "messageServerId": str(memory.server_id),
        "messageId": str(memory.message_id),
        "content": memory.content,
        "metadata": memory.metadata,
        "createdAt": epoch_ms(memory.created_at),
    }


def room_data(channel: Channel, agent_id: uuid.UUID) -> dict[str, Any]:
    """A channel as an agent's elizaOS ``Room``: in elizabus the room is the channel itself, so
    ``id`` and ``channelId`` are one id, and its world is its message server."""
    return {
        "id": str(channel.id),
        "name": channel.name,
        "agentId": str(agent_id),
        "source": channel.source_type or "central-bus",
        "type": channel.type,
        "channelId": str(channel.id),
        "messageServerId": str(channel.server_id),
        "worldId": str(channel.server_id),
        "metadata": channel.metadata,
        "createdAt": iso(channel.created_at),
        "updatedAt": iso(channel.updated_at),
    }


def world_data(server: MessageServer, agent_id: uuid.UUID) -> dict[str, Any]:
    """A message server as an agent's elizaOS ``World``."""
    return {
        "id": str(server.id),
        "name": server.name,
        "agentId": str(agent_id),
        "messageServerId": str(server.id),
        "metadata": server.metadata,
    }


# An outcome in the reference's run statuses: a message handled without failing "completed".
RUN_STATUS = {
    RunOutcome.REPLIED: "completed",
    RunOutcome.SKIPPED: "completed",
    RunOutcome.FAILED: "error",
}


def run_summary(run: AgentRun) -> dict[str, Any]:
    """A run as the reference's ``RunSummary``; ``metadata`` says what came of it."""
    asked = run.skip_reason != RunSkip.HOP_LIMIT
    failed = run.outcome == RunOutcome.FAILED
    metadata: dict[str, Any] = {
        "outcome": run.outcome,
        "messageServerId": str(run.server_id),
        "source": run.source_type,
    }
    if run.skip_reason:
        metadata["skipReason"] = run.skip_reason
    if run.reply_id is not None:
        metadata["replyId"] = str(run.reply_id)
    if run.error:
        metadata["error"] = run.error
    return {
        "runId": str(run.id),
        "status": RUN_STATUS[run.outcome],
        "startedAt": epoch_ms(run.started_at),
        "endedAt": epoch_ms(run.ended_at),
        "durationMs": run.duration_ms,
        "messageId": str(run.message_id),
        "roomId": str(run.channel_id),
        "entityId": str(run.author_id),
        # A responder's answer is the model call of an elizaOS run.
        "counts": {
            "actions": 0,
            "modelCalls": 1 if asked else 0,
            "errors": 1 if failed else 0,
            "evaluators": 0,
        },
        "metadata": metadata,
    }


def run_detail(run: AgentRun) -> dict[str, Any]:
    """A run as the reference's ``RunDetail``: its summary and its start and end events."""
    summary = run_summary(run)
    events = [
        {
            "type": "RUN_STARTED",
            "timestamp": summary["startedAt"],
            "data": {"source": run.source_type, "messageId": summary["messageId"]},
        },
        {
            "type": "RUN_ENDED",
            "timestamp": summary["endedAt"],
            "data": {
                "status": summary["status"],
                "error": run.error or None,
                "durationMs": run.duration_ms,
            },
        },
    ]
    return {"summary": summary, "events": events}
