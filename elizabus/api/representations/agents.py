"""Agents on the wire."""

from __future__ import annotations

from typing import Any

from elizabus.js import iso
from elizabus.models import (
    Agent,
)
from elizabus.services.agents import SECRET_REDACTED


def agent_data(agent: Agent) -> dict[str, Any]:
    """The agent, its character's fields at the top as the reference's agent row has them
    (the elizaOS UI's settings form reads ``bio``, ``system``, ``settings`` there), and the
    whole character under ``character`` too. Its secrets are never answered
    (docs/security.md, "Agents' secrets")."""
    character = {
        **character_redacted(agent.character),
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


def character_redacted(character: dict[str, Any]) -> dict[str, Any]:
    """``character`` with each secret that has a value replaced by :data:`SECRET_REDACTED`."""
    shown = {**character}
    if isinstance(shown.get("secrets"), dict):
        shown["secrets"] = _redacted(shown["secrets"])
    settings = shown.get("settings")
    if isinstance(settings, dict) and isinstance(settings.get("secrets"), dict):
        shown["settings"] = {**settings, "secrets": _redacted(settings["secrets"])}
    return shown


def _redacted(secrets: dict[str, Any]) -> dict[str, Any]:
    return {
        key: SECRET_REDACTED if value not in ("", None) else value for key, value in secrets.items()
    }
