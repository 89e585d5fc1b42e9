"""Entities: users appear on first sight of their client-chosen UUID (SPEC A2)."""

from __future__ import annotations

import uuid

from django.db import transaction

from elizabus.models import Entity, EntityKind


@transaction.atomic
def entity_ensure(*, entity_id: uuid.UUID, name: str = "") -> Entity:
    """Returns the entity ``entity_id``, creating a user entity if it is not known yet."""
    entity, _ = Entity.objects.get_or_create(
        id=entity_id,
        defaults={"kind": EntityKind.USER, "names": [name] if name else []},
    )
    return entity
