"""The operators' admin: every model browsable, and every write that clients see done by a service.

The admin is an edge like the API (STYLE §1): it never calls ``.save()``, ``.create()`` or
``.delete()`` on a domain model. Each admin declares the ``operations`` a service performs for it
and overrides the matching hook to call that service; everything else is view-only, and the base
class refuses a write that would fall through to Django's own hooks. Rows of the two link models
(participants, server subscriptions) are added and removed, never edited, both on their own pages
and in the inlines of their channel or agent.

May import models, services and Django's admin. Its reads are the admin's own querysets, with
their joins and counts chosen here for the change lists.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models.functions import Coalesce
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from elizabus import services
from elizabus.bus.models import OutboxEvent
from elizabus.models import (
    Agent,
    AgentRun,
    Channel,
    Entity,
    Job,
    Memory,
    Message,
    MessageServer,
    Participant,
    ServerAgent,
    Session,
)

admin.site.site_header = "elizabus administration"
admin.site.site_title = "elizabus admin"

EXCERPT_CHARS = 80
# The channel page shows this many of the newest messages; the message list has the rest.
MESSAGE_HISTORY_LIMIT = 50


# --- Helpers ------------------------------------------------------------------------------------


def count_of(model: type[models.Model], fk: str) -> Coalesce:
    """An annotation counting the ``model`` rows whose ``fk`` points at the outer row.

    A correlated subquery rather than ``Count()`` over joins: two counts over joins multiply each
    other (participants times messages) and need a GROUP BY over the whole change list.
    """
    rows = model.objects.filter(**{fk: models.OuterRef("pk")}).order_by().values(fk)
    return Coalesce(
        models.Subquery(rows.annotate(n=models.Count("pk")).values("n")),
        0,
        output_field=models.IntegerField(),
    )


def changelist_link(model: type[models.Model], lookup: str, value: Any, label: Any) -> str:
    """A link to ``model``'s change list filtered on ``lookup=value``."""
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return format_html('<a href="{}?{}={}">{}</a>', url, lookup, value, label)


def adopt(obj: models.Model, saved: models.Model) -> None:
    """Makes the admin's in-memory ``obj`` the row a service saved.

    The admin goes on using its own instance after ``save_model`` (inline formsets, the change
    message, the redirect), so it must carry the stored values and no longer count as unsaved.
    """
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db


def changed_values(form: ModelForm, names: tuple[str, ...]) -> dict[str, Any]:
    """The fields among ``names`` the operator changed, for an ``*_update`` service.

    Only those, so that the service's event names just what changed.
    """
    return {name: form.cleaned_data[name] for name in names if name in form.changed_data}


@admin.display(description="content")
def message_excerpt(message: Message) -> str:
    return Truncator(message.content).chars(EXCERPT_CHARS)


# --- Link models: rows that are added and removed through a service -------------------------------


class Links:
    """How rows of a link model are added and removed. Subclasses call one service each."""

    def add(self, row: Any) -> Any:
        """Stores the link ``row`` describes and returns the stored row."""
        raise NotImplementedError

    def remove(self, row: Any) -> None:
        raise NotImplementedError


class ParticipantLinks(Links):
    def add(self, row: Participant) -> Participant:
        services.channel_participant_add(channel_id=row.channel_id, entity_id=row.entity_id)
        return Participant.objects.get(channel_id=row.channel_id, entity_id=row.entity_id)

    def remove(self, row: Participant) -> None:
        services.channel_participant_remove(channel_id=row.channel_id, entity_id=row.entity_id)


class SubscriptionLinks(Links):
    def add(self, row: ServerAgent) -> ServerAgent:
        services.server_agent_add(server_id=row.server_id, agent_id=row.agent_id)
        return ServerAgent.objects.get(server_id=row.server_id, agent_id=row.agent_id)

    def remove(self, row: ServerAgent) -> None:
        services.server_agent_remove(server_id=row.server_id, agent_id=row.agent_id)


class LinkInlineFormSet(BaseInlineFormSet):
    """An inline formset whose new rows and deleted rows go through :attr:`links`.

    ``save_new`` and ``delete_existing`` are the two hooks Django's ``formset.save()`` writes
    through, so the admin's own ``save_formset`` needs no change.
    """

    links: ClassVar[Links]

    def save_new(self, form: ModelForm, commit: bool = True) -> models.Model:
        row = super().save_new(form, commit=False)
        return self.links.add(row) if commit else row

    def save_existing(self, form: ModelForm, obj: models.Model, commit: bool = True) -> None:
        # Link inlines have no change permission, so Django never offers an edited row here.
        raise PermissionDenied("links are added and removed, never edited")

    def delete_existing(self, obj: models.Model, commit: bool = True) -> None:
        if commit:
            self.links.remove(obj)


