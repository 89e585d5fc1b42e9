"""Agents on the wire."""

from __future__ import annotations

from typing import Any

from elizabus.js import iso
from elizabus.models import (
    Agent,
)


def agent_data(agent: Agent) -> dict[str, Any]:
    """The agent, its character's fields at the top as the reference's agent row has them
    (the elizaOS UI's settings form reads ``bio``, ``system``, ``settings`` there), and the
    whole character under ``character`` too."""
    character = {
        **agent.character,
        "id": str(agent.entity_id),
        "name": agent.name,
        "bio": agent.character.get("bio", agent.bio),
    }
    return {
        **character,
        "id": str(agent.entity_id),
        "name": agent.name,
        "enabled": agent.enabled,
        "status": "active" if agent.enabled else "inactive",
        "responder": agent.responder,
        "hostedOutside": agent.hosted_outside,
        "character": character,
        "createdAt": iso(agent.created_at),
        "updatedAt": iso(agent.updated_at),
    }
