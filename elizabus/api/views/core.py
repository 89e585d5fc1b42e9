"""The core router, as the reference's: agent replies, action badges, external ingestion,
completion."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from elizabus import access, selectors, services
from elizabus.api.envelope import ok, validated, with_server_alias
from elizabus.api.fields import parse_uuid
from elizabus.api.representations.channels import message_data
from elizabus.api.serializers.core import ActionUpdateIn, CompleteIn, IngestExternalIn, SubmitIn
from elizabus.api.views.base import ENVELOPE, OWN, ApiView, actor_of, with_actor_default
from elizabus.models import Message


def _as_author(request: Request, data: dict[str, Any]) -> None:
    """With data isolation: the author is the token's entity, posting where it participates."""
    actor = actor_of(request)
    data["author_id"] = access.act_as(actor, data["author_id"])
    access.require_participant(actor, data["channel_id"])


def _store_submitted(request: Request) -> Response:
    data = validated(
        SubmitIn, with_actor_default(request, with_server_alias(request.data), "author_id")
    )
    _as_author(request, data)
    metadata = data.get("metadata") or {}
    message = _hosted_reply(data, metadata) or services.message_create(
        channel_id=data["channel_id"],
        server_id=data["message_server_id"],
        author_id=data["author_id"],
        content=data["content"],
        message_id=data.get("messageId"),
        raw_message=data["raw_message"],
        metadata=metadata,
        in_reply_to_message_id=data.get("in_reply_to_message_id"),
        source_type=data["source_type"],
        author_display_name=str(metadata.get("agentName") or ""),
    )
    return ok(message_data(selectors.message_row(message), listing=False), status.HTTP_201_CREATED)


def _hosted_reply(data: dict[str, Any], metadata: dict[str, Any]) -> Message | None:
    """The reply of an agent hosted outside to a stored message, settled once per agent and
    message (docs/agents.md, "The agent wire"); None for any other submission."""
    original_id = data.get("in_reply_to_message_id")
    if data["source_type"] != "agent_response" or original_id is None:
        return None
    agent = selectors.agent_get(data["author_id"])
    if agent is None or not agent.hosted_outside:
        return None
    original = selectors.message_in_channel(channel_id=data["channel_id"], message_id=original_id)
    if original is None:
        return None
    return services.agent_reply_submit(
        agent=agent,
        original=original,
        server_id=data["message_server_id"],
        message_id=data.get("messageId"),
        content=data["content"],
        raw_message=data["raw_message"],
        metadata=metadata,
    )


class SubmitApi(ApiView):
    """``POST /submit``: an agent's reply. Unlike the reference it also goes on the bus."""

    access = {"POST": OWN}

    @extend_schema(request=SubmitIn, responses={201: ENVELOPE})
    def post(self, request: Request) -> Response:
        return _store_submitted(request)


class ActionCreateApi(ApiView):
    """``POST /action``: an action badge, stored and broadcast like a message."""

    access = {"POST": OWN}

    @extend_schema(request=SubmitIn, responses={201: ENVELOPE})
    def post(self, request: Request) -> Response:
        return _store_submitted(request)


class ActionUpdateApi(ApiView):
    """``PATCH /action/:id``: merge the given fields into an action badge and re-broadcast it."""

    access = {"PATCH": OWN}

    @extend_schema(request=ActionUpdateIn, responses={200: ENVELOPE})
    def patch(self, request: Request, message_id: str) -> Response:
        message_uuid = parse_uuid(message_id, "message id")
        data = validated(ActionUpdateIn, request.data)
        actor = actor_of(request)
        access.act_as(actor, data.get("author_id"))
        access.require_author(actor, message_uuid)
        message = services.message_update(
            message_id=message_uuid,
            content=data.get("content"),
            raw_message=data.get("raw_message"),
            metadata=data.get("metadata"),
            source_type=data.get("source_type"),
            in_reply_to_message_id=data.get("in_reply_to_message_id"),
            author_id=data.get("author_id"),
        )
        return ok(message_data(selectors.message_row(message), listing=False))


class IngestExternalApi(ApiView):
    """``POST /ingest-external``: a connector's message (Discord, Telegram, ...)."""

    access = {"POST": OWN}

    @extend_schema(request=IngestExternalIn, responses={202: ENVELOPE})
    def post(self, request: Request) -> Response:
        body = with_actor_default(request, with_server_alias(request.data), "author_id")
        data = validated(IngestExternalIn, body)
        _as_author(request, data)
        message = services.message_create(
            channel_id=data["channel_id"],
            server_id=data["message_server_id"],
            author_id=data["author_id"],
            content=data["content"],
            raw_message=data.get("raw_message"),
            metadata=data.get("metadata") or {},
            in_reply_to_message_id=data.get("in_reply_to_message_id"),
            source_type=data.get("source_type") or "external",
            source_id=data.get("source_id") or "",
            author_display_name=data.get("author_display_name") or "",
        )
        return ok(
            {"messageId": str(message.id)},
            status.HTTP_202_ACCEPTED,
            message="Message ingested and published to bus",
        )


class CompleteApi(ApiView):
    """``POST /complete``: an agent is done with a message; ends the client's "thinking" state."""

    access = {"POST": OWN}

    @extend_schema(request=CompleteIn, responses={200: ENVELOPE})
    def post(self, request: Request) -> Response:
        data = validated(CompleteIn, with_server_alias(request.data))
        access.require_participant(actor_of(request), data["channel_id"])
        services.message_complete_announce(
            channel_id=data["channel_id"], server_id=data["message_server_id"]
        )
        return Response({"success": True, "message": "Completion event emitted"})
