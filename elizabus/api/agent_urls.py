"""Routes of ``/api/agents/``; an agent's memories and rooms are :mod:`.memory_urls`'."""

from __future__ import annotations

from django.urls import include, path

from .memory_urls import agent_memory_patterns
from .views import agents, logs, runs

urlpatterns = [
    path("agents", agents.AgentsApi.as_view()),
    # Before ``agents/<agent_id>``, which "worlds" would otherwise be.
    path("agents/worlds", agents.AgentWorldsApi.as_view()),
    path("agents/<str:agent_id>", agents.AgentApi.as_view()),
    path("agents/<str:agent_id>/start", agents.AgentStartApi.as_view()),
    path("agents/<str:agent_id>/stop", agents.AgentStopApi.as_view()),
    path("agents/<str:agent_id>/panels", agents.AgentPanelsApi.as_view()),
    path("agents/<str:agent_id>/logs", logs.AgentLogsApi.as_view()),
    path("agents/<str:agent_id>/runs", runs.AgentRunsApi.as_view()),
    path("agents/<str:agent_id>/runs/<str:run_id>", runs.AgentRunApi.as_view()),
    path("agents/", include(agent_memory_patterns)),
]
