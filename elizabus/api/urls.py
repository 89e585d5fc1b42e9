"""Every route the API serves, in one place: a headed group per view module, mounted at the site
root by ``project/urls.py``. Each deprecated alias stands beside its route.

Django tries the patterns in turn, so the hot route (message posts and page reads, run in
batches) comes first, and a route comes before the pattern it would otherwise be taken for.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from .batched import batched
from .errors import api_not_found
from .views import (
    agents,
    auth,
    channels,
    core,
    jobs,
    logs,
    media,
    memory,
    runs,
    runtime,
    servers,
    sessions,
    system,
)

CHANNEL_PREFIXES = ("channels", "central-channels")

# --- views/channels.py: the hot route ----------------------------------------------------------
channel_messages = batched(channels.ChannelMessagesApi.as_view())
hot_patterns = [
    path(f"{prefix}/<str:channel_id>/messages", channel_messages) for prefix in CHANNEL_PREFIXES
]

# --- views/core.py ------------------------------------------------------------------------------
core_patterns = [
    path("submit", core.SubmitApi.as_view()),
    path("action", core.ActionCreateApi.as_view()),
    path("action/<str:message_id>", core.ActionUpdateApi.as_view()),
    path("ingest-external", core.IngestExternalApi.as_view()),
    path("complete", core.CompleteApi.as_view()),
]

# --- views/servers.py ---------------------------------------------------------------------------
server_patterns = [
    path("message-server/current", servers.CurrentServerApi.as_view()),
    path("message-servers", servers.ServersApi.as_view()),
    # The aliases do one thing each in the reference: ``POST /servers``, ``GET /central-servers``.
    path("servers", servers.ServersApi.as_view(http_method_names=["post", "options"])),
    path(
        "central-servers",
        servers.ServersApi.as_view(data_key="servers", http_method_names=["get", "options"]),
    ),
    path("message-servers/<str:server_id>/agents", servers.ServerAgentsApi.as_view()),
    path("servers/<str:server_id>/agents", servers.ServerAgentsApi.as_view()),
    path("message-servers/<str:server_id>/agents/<str:agent_id>", servers.ServerAgentApi.as_view()),
    path("servers/<str:server_id>/agents/<str:agent_id>", servers.ServerAgentApi.as_view()),
    path("agents/<str:agent_id>/message-servers", servers.AgentServersApi.as_view()),
    path("agents/<str:agent_id>/servers", servers.AgentServersApi.as_view(data_key="servers")),
]

# --- views/channels.py and views/media.py, under both channel prefixes --------------------------
channel_patterns = [
    path("message-servers/<str:server_id>/channels", channels.ServerChannelsApi.as_view()),
    path("central-servers/<str:server_id>/channels", channels.ServerChannelsApi.as_view()),
    path("dm-channel", channels.DmChannelApi.as_view()),
]
for prefix in CHANNEL_PREFIXES:
    channel_patterns += [
        path(prefix, channels.ChannelCreateApi.as_view()),
        path(f"{prefix}/<str:channel_id>", channels.ChannelApi.as_view()),
        path(f"{prefix}/<str:channel_id>/details", channels.ChannelDetailsApi.as_view()),
        path(f"{prefix}/<str:channel_id>/participants", channels.ChannelParticipantsApi.as_view()),
        path(f"{prefix}/<str:channel_id>/upload-media", media.ChannelUploadMediaApi.as_view()),
        path(
            f"{prefix}/<str:channel_id>/generate-title",
            channels.ChannelGenerateTitleApi.as_view(),
        ),
        path(f"{prefix}/<str:channel_id>/agents", channels.ChannelAgentsApi.as_view()),
        path(
            f"{prefix}/<str:channel_id>/agents/<str:agent_id>", channels.ChannelAgentApi.as_view()
        ),
        path(
            f"{prefix}/<str:channel_id>/messages/<str:message_id>",
            channels.ChannelMessageApi.as_view(),
        ),
    ]

# --- views/sessions.py: health before the id it would be taken for ----------------------------
session_patterns = [
    path("sessions", sessions.SessionsApi.as_view()),
    path("sessions/health", sessions.SessionsHealthApi.as_view()),
    path("sessions/<str:session_id>", sessions.SessionApi.as_view()),
    path("sessions/<str:session_id>/messages", sessions.SessionMessagesApi.as_view()),
    path("sessions/<str:session_id>/renew", sessions.SessionRenewApi.as_view()),
    path("sessions/<str:session_id>/timeout", sessions.SessionTimeoutApi.as_view()),
    path("sessions/<str:session_id>/heartbeat", sessions.SessionHeartbeatApi.as_view()),
]

# --- views/jobs.py ------------------------------------------------------------------------------
job_patterns = [
    path("jobs", jobs.JobsApi.as_view()),
    path("jobs/health", jobs.JobsHealthApi.as_view()),
    path("jobs/<str:job_id>", jobs.JobApi.as_view()),
]

# --- views/memory.py: an agent's memories and rooms, under /api/memory/ and /api/agents/ -------
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
memory_patterns = [
    path("groups/<str:server_id>", memory.GroupApi.as_view()),
    path(
        "groups/<str:server_id>/memories",
        memory.GroupApi.as_view(http_method_names=["delete", "options"]),
    ),
    *agent_memory_patterns,
]

# --- views/agents.py, views/logs.py and views/runs.py -------------------------------------------
agent_patterns: list[URLPattern | URLResolver] = [
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
    path("media/agents/<str:agent_id>/upload-media", media.AgentUploadMediaApi.as_view()),
]

# --- views/runtime.py and views/logs.py: the reference's runtime router, /api/server/ ----------
runtime_patterns = [
    path("ping", runtime.PingApi.as_view()),
    path("hello", runtime.HelloApi.as_view()),
    path("status", runtime.StatusApi.as_view()),
    path("health", runtime.ServerHealthApi.as_view()),
    path("debug/servers", runtime.DebugServersApi.as_view()),
    path("logs", logs.ServerLogsApi.as_view()),
]

# --- views/system.py: /api/system/, the bus's metrics, and health and metrics off /api/ --------
system_patterns = [
    path("version", system.VersionApi.as_view()),
    path("config", system.ConfigApi.as_view()),
    path("env/local", system.LocalEnvironmentApi.as_view()),
]

# --- views/auth.py: /api/auth/ ------------------------------------------------------------------
auth_patterns = [
    path("register", auth.RegisterApi.as_view()),
    path("login", auth.LoginApi.as_view()),
    path("refresh", auth.RefreshApi.as_view()),
    path("logout", auth.LogoutApi.as_view()),
    path("me", auth.MeApi.as_view()),
    path("password", auth.PasswordApi.as_view()),
]

urlpatterns = [
    path("api/messaging/", include(hot_patterns)),
    path(
        "api/messaging/",
        include(
            [
                *core_patterns,
                path("metrics", system.BusMetricsApi.as_view()),
                *server_patterns,
                *channel_patterns,
                *session_patterns,
                *job_patterns,
            ]
        ),
    ),
    path("api/memory/", include(memory_patterns)),
    path("api/server/", include(runtime_patterns)),
    path("api/system/", include(system_patterns)),
    path("api/auth/", include(auth_patterns)),
    path("api/", include(agent_patterns)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    re_path(r"^api/.*$", api_not_found),
    path("healthz", system.healthz),
    path("health", system.health),
    path("metrics", system.prometheus_metrics),
    # --- views/media.py: the uploaded files -----------------------------------------------------
    path("media/uploads/channels/<str:channel_id>/<str:filename>", media.channel_media),
    path("media/uploads/agents/<str:agent_id>/<str:filename>", media.agent_media),
]
