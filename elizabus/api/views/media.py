"""Media: ``POST /channels/:id/upload-media`` and the files at
``/media/uploads/channels/:channelId/:filename``; ``POST
/api/media/agents/:agentId/upload-media`` (the reference's agent media, where the elizaOS UI's DM
chat uploads its attachments) and the files at ``/media/uploads/agents/:agentId/:filename``."""

from __future__ import annotations

import uuid

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse, Http404, HttpRequest
from django.http.response import HttpResponseBase
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from elizabus import access, services
from elizabus.api.envelope import ok
from elizabus.api.errors import error_response
from elizabus.api.fields import parse_uuid
from elizabus.api.throttling import UploadRateThrottle
from elizabus.exceptions import DomainError, NoFile
from elizabus.ids import is_uuid
from elizabus.services.media import StoredMedia

from .base import AGENT, CHANNEL, ApiView, actor_of

INLINE_TYPES = ("image/", "audio/", "video/")


class MediaUploadIn(serializers.Serializer):
    file = serializers.FileField()


def _one_file(request: Request) -> UploadedFile:
    files = request.FILES.getlist("file")
    if len(files) != 1:
        raise NoFile()
    return files[0]


# Both upload routes: multipart, throttled as uploads, answered with the stored file.
UPLOAD_SCHEMA = extend_schema(
    request={"multipart/form-data": MediaUploadIn},
    responses={200: OpenApiResponse(description="`{success, data: {url, type, ...}}`")},
)


class UploadMediaApi(ApiView):
    parser_classes = [MultiPartParser]
    throttle_classes = [UploadRateThrottle]
    throttle_scope = "upload"


def _uploaded(stored: StoredMedia, media_type: str) -> Response:
    return ok(
        {
            "url": stored.url,
            "type": media_type,
            "filename": stored.filename,
            "originalName": stored.original_name,
            "size": stored.size,
        }
    )


class ChannelUploadMediaApi(UploadMediaApi):
    """``POST /channels/:id/upload-media``: one file in the multipart field ``file``."""

    access = {"POST": CHANNEL}

    @UPLOAD_SCHEMA
    def post(self, request: Request, channel_id: str) -> Response:
        channel_uuid = parse_uuid(channel_id, "channelId")
        stored = services.media_store(channel_id=channel_uuid, upload=_one_file(request))
        return _uploaded(stored, stored.content_type)


class AgentUploadMediaApi(UploadMediaApi):
    """``POST /api/media/agents/:agentId/upload-media``: one file in the multipart field
    ``file``; ``type`` is the file's elizaOS content type (``image``, ``video``, ``audio``,
    ``document``), as the reference answers here."""

    access = {"POST": AGENT}

    @UPLOAD_SCHEMA
    def post(self, request: Request, agent_id: str) -> Response:
        agent_uuid = parse_uuid(agent_id, "agentId")
        stored = services.agent_media_store(agent_id=agent_uuid, upload=_one_file(request))
        return _uploaded(stored, stored.kind)


def channel_media(request: HttpRequest, channel_id: str, filename: str) -> HttpResponseBase:
    """A stored file, with the type it was accepted as; only images, audio and video inline."""
    if not is_uuid(channel_id):
        raise Http404
    try:
        access.require_participant(actor_of(request), uuid.UUID(channel_id))
    except DomainError as refused:
        return error_response(refused)
    return _file_response(services.media_path(channel_id=channel_id, filename=filename), filename)


def agent_media(request: HttpRequest, agent_id: str, filename: str) -> FileResponse:
    """A file stored for an agent, served as :func:`channel_media` serves a channel's."""
    if not is_uuid(agent_id):
        raise Http404
    return _file_response(services.agent_media_path(agent_id=agent_id, filename=filename), filename)


def _file_response(found: tuple[str, str] | None, filename: str) -> FileResponse:
    if found is None:
        raise Http404
    path, content_type = found
    response = FileResponse(
        default_storage.open(path, "rb"),
        content_type=content_type,
        as_attachment=not content_type.startswith(INLINE_TYPES),
        filename=filename,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
