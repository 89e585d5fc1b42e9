"""The sessions API's sessions and the jobs API's jobs."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.utils import timezone

from elizabus import services
from elizabus.models import (
    Job,
    Session,
)

from .base import (
    ServiceModelAdmin,
)


class ExpiredFilter(admin.SimpleListFilter):
    title = "expiry"
    parameter_name = "expired"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "active"), ("yes", "expired")]

    def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:
        if self.value() == "yes":
            return queryset.filter(expires_at__lte=timezone.now())
        if self.value() == "no":
            return queryset.filter(expires_at__gt=timezone.now())
        return queryset


@admin.register(Session)
class SessionAdmin(ServiceModelAdmin):
    """Sessions of the sessions API: browsed, and ended through ``session_delete`` (the channel
    stays); their timeouts change through the API, which recomputes the expiry."""

    operations = frozenset({"delete"})
    list_display = ("id", "agent", "user_id", "channel", "expires_at", "renewal_count")
    list_select_related = ("agent", "channel")
    list_filter = (ExpiredFilter, "auto_renew", "agent")
    search_fields = ("=id", "=user_id", "=channel__id")
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = (
        "id",
        "agent",
        "user_id",
        "channel",
        "metadata",
        "timeout_minutes",
        "auto_renew",
        "max_duration_minutes",
        "warning_threshold_minutes",
        "renewal_count",
        "created_at",
        "last_activity",
        "expires_at",
    )

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        services.session_delete(session_id=obj.pk)


@admin.register(Job)
class JobAdmin(ServiceModelAdmin):
    """Jobs of the jobs API, read-only: they are history once settled, pruned by age."""

    list_display = ("id", "status", "agent_id", "user_id", "created_at", "processing_time_ms")
    list_filter = ("status",)
    search_fields = ("=id", "=agent_id", "=user_id", "=channel_id", "prompt")
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = (
        "id",
        "status",
        "agent_id",
        "user_id",
        "channel_id",
        "request_message_id",
        "prompt",
        "metadata",
        "created_at",
        "expires_at",
        "finished_at",
        "result_message",
        "processing_time_ms",
        "error",
    )