class ParticipantFormSet(LinkInlineFormSet):
    links = ParticipantLinks()


class SubscriptionFormSet(LinkInlineFormSet):
    links = SubscriptionLinks()


class LinkInline(admin.TabularInline):
    """Rows shown read-only, added and removed through the formset's links."""

    extra = 0
    readonly_fields = ("created_at",)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


class NewestMessagesFormSet(BaseInlineFormSet):
    """The newest :data:`MESSAGE_HISTORY_LIMIT` messages of a channel.

    The slice happens here, after the formset has filtered on the channel: a sliced queryset
    from ``get_queryset`` could not be filtered any more. The rows are fetched once, as a list,
    because the formset indexes into its queryset once per form.
    """

    def get_queryset(self) -> list[Message]:  # type: ignore[override]
        if not hasattr(self, "_newest"):
            self._newest = list(super().get_queryset()[:MESSAGE_HISTORY_LIMIT])
        return self._newest


# --- Model admins -------------------------------------------------------------------------------


class ServiceModelAdmin(admin.ModelAdmin):
    """Base of the elizabus admins: an operation is offered only where a service performs it.

    ``operations`` names the writes a subclass performs through services (``add``, ``change``,
    ``delete``); the subclass overrides the hooks they use. The hooks here refuse, so enabling an
    operation without its service fails loudly instead of writing around the bus.
    """

    operations: ClassVar[frozenset[str]] = frozenset()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return "add" in self.operations and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return "change" in self.operations and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return "delete" in self.operations and super().has_delete_permission(request, obj)

    def get_fields(self, request: HttpRequest, obj: models.Model | None = None) -> list[Any]:
        fields = list(super().get_fields(request, obj))
        if obj is not None:
            return fields
        # A new row has no read-only values yet (its id is drawn when it is saved): inputs only.
        readonly = set(self.get_readonly_fields(request, obj))
        return [field for field in fields if field not in readonly]

    def save_model(
        self, request: HttpRequest, obj: models.Model, form: ModelForm, change: bool
    ) -> None:
        raise PermissionDenied(f"{type(self).__name__} has no service to save {obj._meta.label}")

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        raise PermissionDenied(f"{type(self).__name__} has no service to delete {obj._meta.label}")

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)


class LinkModelAdmin(ServiceModelAdmin):
    """The page of a link model: rows are added and deleted through :attr:`links`."""

    operations = frozenset({"add", "delete"})
    links: ClassVar[Links]
    readonly_fields = ("created_at",)

    def save_model(
        self, request: HttpRequest, obj: models.Model, form: ModelForm, change: bool
    ) -> None:
        adopt(obj, self.links.add(obj))

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        self.links.remove(obj)


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
        self, request: HttpRequest, obj: MessageServer, form: ModelForm, change: bool
    ) -> None:
        server = services.server_create(
            server_id=obj.id,
            name=obj.name,
            source_type=obj.source_type,
            source_id=obj.source_id,
            metadata=obj.metadata,
        )
        adopt(obj, server)


@admin.register(Entity)
class EntityAdmin(ServiceModelAdmin):
    # Users appear on first sight and agents through agent services: nothing to write here.
    list_display = ("display_name", "id", "kind", "created_at")
    list_filter = ("kind",)
    search_fields = ("id", "names")
    date_hierarchy = "created_at"


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
    fields = ("created_at", "author", message_excerpt, "source_type")
    readonly_fields = fields
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

    def save_model(self, request: HttpRequest, obj: Channel, form: ModelForm, change: bool) -> None:
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

    def delete_model(self, request: HttpRequest, obj: Channel) -> None:
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

    def delete_model(self, request: HttpRequest, obj: Message) -> None:
        services.message_delete(channel_id=obj.channel_id, message_id=obj.id)


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

    def save_model(self, request: HttpRequest, obj: Agent, form: ModelForm, change: bool) -> None:
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

    def delete_model(self, request: HttpRequest, obj: Agent) -> None:
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
class OutboxEventAdmin(ServiceModelAdmin):
    """The bus's event log, read-only: what was announced, by which process, and when it left."""

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
        return lookup == "agent__entity__exact" or super().lookup_allowed(lookup, value, request)


__all__ = [
    "AgentAdmin",
    "AgentRunAdmin",
    "ChannelAdmin",
    "EntityAdmin",
    "JobAdmin",
    "MemoryAdmin",
    "MessageAdmin",
    "MessageServerAdmin",
    "OutboxEventAdmin",
    "ParticipantAdmin",
    "ServerAgentAdmin",
    "SessionAdmin",
]
