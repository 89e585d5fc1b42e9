"""The ASGI application: ``/api/`` runs through its own lean middleware list, which must still
guard the key, answer CORS and serve the API; everything else through Django's full list."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from channels.testing import HttpCommunicator
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections

from elizabus.asgi import start_requests_without_sync_code
from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID, Message
from project.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def _get(path: str, *headers: tuple[bytes, bytes], host: bytes = b"localhost") -> dict:
    communicator = HttpCommunicator(application, "GET", path, headers=[(b"host", host), *headers])
    return await communicator.get_response()


async def test_the_api_answers_through_its_own_handler() -> None:
    response = await _get("/api/messaging/message-server/current")
    assert response["status"] == 200
    body = json.loads(response["body"])
    assert body == {
        "success": True,
        "data": {"messageServerId": "0" * 8 + "-0000-0000-0000-" + "0" * 12},
    }


async def test_a_message_post_is_stored_and_throttled_through_the_api_handler(settings) -> None:
    """The post skips DRF's request; on the API's lean middleware there is no ``request.user``
    for the throttle to ask about."""
    settings.ELIZABUS = {**settings.ELIZABUS, "API_RATE": "1/min"}
    await sync_to_async(cache.clear)()
    path = f"/api/messaging/channels/{uuid.uuid4()}/messages"
    body = {
        "author_id": str(uuid.uuid4()),
        "content": "hi",
        "message_server_id": str(DEFAULT_SERVER_ID),
    }
    headers = [(b"host", b"localhost"), (b"content-type", b"application/json")]

    answers = [
        await HttpCommunicator(
            application, "POST", path, body=json.dumps(body).encode(), headers=headers
        ).get_response()
        for _ in range(2)
    ]

    assert [answer["status"] for answer in answers] == [201, 429]
    assert json.loads(answers[0]["body"])["data"]["content"] == "hi"
    assert await Message.objects.filter(content="hi").acount() == 1


async def test_the_api_handler_enforces_the_key(settings) -> None:
    settings.ELIZA_SERVER_AUTH_TOKEN = "s3cret"
    refused = await _get("/api/messaging/message-servers")
    assert refused["status"] == 401
    allowed = await _get("/api/messaging/message-servers", (b"x-api-key", b"s3cret"))
    assert allowed["status"] == 200


async def test_the_api_handler_checks_the_host() -> None:
    response = await _get("/api/messaging/message-servers", host=b"evil.example")
    assert response["status"] == 400
    assert json.loads(response["body"])["error"]["message"] == "Invalid Host header"


async def test_the_api_handler_answers_cors(settings) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["http://chat.example"]
    response = await _get("/api/messaging/message-servers", (b"origin", b"http://chat.example"))
    headers = {name.lower(): value for name, value in response["headers"]}
    assert headers[b"access-control-allow-origin"] == b"http://chat.example"


async def test_other_paths_keep_the_full_middleware() -> None:
    response = await _get("/admin/login/")
    assert response["status"] == 200
    headers = {name.lower(): value for name, value in response["headers"]}
    assert headers[b"x-frame-options"] == b"DENY"
    assert b"csrftoken" in headers.get(b"set-cookie", b"")


MIB = 1024 * 1024
CHUNK = 64 * 1024


async def _chunked(
    path: str, body: bytes, content_type: bytes, chunk: int = CHUNK
) -> tuple[dict, int]:
    """``body`` POSTed in chunks without a Content-Length, as ``Transfer-Encoding: chunked``
    reaches the application; also how much was sent before the application answered."""
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "headers": [(b"host", b"localhost"), (b"content-type", content_type)],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(application, scope)
    chunks = [body[start : start + chunk] for start in range(0, len(body), chunk)]
    sent = 0
    for index, chunk in enumerate(chunks):
        if not communicator.output_queue.empty():
            # The application answered before the body's end: the client stops sending.
            break
        more = index < len(chunks) - 1
        await communicator.send_input({"type": "http.request", "body": chunk, "more_body": more})
        sent += len(chunk)
        # As a network would pace it, leaving the application time to answer early.
        await asyncio.sleep(0.001)
    start = await communicator.receive_output(10)
    answer = await communicator.receive_output(10)
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(10)
    return {"status": start["status"], "body": answer["body"]}, sent


async def test_a_chunked_json_body_over_2_mib_is_a_413_in_the_envelope() -> None:
    path = f"/api/messaging/channels/{uuid.uuid4()}/messages"
    body = json.dumps({"content": "x" * (3 * MIB)}).encode()
    response, _ = await _chunked(path, body, b"application/json")
    assert response["status"] == 413
    assert json.loads(response["body"]) == {
        "success": False,
        "error": {"code": "PAYLOAD_TOO_LARGE", "message": f"Request body exceeds {2 * MIB} bytes"},
    }
    assert await Message.objects.acount() == 0


async def test_a_small_chunked_json_body_is_read() -> None:
    path = f"/api/messaging/channels/{uuid.uuid4()}/messages"
    body = {
        "author_id": str(uuid.uuid4()),
        "content": "y" * (60 * 1024),
        "message_server_id": str(DEFAULT_SERVER_ID),
    }
    response, _ = await _chunked(path, json.dumps(body).encode(), b"application/json", 4096)
    assert response["status"] == 201, response["body"][:300]


def _multipart(size: int) -> tuple[bytes, bytes]:
    boundary = b"elizabus-boundary"
    body = (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n"
        + b"\x89PNG\r\n\x1a\n"
        + b"\x00" * size
        + b"\r\n--"
        + boundary
        + b"--\r\n"
    )
    return body, b"multipart/form-data; boundary=" + boundary


async def test_a_chunked_upload_may_pass_2_mib(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path
    body, content_type = _multipart(3 * MIB)
    response, _ = await _chunked(
        f"/api/messaging/channels/{CENTRAL_CHANNEL_ID}/upload-media", body, content_type
    )
    assert response["status"] == 200, response["body"][:300]
    assert json.loads(response["body"])["data"]["size"] == 3 * MIB + 8


async def test_a_chunked_upload_over_50_mib_is_refused_before_it_is_all_read(
    settings, tmp_path
) -> None:
    settings.MEDIA_ROOT = tmp_path
    body, content_type = _multipart(60 * MIB)
    response, sent = await _chunked(
        f"/api/messaging/channels/{CENTRAL_CHANNEL_ID}/upload-media", body, content_type
    )
    assert response["status"] == 413
    assert json.loads(response["body"])["error"]["code"] == "PAYLOAD_TOO_LARGE"
    # Answered soon after the 50 MiB were read (Django alone reads all 60 before answering).
    assert sent < 58 * MIB
    assert not list(tmp_path.rglob("*.png"))


async def test_a_body_that_stops_arriving_is_answered_408(settings) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "BODY_READ_TIMEOUT_SECONDS": 0.2}
    path = f"/api/messaging/channels/{uuid.uuid4()}/messages"
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "headers": [(b"host", b"localhost"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b'{"con', "more_body": True})
    start = await communicator.receive_output(5)
    answer = await communicator.receive_output(5)
    assert start["status"] == 408
    assert json.loads(answer["body"]) == {
        "success": False,
        "error": {"code": "REQUEST_TIMEOUT", "message": "The request body did not arrive in time"},
    }
    await communicator.wait(5)


def test_requests_start_without_sync_code_and_end_with_the_connection_checks() -> None:
    """Django sends ``request_started`` on a trip to the sync thread when any of its receivers
    is sync; elizabus.asgi takes Django's two off it. A Django release that connects another
    would bring the trip back to every request, and one that stops closing old connections at
    a request's end would keep a failed connection: this fails then."""
    start_requests_without_sync_code()

    assert not signals.request_started.has_listeners()
    assert signals.request_finished.disconnect(close_old_connections)
    signals.request_finished.connect(close_old_connections)
