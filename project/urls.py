"""URL configuration: the admin, the APIs, the schema, health, metrics and the chat page."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from elizabus.api.errors import api_not_found
from elizabus.api.server_urls import server_patterns, system_patterns
from elizabus.api.views import media, system

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/messaging/", include("elizabus.api.urls")),
    path("api/media/agents/<str:agent_id>/upload-media", media.AgentUploadMediaApi.as_view()),
    path("api/memory/", include("elizabus.api.memory_urls")),
    path("api/server/", include(server_patterns)),
    path("api/system/", include(system_patterns)),
    path("api/", include("elizabus.api.agent_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    re_path(r"^api/.*$", api_not_found),
    path("healthz", system.healthz),
    path("health", system.health),
    path("metrics", system.prometheus_metrics),
    path("media/uploads/channels/<str:channel_id>/<str:filename>", media.channel_media),
    path("media/uploads/agents/<str:agent_id>/<str:filename>", media.agent_media),
    path("", include("elizabus.web.urls")),
]
