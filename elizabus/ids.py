"""Identifiers: the canonical UUID form, and the elizaOS id derivations of
``packages/core/src/utils.ts`` and ``entities.ts``, byte for byte, so that memories get the ids an
elizaOS agent would give them (docs/agents.md)."""

from __future__ import annotations

import hashlib
import re
import uuid
from urllib.parse import quote

# The whole text must match (``is_uuid``): ``$`` would also match before a trailing newline,
# which ``uuid.UUID`` then refuses.
UUID_PATTERN = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
# The characters JavaScript's encodeURIComponent leaves alone, besides letters and digits.
_URI_COMPONENT_SAFE = "-_.!~*'()"


def is_uuid(value: object) -> bool:
    """Whether ``value`` is a UUID in the canonical 8-4-4-4-12 form, in either case."""
    return isinstance(value, str) and UUID_PATTERN.fullmatch(value) is not None


def string_to_uuid(value: str) -> uuid.UUID:
    """``stringToUuid``: a valid UUID unchanged, else the first 16 bytes of SHA-1 of the
    URI-encoded text with the variant bits set and the version nibble cleared."""
    if is_uuid(value):
        return uuid.UUID(value)
    digest = bytearray(hashlib.sha1(quote(value, safe=_URI_COMPONENT_SAFE).encode()).digest()[:16])
    digest[8] = (digest[8] & 0x3F) | 0x80
    digest[6] = digest[6] & 0x0F
    return uuid.UUID(bytes=bytes(digest))


def create_unique_uuid(agent_id: uuid.UUID, base: str) -> uuid.UUID:
    """``createUniqueUuid(runtime, base)``: the agent's own id for ``base``."""
    if base == str(agent_id):
        return agent_id
    return string_to_uuid(f"{base}:{agent_id}")


def memory_id(agent_id: uuid.UUID, message_id: uuid.UUID | str) -> uuid.UUID:
    """The id of an agent's memory of a message (v1.6+: ``${messageId}-${agentId}``)."""
    return create_unique_uuid(agent_id, f"{message_id}-{agent_id}")


def reply_id(agent_id: uuid.UUID, message_id: uuid.UUID | str) -> uuid.UUID:
    """The id of an agent's reply to a message: the same however often the message is handled,
    so a second handling cannot store a second reply."""
    return create_unique_uuid(agent_id, f"reply:{message_id}:{agent_id}")
