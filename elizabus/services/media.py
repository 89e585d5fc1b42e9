"""Media uploaded to a channel (``POST /channels/:id/upload-media``) or for an agent
(``POST /api/media/agents/:id/upload-media``, where the elizaOS UI's DM chat sends its
attachments): checked against the reference's type allow-list and size limit, and stored under a
name the server chooses."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import PurePath

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile

from elizabus.exceptions import (
    AgentNotFound,
    ChannelNotFound,
    EmptyFile,
    FileTooLarge,
    InvalidFileType,
)
from elizabus.models import Agent, Channel

MAX_MEDIA_BYTES = 50 * 1024 * 1024
# The reference's allow-list (``api/shared/constants.ts``), each type with the extension it is
# stored under: the client's own file name never reaches the disk.
ALLOWED_MEDIA_TYPES = {
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/ogg": ".ogg",
    "audio/webm": ".weba",
    "audio/mp4": ".m4a",
    "audio/aac": ".aac",
    "audio/flac": ".flac",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
}
MEDIA_PREFIX = "uploads/channels"
AGENT_MEDIA_PREFIX = "uploads/agents"


@dataclass(frozen=True)
class StoredMedia:
    owner_id: uuid.UUID
    filename: str
    content_type: str
    original_name: str
    size: int
    prefix: str = MEDIA_PREFIX

    @property
    def url(self) -> str:
        return f"/media/{self.prefix}/{self.owner_id}/{self.filename}"

    @property
    def kind(self) -> str:
        """The elizaOS content type of the file (core's ``getContentTypeFromMimeType``)."""
        if self.content_type.startswith(("image/", "video/", "audio/")):
            return self.content_type.split("/")[0]
        return "document"


def media_store(*, channel_id: uuid.UUID, upload: UploadedFile) -> StoredMedia:
    """Stores one uploaded file for a channel under ``<ms>-<random><ext>``."""
    if not Channel.objects.filter(id=channel_id).exists():
        raise ChannelNotFound()
    return _save(MEDIA_PREFIX, channel_id, upload)


def agent_media_store(*, agent_id: uuid.UUID, upload: UploadedFile) -> StoredMedia:
    """Stores one uploaded file for an agent under ``<ms>-<random><ext>``. The reference
    stores one for any id; here the agent must exist."""
    if not Agent.objects.filter(entity_id=agent_id).exists():
        raise AgentNotFound()
    return _save(AGENT_MEDIA_PREFIX, agent_id, upload)


def media_path(*, channel_id: uuid.UUID | str, filename: str) -> tuple[str, str] | None:
    """The storage path and content type of a channel's stored file, or None. ``filename``
    must be one this module chose: anything else (a path, ``..``) is not found."""
    return _find(MEDIA_PREFIX, channel_id, filename)


def agent_media_path(*, agent_id: uuid.UUID | str, filename: str) -> tuple[str, str] | None:
    """As :func:`media_path`, for a file stored for an agent."""
    return _find(AGENT_MEDIA_PREFIX, agent_id, filename)


def _save(prefix: str, owner_id: uuid.UUID, upload: UploadedFile) -> StoredMedia:
    content_type = (upload.content_type or "").split(";")[0].strip().lower()
    extension = ALLOWED_MEDIA_TYPES.get(content_type)
    if extension is None:
        raise InvalidFileType(f"File type {content_type or 'unknown'} is not allowed")
    if upload.size is None or upload.size > MAX_MEDIA_BYTES:
        raise FileTooLarge(f"File exceeds {MAX_MEDIA_BYTES} bytes")
    if upload.size == 0:
        raise EmptyFile()
    filename = f"{int(time.time() * 1000)}-{secrets.token_hex(6)}{extension}"
    default_storage.save(f"{prefix}/{owner_id}/{filename}", upload)
    return StoredMedia(
        owner_id=owner_id,
        filename=filename,
        content_type=content_type,
        original_name=PurePath(upload.name or "").name[:255],
        size=upload.size,
        prefix=prefix,
    )


def _find(prefix: str, owner_id: uuid.UUID | str, filename: str) -> tuple[str, str] | None:
    stem, dot, extension = filename.rpartition(".")
    types = [kind for kind, ext in ALLOWED_MEDIA_TYPES.items() if ext == f".{extension}"]
    if not (dot and types and stem.replace("-", "").isalnum() and "/" not in filename):
        return None
    path = f"{prefix}/{owner_id}/{filename}"
    return (path, types[0]) if default_storage.exists(path) else None
