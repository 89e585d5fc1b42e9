"""The channels router, as the reference's: channels, their messages and their participants."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from elizabus import access, selectors, services
from elizabus.api.envelope import no_content, ok, validated, with_server_alias
from elizabus.api.errors import error_response
from elizabus.api.exchange import AgentExchange, agent_answer_waiter, parse_transport
from elizabus.api.fields import parse_uuid
from elizabus.api.pages import message_wire_cache
from elizabus.api.parsing import json_object, request_schema
from elizabus.api.renderers import json_response
from elizabus.api.representations.channels import channel_data
from elizabus.api.serializers.channels import (
    AgentIdIn,
    ChannelCreateIn,
    ChannelMessageIn,
    ChannelUpdateIn,
    DmChannelQuery,
    MessageListQuery,
)
from elizabus.api.throttling import MAKES
from elizabus.api.views.base import (
    CHANNEL,
    ENVELOPE,
    MANAGE,
    MESSAGE,
    NO_CONTENT,
    OWN,
    ApiView,
    actor_of,
    channel_or_404,
    enforce_access,
    server_or_404,
    with_actor_default,
)
from elizabus.exceptions import NotYourself
from elizabus.models import DEFAULT_SERVER_ID


class ChannelMessagesApi(ApiView):
    """``/channels/:id/messages``: post (GET lists newest first, DELETE clears the channel)."""

    access = {"GET": CHANNEL, "POST": OWN, "DELETE": MANAGE}

    @extend_schema(
        parameters=[
            OpenApiParameter("limit", int, description="1-500, default 50"),
            OpenApiParameter("before", int, description="epoch ms, exclusive"),
        ],
        responses={200: ENVELOPE},
    )
    def get(self, request: Request, channel_id: str) -> Response:
        channel_uuid = parse_uuid(channel_id, "channelId")
        query = validated(MessageListQuery, request.query_params.dict())
        before = query.get("before")
        messages = message_wire_cache.page(
            channel_uuid,
            limit=query["limit"],
            before=dt.datetime.fromtimestamp(before / 1000, dt.UTC) if before is not None else None,
        )
        return ok({"messages": messages})

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """A post skips DRF's request and response (parsing, negotiation, serializer,
        rendering): a busy server answers mostly posts, and that machinery was a large part of
        a post's CPU (bench/README.md). Its throttle, errors and OpenAPI description are DRF's
        still; GET and DELETE go through DRF as on every other route."""
        if request.method != "POST":
            return super().dispatch(request, *args, **kwargs)
        try:
            # DRF's stubs ask for its Request; the throttles read only what HttpRequest has.
            self.check_throttles(request)  # type: ignore[arg-type]
            enforce_access(self, request, kwargs)
            return self.post(request, *args, **kwargs)
        except Exception as exc:
            return error_response(exc)

    @extend_schema(
        request={"application/json": request_schema(ChannelMessageIn)}, responses={201: ENVELOPE}
    )
    def post(self, request: HttpRequest, channel_id: str) -> HttpResponse:
        channel_uuid = parse_uuid(channel_id, "channelId")
        body = with_actor_default(request, with_server_alias(json_object(request)), "author_id")
        data = ChannelMessageIn.from_body(body)
        actor = actor_of(request)
        access.act_as(actor, uuid.UUID(data.author_id))
        access.require_participant(actor, channel_uuid)
        transport = parse_transport(body)
        metadata = data.metadata or {}
        message_id = uuid.uuid4()
        waiter = None
        if transport != "websocket":
            # Opened before the message is stored, so the agent's answer cannot slip past.
            waiter = agent_answer_waiter(message_id=message_id)
        try:
            posted, agent_id = services.channel_message_post(
                channel_id=channel_uuid,
                server_id=uuid.UUID(data.message_server_id),
                author_id=uuid.UUID(data.author_id),
                content=data.content,
                metadata=metadata,
                needs_agent=waiter is not None,
                message_id=message_id,
                raw_message=data.raw_message,
                in_reply_to_message_id=(
                    uuid.UUID(data.in_reply_to_message_id) if data.in_reply_to_message_id else None
                ),
                source_type=data.source_type or "eliza_gui",
                author_display_name=str(metadata.get("user_display_name") or ""),
            )
        except Exception:
            if waiter is not None:
                waiter.close()
            raise
        user_message = posted.payload()
        response = json_response(
            {"success": True, "userMessage": user_message, "data": user_message},
            status=status.HTTP_201_CREATED,
        )
        if waiter is not None and agent_id is not None:
            # An attribute of the response, read by the exchange (api/exchange.py).
            response.agent_exchange = AgentExchange(  # type: ignore[attr-defined]
                waiter=waiter, transport=transport, user_message=user_message, agent_id=agent_id
            )
        return response

    @extend_schema(responses={204: NO_CONTENT})
    def delete(self, request: Request, channel_id: str) -> Response:
        services.channel_clear(channel_id=parse_uuid(channel_id, "channelId"))
        return no_content()


class ChannelMessageApi(ApiView):
    """``DELETE /channels/:id/messages/:messageId``."""

    access = {"DELETE": MESSAGE}

    @extend_schema(responses={204: NO_CONTENT})
    def delete(self, request: Request, channel_id: str, message_id: str) -> Response:
        services.message_delete(
            channel_id=parse_uuid(channel_id, "channelId"),
            message_id=parse_uuid(message_id, "messageId"),
        )
        return no_content()


class ServerChannelsApi(ApiView):
    """``GET /message-servers/:id/channels`` (alias ``/central-servers/:id/channels``)."""

    access = {"GET": OWN}

    @extend_schema(responses={200: ENVELOPE})
    def get(self, request: Request, server_id: str) -> Response:
        channels = selectors.channel_list(server_or_404(server_id).id)
        visible = access.visible_channel_ids(actor_of(request))
        if visible is not None:
            channels = channels.filter(id__in=visible)
        return ok({"channels": [channel_data(channel) for channel in channels]})


class DmChannelApi(ApiView):
    """``GET /dm-channel?currentUserId&targetUserId[&dmServerId]``: find or create, symmetric."""

    access = {"GET": OWN}

    @extend_schema(
        parameters=[
            OpenApiParameter("currentUserId", uuid.UUID, required=True),
            OpenApiParameter("targetUserId", uuid.UUID, required=True),
            OpenApiParameter("dmServerId", uuid.UUID),
        ],
        responses={200: ENVELOPE},
    )
    def get(self, request: Request) -> Response:
        query = validated(
            DmChannelQuery,
            with_actor_default(request, request.query_params.dict(), "currentUserId"),
        )
        access.act_as(actor_of(request), query["currentUserId"])
        server_id = query.get("dmServerId")
        if server_id is None or selectors.server_get(server_id) is None:
            # The reference falls back to the current server, silently, for an unknown id.
            server_id = DEFAULT_SERVER_ID
        channel, _ = services.dm_channel_get_or_create(
            user_id=query["currentUserId"], target_id=query["targetUserId"], server_id=server_id
        )
        return ok(channel_data(channel))


class ChannelCreateApi(ApiView):
    """``POST /channels`` (alias ``POST /central-channels``): a group channel."""

    throttle_classes = MAKES

    access = {"POST": OWN}

    @extend_schema(request=ChannelCreateIn, responses={201: ENVELOPE})
    def post(self, request: Request) -> Response:
        data = validated(ChannelCreateIn, with_server_alias(request.data))
        actor = actor_of(request)
        if not actor.operator and actor.entity_id not in data["participantCentralUserIds"]:
            raise NotYourself("A channel's creator must be among its participants")
        channel = services.channel_create(
            creator_id=actor.entity_id,
            server_id=data["message_server_id"],
            name=data["name"],
            type=data.get("type") or "GROUP",
            participant_ids=data["participantCentralUserIds"],
            metadata=data.get("metadata") or {},
            topic=data.get("topic") or "",
        )
        return ok(channel_data(channel), status.HTTP_201_CREATED)


class ChannelApi(ApiView):
    """``PATCH /channels/:id`` and ``DELETE /channels/:id``."""

    access = {"PATCH": MANAGE, "DELETE": MANAGE}

    @extend_schema(request=ChannelUpdateIn, responses={200: ENVELOPE})
    def patch(self, request: Request, channel_id: str) -> Response:
        channel_uuid = parse_uuid(channel_id, "channelId")
        data = validated(ChannelUpdateIn, request.data)
        channel = services.channel_update(
            channel_id=channel_uuid,
            name=data.get("name"),
            participant_ids=data.get("participantCentralUserIds"),
            metadata=data.get("metadata"),
            topic=data.get("topic"),
        )
        return ok(channel_data(channel))

    @extend_schema(responses={204: NO_CONTENT})
    def delete(self, request: Request, channel_id: str) -> Response:
        services.channel_delete(channel_id=parse_uuid(channel_id, "channelId"))
        return no_content()


class ChannelDetailsApi(ApiView):
    """``GET /channels/:id/details``."""

    access = {"GET": CHANNEL}

    @extend_schema(responses={200: ENVELOPE})
    def get(self, request: Request, channel_id: str) -> Response:
        return ok(channel_data(channel_or_404(channel_id)))


class ChannelParticipantsApi(ApiView):
    """``GET /channels/:id/participants``: a bare array of entity ids (agents read this)."""

    access = {"GET": CHANNEL}

    @extend_schema(responses={200: ENVELOPE})
    def get(self, request: Request, channel_id: str) -> Response:
        channel = channel_or_404(channel_id)
        return ok([str(entity_id) for entity_id in selectors.channel_participants(channel.id)])


class ChannelAgentsApi(ApiView):
    """``GET /channels/:id/agents`` lists participants; ``POST`` adds one (idempotent)."""

    access = {"GET": CHANNEL, "POST": MANAGE}

    @extend_schema(responses={200: ENVELOPE})
    def get(self, request: Request, channel_id: str) -> Response:
        channel = channel_or_404(channel_id)
        participants = [str(entity_id) for entity_id in selectors.channel_participants(channel.id)]
        return ok({"channelId": str(channel.id), "participants": participants})

    @extend_schema(request=AgentIdIn, responses={201: ENVELOPE})
    def post(self, request: Request, channel_id: str) -> Response:
        channel_uuid = parse_uuid(channel_id, "channelId")
        agent_id = validated(AgentIdIn, request.data)["agentId"]
        services.channel_participant_add(channel_id=channel_uuid, entity_id=agent_id)
        return ok(
            {
                "channelId": str(channel_uuid),
                "agentId": str(agent_id),
                "message": "Agent added to channel successfully",
            },
            status.HTTP_201_CREATED,
        )


class ChannelAgentApi(ApiView):
    """``DELETE /channels/:id/agents/:agentId``."""

    access = {"DELETE": MANAGE}

    @extend_schema(responses={200: ENVELOPE})
    def delete(self, request: Request, channel_id: str, agent_id: str) -> Response:
        channel_uuid = parse_uuid(channel_id, "channelId")
        agent_uuid = parse_uuid(agent_id, "agentId")
        services.channel_participant_remove(channel_id=channel_uuid, entity_id=agent_uuid)
        return ok(
            {
                "channelId": str(channel_uuid),
                "agentId": str(agent_uuid),
                "message": "Agent removed from channel successfully",
            }
        )


class ChannelGenerateTitleApi(ApiView):
    """``POST /channels/:id/generate-title {agentId}``: a title in the agent's words."""

    access = {"POST": CHANNEL}

    @extend_schema(request=AgentIdIn, responses={200: ENVELOPE})
    def post(self, request: Request, channel_id: str) -> Response:
        channel_uuid = parse_uuid(channel_id, "channelId")
        agent_id = validated(AgentIdIn, request.data)["agentId"]
        title, reason = services.agent_channel_title(agent_id=agent_id, channel_id=channel_uuid)
        if title is None:
            return ok({"title": None, "channelId": str(channel_uuid), "reason": reason})
        return ok({"title": title, "channelId": str(channel_uuid)})
