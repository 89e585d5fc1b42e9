"""``POST /channels/:id/upload-media`` and the stored files under ``/media/``."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from elizabus.models import CENTRAL_CHANNEL_ID
from tests import factories
from tests.api.helpers import assert_error, assert_ok, new_id

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def _upload(channel: str, *files: SimpleUploadedFile, client: Client | None = None) -> object:
    return (client or Client()).post(
        f"/api/messaging/channels/{channel}/upload-media", {"file": list(files)}
    )


@pytest.mark.parametrize("prefix", ["channels", "central-channels"])
def test_an_image_is_stored_and_served_inline_under_a_name_the_server_chose(
    prefix: str, media_root: Path
) -> None:
    response = Client().post(
        f"/api/messaging/{prefix}/{CENTRAL_CHANNEL_ID}/upload-media",
        {"file": SimpleUploadedFile("../../etc/cat photo.png", PNG, content_type="image/png")},
    )
    data = assert_ok(response)
    assert data["type"] == "image/png"
    assert data["originalName"] == "cat photo.png"
    assert data["size"] == len(PNG)
    assert data["filename"].endswith(".png") and "/" not in data["filename"]
    assert data["url"] == f"/media/uploads/channels/{CENTRAL_CHANNEL_ID}/{data['filename']}"
    assert list(media_root.rglob("*.png")) == [
        media_root / "uploads" / "channels" / str(CENTRAL_CHANNEL_ID) / data["filename"]
    ]

    served = Client().get(data["url"])
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert b"".join(served.streaming_content) == PNG
    assert "attachment" not in served.get("Content-Disposition", "")


def test_a_text_file_is_served_as_an_attachment() -> None:
    data = assert_ok(
        _upload(CENTRAL_CHANNEL_ID, SimpleUploadedFile("a.txt", b"<script>", "text/plain"))
    )
    served = Client().get(data["url"])
    assert served["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize(
    ("files", "status", "code"),
    [
        ([], 400, "NO_FILE"),
        ([SimpleUploadedFile("x.html", b"<b>", "text/html")], 400, "INVALID_FILE_TYPE"),
        ([SimpleUploadedFile("x.svg", b"<svg/>", "image/svg+xml")], 400, "INVALID_FILE_TYPE"),
        ([SimpleUploadedFile("x.png", b"", "image/png")], 400, "EMPTY_FILE"),
        (
            [SimpleUploadedFile("a.png", PNG, "image/png"), SimpleUploadedFile("b.png", PNG)],
            400,
            "NO_FILE",
        ),
    ],
    ids=["none", "html", "svg", "empty", "two"],
)
def test_bad_uploads_are_refused_and_store_nothing(
    files: list[SimpleUploadedFile], status: int, code: str, media_root: Path
) -> None:
    assert_error(_upload(CENTRAL_CHANNEL_ID, *files), status, code)
    assert not any(media_root.rglob("*.*"))


def test_an_upload_to_an_unknown_or_malformed_channel_is_refused(media_root: Path) -> None:
    image = SimpleUploadedFile("a.png", PNG, "image/png")
    assert_error(_upload(new_id(), image), 404, "CHANNEL_NOT_FOUND")
    assert_error(_upload("not-a-uuid", image), 400)
    assert not any(media_root.rglob("*.*"))


def test_a_json_body_is_not_an_upload() -> None:
    response = Client().post(
        f"/api/messaging/channels/{CENTRAL_CHANNEL_ID}/upload-media",
        data="{}",
        content_type="application/json",
    )
    assert_error(response, 400, "INVALID_CONTENT_TYPE")


@pytest.mark.parametrize(
    "path",
    [
        f"{CENTRAL_CHANNEL_ID}/..%2F..%2Fsettings.py",
        f"{CENTRAL_CHANNEL_ID}/1-abc.png",
        f"{CENTRAL_CHANNEL_ID}/elizabus.sqlite3",
        "not-a-uuid/1-abc.png",
    ],
)
def test_only_stored_files_are_served(path: str) -> None:
    assert Client().get(f"/media/uploads/channels/{path}").status_code == 404


# --- POST /api/media/agents/:agentId/upload-media (the UI's DM attachments) ---------------------
def test_an_agents_image_is_stored_and_served_inline_with_its_content_type(
    media_root: Path,
) -> None:
    agent = factories.make_agent()
    response = Client().post(
        f"/api/media/agents/{agent.entity_id}/upload-media",
        {"file": SimpleUploadedFile("cat.png", PNG, content_type="image/png")},
    )
    data = assert_ok(response)
    # The reference answers the elizaOS content type here, the MIME type on the channel route.
    assert data["type"] == "image"
    assert (data["originalName"], data["size"]) == ("cat.png", len(PNG))
    assert data["url"] == f"/media/uploads/agents/{agent.entity_id}/{data['filename']}"
    assert list(media_root.rglob("*.png")) == [
        media_root / "uploads" / "agents" / str(agent.entity_id) / data["filename"]
    ]
    served = Client().get(data["url"])
    assert (served.status_code, served["Content-Type"]) == (200, "image/png")
    assert b"".join(served.streaming_content) == PNG
    # Not a channel's file.
    channel_url = f"/media/uploads/channels/{agent.entity_id}/{data['filename']}"
    assert Client().get(channel_url).status_code == 404


def test_an_agent_upload_is_refused_like_a_channel_upload(media_root: Path) -> None:
    agent = factories.make_agent()
    image = SimpleUploadedFile("a.png", PNG, "image/png")
    url = f"/api/media/agents/{agent.entity_id}/upload-media"
    assert_error(Client().post(url, {"file": []}), 400, "NO_FILE")
    html = SimpleUploadedFile("x.html", b"<b>", "text/html")
    assert_error(Client().post(url, {"file": html}), 400, "INVALID_FILE_TYPE")
    unknown = f"/api/media/agents/{new_id()}/upload-media"
    assert_error(Client().post(unknown, {"file": image}), 404, "AGENT_NOT_FOUND")
    assert_error(Client().post("/api/media/agents/nope/upload-media", {"file": image}), 400)
    assert not any(media_root.rglob("*.*"))
    assert Client().get(f"/media/uploads/agents/{agent.entity_id}/1-abc.png").status_code == 404
