"""Entities: users appear on first sight of their client-chosen UUID (docs/architecture.md)."""

from __future__ import annotations

import uuid

from elizabus.db import rows
from elizabus.models import Entity, EntityKind


def entity_ensure(*, entity_id: uuid.UUID, name: str = "") -> None:
    """Makes sure the entity ``entity_id`` exists, as a user entity if it is new. One statement
    (an insert that yields to an existing row), since every message post calls it."""
    rows.insert(
        Entity(id=entity_id, kind=EntityKind.USER, names=[name] if name else []),
        ignore_conflicts=True,
    )
