"""What the elizabus admins share: the base class that writes only through services, the
link models' add and remove, and the change lists' helpers."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models.functions import Coalesce
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from elizabus import services
from elizabus.models import (
    Message,
    Participant,
    ServerAgent,
)

EXCERPT_CHARS = 80


# The channel page shows this many of the newest messages; the message list has the rest.
MESSAGE_HISTORY_LIMIT = 50


def count_of(model: type[models.Model], fk: str) -> Coalesce:
    """An annotation counting the ``model`` rows whose ``fk`` points at the outer row.

    A correlated subquery rather than ``Count()`` over joins: two counts over joins multiply each
    other (participants times messages) and need a GROUP BY over the whole change list.
    """
    rows = model._default_manager.filter(**{fk: models.OuterRef("pk")}).order_by().values(fk)
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

    # A subclass's save_model and delete_model take its own model (an ignored override for the
    # type checker: ModelAdmin is generic in django-stubs only).
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
