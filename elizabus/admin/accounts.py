"""Accounts and their log-ins, view-only: users are registered through the auth API, and
their passwords changed on Django's own user pages (which revokes their log-ins,
docs/security.md, "Identity")."""

from __future__ import annotations

from django.contrib import admin

from elizabus.models import Account, RefreshToken

from .base import ServiceModelAdmin


@admin.register(Account)
class AccountAdmin(ServiceModelAdmin):
    list_display = ("subject", "user", "entity_id", "created_at")
    search_fields = ("subject", "user__username", "user__email")
    list_select_related = ("user",)


@admin.register(RefreshToken)
class RefreshTokenAdmin(ServiceModelAdmin):
    # The digest, never a secret: the table cannot give a token away.
    list_display = ("account", "family", "created_at", "expires_at", "used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("account__subject", "family")
    list_select_related = ("account",)
