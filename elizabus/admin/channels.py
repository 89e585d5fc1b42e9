"""Channels, their participants and their newest messages."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin
from django.db import models, transaction
from django.forms import ModelForm
from django.http import HttpRequest

from elizabus import services
from elizabus.models import (
    Channel,
    Message,
    Participant,
)

from .base import (
    MESSAGE_HISTORY_LIMIT,
    LinkInline,
    LinkModelAdmin,
    NewestMessagesFormSet,
    ParticipantFormSet,
    ParticipantLinks,
    ServiceModelAdmin,
    adopt,
    changed_values,
    changelist_link,
    count_of,
    message_excerpt,
)


class ParticipantInline(LinkInline):
    model = Participant
    formset = ParticipantFormSet
    fields = ("entity", "created_at")
    autocomplete_fields = ("entity",)


class MessageHistoryInline(admin.TabularInline):
    """The channel's newest messages, read-only; each links to its own page for deletion."""

    model = Message
    formset = NewestMessagesFormSet
    verbose_name_plural = f"latest {MESSAGE_HISTORY_LIMIT} messages"
    # The admin takes a callable among read-only fields; django-stubs allows names only.
    fields = ("created_at", "author", message_excerpt, "source_type")  # type: ignore[assignment]
    readonly_fields = fields  # type: ignore[assignment]
    ordering = ("-created_at",)
    show_change_link = True
    extra = 0

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Message]:
        return super().get_queryset(request).select_related("author")

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


# The channel fields no service changes once the channel exists.
CHANNEL_FIXED_FIELDS = ("server", "type", "source_type", "source_id")


# The channel fields channel_update changes.
CHANNEL_UPDATABLE_FIELDS = ("name", "topic", "metadata")


@admin.register(Channel)
class ChannelAdmin(ServiceModelAdmin):
    operations = frozenset({"add", "change", "delete"})
    list_display = (
        "name",
        "type",
        "server",
        "participant_count",
        "message_count",
        "created_at",
    )
    list_select_related = ("server",)
    list_filter = ("type", "server", "source_type")
    search_fields = ("name", "id", "topic")
    date_hierarchy = "created_at"
    fields = ("id", *CHANNEL_FIXED_FIELDS, *CHANNEL_UPDATABLE_FIELDS, "created_at", "updated_at")
    autocomplete_fields = ("server",)
    inlines = (ParticipantInline, MessageHistoryInline)
    actions = ("clear_channel",)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Channel]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                participant_total=count_of(Participant, "channel"),
                message_total=count_of(Message, "channel"),
            )
        )

    def get_readonly_fields(
        self, request: HttpRequest, obj: Channel | None = None
    ) -> tuple[str, ...]:
        fixed = CHANNEL_FIXED_FIELDS if obj is not None else ()
        return ("id", *fixed, "created_at", "updated_at")

    @admin.display(description="participants", ordering="participant_total")
    def participant_count(self, channel: Any) -> int:
        return channel.participant_total

    @admin.display(description="messages", ordering="message_total")
    def message_count(self, channel: Any) -> str:
        return changelist_link(Message, "channel__id__exact", channel.pk, channel.message_total)

    def save_model(self, request: HttpRequest, obj: Channel, form: ModelForm, change: bool) -> None:  # type: ignore[override]
        # Participants come from the inline, through save_formset, after the channel exists.
        if not change:
            channel = services.channel_create(
                channel_id=obj.id,
                server_id=obj.server_id,
                name=obj.name,
                type=obj.type,
                topic=obj.topic,
                metadata=obj.metadata,
                source_type=obj.source_type,
                source_id=obj.source_id,
            )
            adopt(obj, channel)
            return
        updates = changed_values(form, CHANNEL_UPDATABLE_FIELDS)
        if updates:
            adopt(obj, services.channel_update(channel_id=obj.id, **updates))

    def delete_model(self, request: HttpRequest, obj: Channel) -> None:  # type: ignore[override]
        services.channel_delete(channel_id=obj.id)

    def has_clear_permission(self, request: HttpRequest) -> bool:
        # Clearing deletes messages, so it takes the right to delete messages.
        return request.user.has_perm(f"{Message._meta.app_label}.delete_message")

    @admin.action(
        description="Clear selected channels (delete all their messages)", permissions=["clear"]
    )
    def clear_channel(self, request: HttpRequest, queryset: models.QuerySet[Channel]) -> None:
        channel_ids: list[uuid.UUID] = list(queryset.values_list("id", flat=True))
        with transaction.atomic():
            deleted = sum(
                services.channel_clear(channel_id=channel_id) for channel_id in channel_ids
            )
        self.message_user(request, f"Deleted {deleted} messages from {len(channel_ids)} channels.")


@admin.register(Participant)
class ParticipantAdmin(LinkModelAdmin):
    links = ParticipantLinks()
    list_display = ("entity", "channel", "created_at")
    list_select_related = ("entity", "channel")
    list_filter = ("channel__type", "entity__kind")
    search_fields = ("channel__name", "channel__id", "entity__id", "entity__names")
    fields = ("channel", "entity", "created_at")
    autocomplete_fields = ("channel", "entity")
