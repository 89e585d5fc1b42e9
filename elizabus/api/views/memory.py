"""Agents' memories and rooms (``/api/memory/...``, also under ``/api/agents/...`` as in the
reference, whose agents router mounts the same routes).

An elizaOS agent keeps its own rooms and worlds, mapped from the central channels and servers;
an elizabus agent's room *is* the channel and its world the message server, so ``roomId`` is a
channel id throughout. Memories are elizabus's ``Memory`` rows, one per message an agent saw or
wrote; what elizabus has no rows for (embeddings, tables other than ``messages``, an agent's
internal perspective room) answers an empty list.
"""

from __future__ import annotations

import datetime as dt

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from elizabus import selectors, services
from elizabus.api.envelope import no_content, ok, validated
from elizabus.api.fields import parse_uuid
from elizabus.api.representations.memory import memory_data, room_data
from elizabus.api.serializers.memory import (
    GroupCreateIn,
    MemoryListQuery,
    MemoryUpdateIn,
    RoomCreateIn,
)
from elizabus.api.views.base import AGENT, ENVELOPE, NO_CONTENT, ApiView, agent_or_404
from elizabus.exceptions import RoomNotFound
from elizabus.js import epoch_ms
from elizabus.models import DEFAULT_SERVER_ID, ChannelType

MEMORY_QUERY = [
    OpenApiParameter("limit", int, description="1-500, default 50"),
    OpenApiParameter("before", int, description="epoch ms, exclusive"),
    OpenApiParameter("channelId", str, description="only this channel's (agent memories)"),
    OpenApiParameter("roomId", str, description="the same, by room id (a channel id here)"),
    OpenApiParameter("tableName", str, description="`messages` (the default) or nothing"),
]
MESSAGE_TABLE = "messages"


class AgentMemoriesApi(ApiView):
    """``GET /:agentId/memories`` and ``…/rooms/:roomId/memories``, newest first;
    ``DELETE /:agentId/memories`` forgets them all."""

    access = {"GET": AGENT, "DELETE": AGENT}

    @extend_schema(parameters=MEMORY_QUERY, responses={200: ENVELOPE})
    def get(self, request: Request, agent_id: str, room_id: str | None = None) -> Response:
        agent = agent_or_404(agent_id)
        query = validated(MemoryListQuery, request.query_params.dict())
        channel_id = (
            parse_uuid(room_id, "roomId")
            if room_id is not None
            else query.get("channelId") or query.get("roomId")
        )
        if query.get("tableName", MESSAGE_TABLE) != MESSAGE_TABLE:
            return ok({"memories": []})
        before = query.get("before")
        memories = selectors.memory_list(
            agent_id=agent.entity_id,
            channel_id=channel_id,
            limit=query["limit"],
            before=dt.datetime.fromtimestamp(before / 1000, dt.UTC) if before is not None else None,
        )
        return ok({"memories": [memory_data(memory) for memory in memories]})

    @extend_schema(responses={200: ENVELOPE})
    def delete(self, request: Request, agent_id: str) -> Response:
        agent = agent_or_404(agent_id)
        deleted = services.memory_clear(agent_id=agent.entity_id)
        return ok({"deleted": deleted, "message": "All agent memories cleared successfully"})


class AgentMemoryApi(ApiView):
    """``PATCH|DELETE /:agentId/memories/:memoryId``."""

    access = {"PATCH": AGENT, "DELETE": AGENT}

    @extend_schema(request=MemoryUpdateIn, responses={200: ENVELOPE})
    def patch(self, request: Request, agent_id: str, memory_id: str) -> Response:
        memory_uuid = parse_uuid(memory_id, "memoryId")
        agent = agent_or_404(agent_id)
        data = validated(MemoryUpdateIn, request.data)
        memory = services.memory_update(
            agent_id=agent.entity_id,
            memory_id=memory_uuid,
            content=data.get("content"),
            metadata=data.get("metadata"),
        )
        # The reference answers {id, message}; the SDK expects the memory: both, in one.
        return ok({**memory_data(memory), "message": "Memory updated successfully"})

    @extend_schema(responses={200: ENVELOPE})
    def delete(self, request: Request, agent_id: str, memory_id: str) -> Response:
        memory_uuid = parse_uuid(memory_id, "memoryId")
        agent = agent_or_404(agent_id)
        services.memory_delete(agent_id=agent.entity_id, memory_id=memory_uuid)
        return ok({"message": "Memory deleted successfully"})


