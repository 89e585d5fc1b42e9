"""Routes of ``/api/agents/``."""

from __future__ import annotations

from django.urls import path

from .views import agents

urlpatterns = [
    path("agents", agents.AgentsApi.as_view()),
    path("agents/<str:agent_id>", agents.AgentApi.as_view()),
    path("agents/<str:agent_id>/start", agents.AgentStartApi.as_view()),
    path("agents/<str:agent_id>/stop", agents.AgentStopApi.as_view()),
    path("agents/<str:agent_id>/memories", agents.AgentMemoriesApi.as_view()),
    path("agents/<str:agent_id>/rooms/<str:room_id>/memories", agents.AgentMemoriesApi.as_view()),
]
