"""Messages."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from elizabus import services
from elizabus.models import (
    Message,
)

from .base import (
    ServiceModelAdmin,
    message_excerpt,
)


@admin.register(Message)
class MessageAdmin(ServiceModelAdmin):
    # No edits: message_update serves the action-badge API, not operators rewriting history.
    operations = frozenset({"delete"})
    list_display = (message_excerpt, "author", "channel", "source_type", "created_at")
    list_select_related = ("author", "channel")
    list_filter = ("source_type", "channel__type", "author__kind")
    search_fields = ("content", "id", "channel__name")
    date_hierarchy = "created_at"
    # Counting every message of a busy server on each page load is the slowest query here.
    show_full_result_count = False

    def delete_model(self, request: HttpRequest, obj: Message) -> None:  # type: ignore[override]
        services.message_delete(channel_id=obj.channel_id, message_id=obj.id)
