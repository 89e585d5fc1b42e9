"""Message servers on the wire."""

from __future__ import annotations

from typing import Any

from elizabus.js import iso
from elizabus.models import (
    MessageServer,
)

from .base import without_unset


def server_data(server: MessageServer) -> dict[str, Any]:
    data = {
        "id": str(server.id),
        "name": server.name,
        "sourceType": server.source_type,
        "sourceId": server.source_id or None,
        "metadata": server.metadata,
        "createdAt": iso(server.created_at),
        "updatedAt": iso(server.updated_at),
    }
    return without_unset(data, "sourceId")
