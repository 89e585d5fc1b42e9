"""Entities: users and agents."""

from __future__ import annotations

from django.contrib import admin

from elizabus.models import (
    Entity,
)

from .base import (
    ServiceModelAdmin,
)


@admin.register(Entity)
class EntityAdmin(ServiceModelAdmin):
    # Users appear on first sight and agents through agent services: nothing to write here.
    list_display = ("display_name", "id", "kind", "created_at")
    list_filter = ("kind",)
    search_fields = ("id", "names")
    date_hierarchy = "created_at"
