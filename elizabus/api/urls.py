"""Routes of ``/api/messaging/`` (SPEC B1.1-B1.5), each deprecated alias beside its route."""

from __future__ import annotations

from django.urls import path, re_path

from .batched import batched
from .errors import api_not_found
from .views import channels, core, jobs, media, servers, sessions, system

CHANNEL_PREFIXES = ("channels", "central-channels")

channel_messages = batched(channels.ChannelMessagesApi.as_view())
urlpatterns = [
    # The hot route, first of all (Django tries the patterns in turn): posts and page reads,
    # run in batches.
    *(path(f"{prefix}/<str:channel_id>/messages", channel_messages) for prefix in CHANNEL_PREFIXES),
    # Core (B1.1).
    path("submit", core.SubmitApi.as_view()),
    path("action", core.ActionCreateApi.as_view()),
    path("action/<str:message_id>", core.ActionUpdateApi.as_view()),
    path("ingest-external", core.IngestExternalApi.as_view()),
    path("complete", core.CompleteApi.as_view()),
    path("metrics", system.BusMetricsApi.as_view()),
    # Message servers (B1.3).
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
    path("message-servers/<str:server_id>/channels", channels.ServerChannelsApi.as_view()),
    path("central-servers/<str:server_id>/channels", channels.ServerChannelsApi.as_view()),
    # Channels (B1.2), under both prefixes.
    path("dm-channel", channels.DmChannelApi.as_view()),
]
for prefix in CHANNEL_PREFIXES:
    urlpatterns += [
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
urlpatterns += [
    # Sessions (B1.4); health before the id it would be taken for.
    path("sessions", sessions.SessionsApi.as_view()),
    path("sessions/health", sessions.SessionsHealthApi.as_view()),
    path("sessions/<str:session_id>", sessions.SessionApi.as_view()),
    path("sessions/<str:session_id>/messages", sessions.SessionMessagesApi.as_view()),
    path("sessions/<str:session_id>/renew", sessions.SessionRenewApi.as_view()),
    path("sessions/<str:session_id>/timeout", sessions.SessionTimeoutApi.as_view()),
    path("sessions/<str:session_id>/heartbeat", sessions.SessionHeartbeatApi.as_view()),
    # Jobs (B1.5).
    path("jobs", jobs.JobsApi.as_view()),
    path("jobs/health", jobs.JobsHealthApi.as_view()),
    path("jobs/<str:job_id>", jobs.JobApi.as_view()),
]
urlpatterns.append(re_path(r"^.*$", api_not_found))
