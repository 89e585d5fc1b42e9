"""Routes of ``/api/memory/``: agents' memories and rooms, and groups (message servers).

:data:`agent_memory_patterns` are mounted under ``/api/agents/`` too, as in the reference."""

from __future__ import annotations

from django.urls import path

from .views import memory

agent_memory_patterns = [
    path("<str:agent_id>/memories", memory.AgentMemoriesApi.as_view()),
    path("<str:agent_id>/memories/all/<str:room_id>", memory.RoomMemoriesClearApi.as_view()),
    path("<str:agent_id>/memories/<str:memory_id>", memory.AgentMemoryApi.as_view()),
    path("<str:agent_id>/rooms", memory.AgentRoomsApi.as_view()),
    path("<str:agent_id>/rooms/<str:room_id>", memory.AgentRoomApi.as_view()),
    path(
        "<str:agent_id>/rooms/<str:room_id>/memories",
        memory.AgentMemoriesApi.as_view(http_method_names=["get", "options"]),
    ),
]

urlpatterns = [
    path("groups/<str:server_id>", memory.GroupApi.as_view()),
    path(
        "groups/<str:server_id>/memories",
        memory.GroupApi.as_view(http_method_names=["delete", "options"]),
    ),
    *agent_memory_patterns,
]
