"""Message servers."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.forms import ModelForm
from django.http import HttpRequest

from elizabus import services
from elizabus.models import (
    Channel,
    MessageServer,
    ServerAgent,
)

from .base import (
    ServiceModelAdmin,
    adopt,
    changelist_link,
    count_of,
)


@admin.register(MessageServer)
class MessageServerAdmin(ServiceModelAdmin):
    # No server_update or server_delete service yet: servers are created here, then read-only.
    operations = frozenset({"add"})
    list_display = ("name", "id", "source_type", "channel_count", "agent_count", "created_at")
    list_filter = ("source_type",)
    search_fields = ("name", "id", "source_id")
    fields = ("id", "name", "source_type", "source_id", "metadata", "created_at", "updated_at")
    readonly_fields = ("id", "created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[MessageServer]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                channel_total=count_of(Channel, "server"),
                agent_total=count_of(ServerAgent, "server"),
            )
        )

    @admin.display(description="channels", ordering="channel_total")
    def channel_count(self, server: Any) -> str:
        return changelist_link(Channel, "server__id__exact", server.pk, server.channel_total)

    @admin.display(description="agents", ordering="agent_total")
    def agent_count(self, server: Any) -> str:
        return changelist_link(ServerAgent, "server__id__exact", server.pk, server.agent_total)

    def save_model(
        self,
        request: HttpRequest,
        obj: MessageServer,  # type: ignore[override]
        form: ModelForm,
        change: bool,
    ) -> None:
        server = services.server_create(
            server_id=obj.id,
            name=obj.name,
            source_type=obj.source_type,
            source_id=obj.source_id,
            metadata=obj.metadata,
        )
        adopt(obj, server)
