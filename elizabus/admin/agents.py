"""Agents, their server subscriptions, memories and runs."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin
from django.db import models, transaction
from django.forms import ModelForm
from django.http import HttpRequest

from elizabus import services
from elizabus.models import (
    Agent,
    AgentRun,
    Memory,
    ServerAgent,
)

from .base import (
    LinkInline,
    LinkModelAdmin,
    ServiceModelAdmin,
    SubscriptionFormSet,
    SubscriptionLinks,
    adopt,
    changed_values,
    changelist_link,
    count_of,
)


class SubscriptionInline(LinkInline):
    model = ServerAgent
    formset = SubscriptionFormSet
    fields = ("server", "created_at")
    autocomplete_fields = ("server",)
    verbose_name_plural = "server subscriptions"


# The agent fields agent_update changes; "enabled" goes through agent_set_enabled.
AGENT_CONFIG_FIELDS = (
    "name",
    "bio",
    "system_prompt",
    "responder",
    "responder_options",
    "character",
)


@admin.register(Agent)
class AgentAdmin(ServiceModelAdmin):
    operations = frozenset({"add", "change", "delete"})
    list_display = (
        "name",
        "agent_id",
        "responder",
        "enabled",
        "subscription_count",
        "memory_count",
        "created_at",
    )
    list_filter = ("enabled", "responder")
    search_fields = ("name", "entity__id", "bio")
    fields = ("entity", *AGENT_CONFIG_FIELDS, "enabled", "created_at", "updated_at")
    readonly_fields = ("entity", "created_at", "updated_at")
    inlines = (SubscriptionInline,)
    actions = ("start_agents", "stop_agents")

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Agent]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                subscription_total=count_of(ServerAgent, "agent"),
                memory_total=count_of(Memory, "agent"),
            )
        )

    @admin.display(description="id", ordering="pk")
    def agent_id(self, agent: Agent) -> uuid.UUID:
        return agent.pk

    @admin.display(description="servers", ordering="subscription_total")
    def subscription_count(self, agent: Any) -> str:
        return changelist_link(ServerAgent, "agent__exact", agent.pk, agent.subscription_total)

    @admin.display(description="memories", ordering="memory_total")
    def memory_count(self, agent: Any) -> str:
        return changelist_link(Memory, "agent__exact", agent.pk, agent.memory_total)

    def save_model(self, request: HttpRequest, obj: Agent, form: ModelForm, change: bool) -> None:  # type: ignore[override]
        # agent_register also subscribes the agent to the default server and seats it in the
        # central channel; the inline's subscriptions are added after it.
        if not change:
            config = {name: getattr(obj, name) for name in AGENT_CONFIG_FIELDS}
            adopt(obj, services.agent_register(**config, enabled=obj.enabled))
            return
        updates = changed_values(form, AGENT_CONFIG_FIELDS)
        if updates:
            adopt(obj, services.agent_update(agent_id=obj.pk, **updates))
        if "enabled" in form.changed_data:
            enabled = form.cleaned_data["enabled"]
            adopt(obj, services.agent_set_enabled(agent_id=obj.pk, enabled=enabled))

    def delete_model(self, request: HttpRequest, obj: Agent) -> None:  # type: ignore[override]
        services.agent_delete(agent_id=obj.pk)

    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[Any]]:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Django asks each related admin whether it may delete; the memory and run admins say no
        # because operators do not edit those rows one by one, yet agent_delete removes them with
        # the agent.
        for model in (Memory, AgentRun):
            if request.user.has_perm(f"{model._meta.app_label}.delete_{model._meta.model_name}"):
                perms_needed.discard(model._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    @admin.action(description="Start selected agents", permissions=["change"])
    def start_agents(self, request: HttpRequest, queryset: models.QuerySet[Agent]) -> None:
        self._set_enabled(request, queryset, enabled=True)

    @admin.action(description="Stop selected agents", permissions=["change"])
    def stop_agents(self, request: HttpRequest, queryset: models.QuerySet[Agent]) -> None:
        self._set_enabled(request, queryset, enabled=False)

    def _set_enabled(
        self, request: HttpRequest, queryset: models.QuerySet[Agent], *, enabled: bool
    ) -> None:
        agent_ids: list[uuid.UUID] = list(queryset.values_list("pk", flat=True))
        with transaction.atomic():
            for agent_id in agent_ids:
                services.agent_set_enabled(agent_id=agent_id, enabled=enabled)
        verb = "Started" if enabled else "Stopped"
        self.message_user(request, f"{verb} {len(agent_ids)} agents.")


@admin.register(ServerAgent)
class ServerAgentAdmin(LinkModelAdmin):
    links = SubscriptionLinks()
    list_display = ("agent", "server", "created_at")
    list_select_related = ("agent", "server")
    list_filter = ("server",)
    search_fields = ("agent__name", "agent__entity__id", "server__name")
    fields = ("server", "agent", "created_at")
    autocomplete_fields = ("server", "agent")


@admin.register(Memory)
class MemoryAdmin(ServiceModelAdmin):
    # An agent's memories are its own; agents forget them when the bus says so.
    list_display = ("__str__", "agent", "channel_id", "message_id", "created_at")
    list_select_related = ("agent",)
    list_filter = ("agent",)
    search_fields = ("message_id", "channel_id", "content")
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(AgentRun)
class AgentRunAdmin(ServiceModelAdmin):
    """What every agent did with each message it handled, read-only: runs are history."""

    list_display = (
        "started_at",
        "agent",
        "outcome",
        "skip_reason",
        "duration_ms",
        "channel_id",
        "message_id",
    )
    list_select_related = ("agent",)
    list_filter = ("outcome", "skip_reason", "agent")
    search_fields = ("=id", "=message_id", "=channel_id", "=author_id", "error")
    date_hierarchy = "started_at"
    show_full_result_count = False
    readonly_fields = (
        "id",
        "agent",
        "outcome",
        "skip_reason",
        "error",
        "message_id",
        "reply_id",
        "channel_id",
        "server_id",
        "author_id",
        "source_type",
        "started_at",
        "ended_at",
        "duration_ms",
    )

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # The agent filter looks up the agent's primary key, which is itself a relation (to the
        # agent's entity); Django's check takes that for a traversal it was not told of.
        if lookup == "agent__entity__exact":
            return True
        # Django 5.2 still takes a missing request (deprecated); its stubs do not.
        return super().lookup_allowed(lookup, value, request)  # type: ignore[arg-type]