class RoomMemoriesClearApi(ApiView):
    """``DELETE /:agentId/memories/all/:roomId``: the agent forgets one channel."""

    access = {"DELETE": AGENT}

    @extend_schema(responses={204: NO_CONTENT})
    def delete(self, request: Request, agent_id: str, room_id: str) -> Response:
        channel_id = parse_uuid(room_id, "roomId")
        agent = agent_or_404(agent_id)
        services.memory_forget_channel(agent_id=agent.entity_id, channel_id=channel_id)
        return no_content()


class AgentRoomsApi(ApiView):
    """``GET /:agentId/rooms``: the channels the agent sits in; ``POST`` creates one with the
    agent in it."""

    access = {"GET": AGENT, "POST": AGENT}

    @extend_schema(responses={200: ENVELOPE})
    def get(self, request: Request, agent_id: str) -> Response:
        agent = agent_or_404(agent_id)
        rooms = selectors.agent_rooms(agent.entity_id)
        return ok({"rooms": [room_data(room, agent.entity_id) for room in rooms]})

    @extend_schema(request=RoomCreateIn, responses={201: ENVELOPE})
    def post(self, request: Request, agent_id: str) -> Response:
        agent = agent_or_404(agent_id)
        data = validated(RoomCreateIn, request.data)
        # A world is a message server here, so either id names the server.
        server_id = data.get("messageServerId") or data.get("worldId") or DEFAULT_SERVER_ID
        channel = services.channel_create(
            server_id=server_id,
            name=data["name"],
            type=data["type"],
            participant_ids=[agent.entity_id],
            metadata=data.get("metadata"),
            source_type=data["source"],
        )
        body = {
            **room_data(channel, agent.entity_id),
            "createdAt": epoch_ms(channel.created_at),
        }
        return ok(body, status.HTTP_201_CREATED)


class AgentRoomApi(ApiView):
    """``GET /:agentId/rooms/:roomId``: one of the agent's rooms, with its world's name."""

    access = {"GET": AGENT}

    @extend_schema(responses={200: ENVELOPE})
    def get(self, request: Request, agent_id: str, room_id: str) -> Response:
        channel_id = parse_uuid(room_id, "roomId")
        agent = agent_or_404(agent_id)
        room = selectors.agent_room(agent_id=agent.entity_id, channel_id=channel_id)
        if room is None:
            raise RoomNotFound()
        return ok({**room_data(room, agent.entity_id), "worldName": room.server.name})


class GroupApi(ApiView):
    """``POST /groups/:messageServerId`` opens a group channel on a server for the agents
    given; ``DELETE`` (and ``DELETE …/memories``) makes every agent forget the server, an
    elizaOS world: its channels stay, since they are the server's, not the agents'."""

    @extend_schema(request=GroupCreateIn, responses={201: ENVELOPE})
    def post(self, request: Request, server_id: str) -> Response:
        server_uuid = parse_uuid(server_id, "messageServerId")
        data = validated(GroupCreateIn, request.data)
        agent_ids = list(dict.fromkeys(data["agentIds"]))
        for agent_id in agent_ids:
            agent_or_404(str(agent_id))
        name = data.get("name") or "Group chat"
        # One channel for all of them: an elizabus room is shared, not one per agent.
        channel = services.channel_create(
            server_id=server_uuid,
            name=name,
            type=ChannelType.API,
            participant_ids=agent_ids,
            metadata=data.get("metadata"),
            source_type=data["source"],
        )
        rooms = [
            {
                "id": str(channel.id),
                "name": name,
                "source": data["source"],
                "worldId": str(server_uuid),
                "type": ChannelType.API.value,
                "agentId": str(agent_id),
            }
            for agent_id in agent_ids
        ]
        return ok(rooms, status.HTTP_201_CREATED)

    @extend_schema(responses={204: NO_CONTENT})
    def delete(self, request: Request, server_id: str) -> Response:
        services.memory_forget_server(server_id=parse_uuid(server_id, "messageServerId"))
        return no_content()
