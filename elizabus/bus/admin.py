"""The bus's event log in the admin, read-only: what was announced, by which process, and
when it left."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from .models import OutboxEvent


class SentFilter(admin.SimpleListFilter):
    title = "sent"
    parameter_name = "sent"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "sent"), ("no", "not sent")]

    def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:
        if self.value() in {"yes", "no"}:
            return queryset.filter(sent_at__isnull=self.value() == "no")
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    """Rows are written by ``publish`` and marked by the relay only."""

    list_display = ("id", "name", "channel_id", "agent_id", "origin", "created_at", "sent_at")
    list_filter = ("name", SentFilter)
    search_fields = ("=channel_id", "=agent_id", "origin")
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = (
        "id",
        "name",
        "channel_id",
        "agent_id",
        "origin",
        "created_at",
        "sent_at",
        "claimed_until",
        "data",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False
