"""What guards every ``/api`` route (docs/errors.md, "Limits"): the API key, the body (JSON
object, content type, size), the limits on content and metadata, UUID path ids, and the 404/405
envelopes.

Each rule is checked on every route it applies to, and a refused write must leave no row behind.
"""

from __future__ import annotations

import json

import pytest

from elizabus.models import Message
from tests import factories

from .helpers import ZERO, assert_error, assert_ok

KIB = 1024
ALICE = "11111111-1111-4111-8111-111111111111"

# Every route, as (method, path); {c} is a channel, {m} a message and {a} an agent of ``ids``.
ROUTES = [
    ("POST", "submit"),
    ("POST", "action"),
    ("PATCH", "action/{m}"),
    ("POST", "ingest-external"),
    ("POST", "complete"),
    ("GET", "metrics"),
    ("GET", "message-server/current"),
    ("GET", "message-servers"),
    ("POST", "message-servers"),
    ("POST", "servers"),
    ("GET", "central-servers"),
    ("GET", f"message-servers/{ZERO}/agents"),
    ("POST", f"message-servers/{ZERO}/agents"),
    ("DELETE", f"message-servers/{ZERO}/agents/{{a}}"),
    ("GET", "agents/{a}/message-servers"),
    ("GET", f"message-servers/{ZERO}/channels"),
    ("GET", "dm-channel"),
    ("POST", "channels"),
    ("PATCH", "channels/{c}"),
    ("DELETE", "channels/{c}"),
    ("GET", "channels/{c}/details"),
    ("GET", "channels/{c}/participants"),
    ("GET", "channels/{c}/agents"),
    ("POST", "channels/{c}/agents"),
    ("DELETE", "channels/{c}/agents/{a}"),
    ("GET", "channels/{c}/messages"),
    ("POST", "channels/{c}/messages"),
    ("DELETE", "channels/{c}/messages"),
    ("DELETE", "channels/{c}/messages/{m}"),
    ("GET", "/api/agents"),
]
WRITES = [(method, path) for method, path in ROUTES if method in {"POST", "PATCH"}]
# Routes with an id in their path, the id replaced by something that is not a UUID.
ID_ROUTES = [
    (method, path.replace(placeholder, "not-a-uuid", 1))
    for method, path in ROUTES
    for placeholder in ("{c}", "{m}", "{a}")
    if placeholder in path
] + [
    ("GET", "message-servers/0/agents"),
    ("GET", "central-servers/123/channels"),
    ("DELETE", f"servers/{ZERO}/agents/{ZERO[:-1]}"),
    ("GET", f"channels/{ZERO}x/details"),
    ("GET", f"channels/{ZERO}%0A/details"),
]


@pytest.fixture
def ids(room) -> dict[str, str]:
    message = factories.make_message(channel_id=room.channel.id, author_id=room.alice)
    return {"c": room.id, "m": str(message.id), "a": str(room.agent.pk)}


# --- API key ------------------------------------------------------------------------------------


@pytest.fixture
def api_key(settings) -> str:
    settings.ELIZA_SERVER_AUTH_TOKEN = "s3cret-key"
    return settings.ELIZA_SERVER_AUTH_TOKEN


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_the_api_key(api, api_key, ids, unchanged, method, path):
    with unchanged():
        error = assert_error(api.empty(method, path.format(**ids)), 401, "UNAUTHORIZED")
    assert error["message"] == "Missing or invalid X-API-KEY header"


@pytest.mark.parametrize("key", ["", "wrong", "s3cret-key ", "S3CRET-KEY", "s3cret"])
def test_only_the_exact_api_key_is_accepted(api, api_key, key):
    response = api.request("GET", "message-servers", HTTP_X_API_KEY=key)
    assert_error(response, 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    ("path", "status"), [("message-servers", 200), ("/api/nowhere", 404), ("/metrics", 200)]
)
def test_the_right_api_key_opens_the_api(api, api_key, path, status):
    assert api.request("GET", path, HTTP_X_API_KEY=api_key).status_code == status


@pytest.mark.parametrize("path", ["/healthz", "/health"])
def test_health_needs_no_api_key(api, api_key, path):
    assert api.client.get(path).status_code in {200, 503}


@pytest.mark.parametrize("path", ["message-servers", "/metrics"])
def test_cors_preflight_needs_no_api_key(api, api_key, path):
    response = api.client.options(
        api.url(path), HTTP_ORIGIN="http://ui.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert (response.status_code, response.content) == (200, b"")


@pytest.mark.parametrize("method", ["OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE"])
@pytest.mark.parametrize("path", ["message-servers", "/metrics"])
def test_every_method_needs_the_api_key(api, api_key, metrics, method, path):
    response = api.client.generic(method, api.url(path))
    assert_error(response, 401, "UNAUTHORIZED")
    assert b"elizabus_" not in response.content


@pytest.mark.parametrize("method", ["OPTIONS", "POST", "PUT", "DELETE"])
def test_metrics_answer_get_and_head_only(api, api_key, metrics, method):
    response = api.client.generic(method, "/metrics", HTTP_X_API_KEY=api_key)
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response["Allow"] == "GET, HEAD"
    for allowed in ("GET", "HEAD"):
        assert api.client.generic(allowed, "/metrics", HTTP_X_API_KEY=api_key).status_code == 200


def test_unknown_api_paths_ask_for_the_key_first(api, api_key):
    assert_error(api.client.get("/api/nowhere"), 401, "UNAUTHORIZED")


# --- the body: JSON object, content type, size --------------------------------------------------


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_malformed_json_is_refused(api, ids, unchanged, method, path):
    with unchanged():
        response = api.request(method, path.format(**ids), data='{"content": "hi",')
        assert_error(response, 400, "INVALID_JSON")


@pytest.mark.parametrize("content_type", ["text/plain", ""])
@pytest.mark.parametrize(("method", "path"), WRITES)
def test_a_body_that_is_not_json_is_refused(api, ids, unchanged, method, path, content_type):
    with unchanged():
        response = api.request(method, path.format(**ids), data="hello", content_type=content_type)
        error = assert_error(response, 400, "INVALID_CONTENT_TYPE")
    assert error["message"] == "Invalid or missing Content-Type header"


@pytest.mark.parametrize("body", [["content"], "hello", None])
@pytest.mark.parametrize(("method", "path"), WRITES)
def test_a_json_body_that_is_not_an_object_is_refused(api, ids, unchanged, method, path, body):
    with unchanged():
        response = api.request(method, path.format(**ids), data=json.dumps(body))
        assert_error(response, 400, "INVALID_BODY")


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_a_body_over_2_mib_is_refused(api, ids, unchanged, method, path):
    body = {"content": "x" * (2 * KIB * KIB), "name": "n"}
    with unchanged():
        response = api.request(method, path.format(**ids), body)
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")


# The writes of other views, whose bodies DRF parses.
OTHER_WRITES = [
    ("POST", "/api/agents"),
    ("PATCH", "/api/agents/{a}"),
    ("POST", "sessions"),
    ("POST", "jobs"),
]


def nested(depth: int) -> str:
    return '{"metadata": ' + "[" * depth + "]" * depth + ', "name": "n"}'


@pytest.mark.parametrize("depth", [100, 100_000])
@pytest.mark.parametrize(("method", "path"), WRITES + OTHER_WRITES)
def test_a_body_nested_too_deep_is_refused(api, ids, unchanged, method, path, depth):
    with unchanged():
        response = api.request(method, path.format(**ids), data=nested(depth))
        error = assert_error(response, 400, "JSON_TOO_DEEP")
    assert error["message"] == "JSON is nested deeper than 100 levels"


def test_a_body_nested_100_deep_is_read(api, room):
    metadata = json.loads(nested(98))["metadata"]
    body = {
        "author_id": ALICE,
        "message_server_id": ZERO,
        "content": "hi",
        "metadata": {"a": metadata},
    }
    assert_ok(api.post(room.messages, body), 201)


@pytest.mark.parametrize(("method", "path"), WRITES + OTHER_WRITES)
def test_a_lone_surrogate_is_malformed_json(api, ids, unchanged, method, path):
    with unchanged():
        response = api.request(
            method, path.format(**ids), data='{"content": "a\\ud800", "name": "\\udc00"}'
        )
        assert_error(response, 400, "INVALID_JSON")


# --- content and metadata limits ----------------------------------------------------------------


def message_routes(room) -> dict[str, tuple[str, str, dict[str, object]]]:
    """Each route that stores message text, with a valid body for it."""
    reply = {
        "channel_id": room.id,
        "message_server_id": ZERO,
        "author_id": str(room.agent.pk),
        "source_type": "agent_response",
        "raw_message": {},
    }
    return {
        "post": ("POST", room.messages, {"author_id": ALICE, "message_server_id": ZERO}),
        "submit": ("POST", "submit", reply),
        "action": ("POST", "action", reply),
        "ingest-external": ("POST", "ingest-external", reply),
    }


MESSAGE_ROUTES = ["post", "submit", "action", "ingest-external"]


@pytest.mark.parametrize(
    ("content", "status"),
    [
        ("x" * (64 * KIB), 201),
        ("é" * (32 * KIB), 201),
        ("x" * (64 * KIB + 1), 413),
        ("é" * (32 * KIB) + "x", 413),
    ],
    ids=["64KiB", "64KiB-two-byte-chars", "64KiB+1", "64KiB+1-two-byte-chars"],
)
@pytest.mark.parametrize("route", MESSAGE_ROUTES)
def test_message_content_is_limited_to_64_kib_of_utf8(api, room, unchanged, route, content, status):
    method, path, body = message_routes(room)[route]
    if status == 413:
        with unchanged():
            response = api.request(method, path, {**body, "content": content})
            assert_error(response, 413, "CONTENT_TOO_LARGE")
    else:
        assert api.request(method, path, {**body, "content": content}).status_code in {201, 202}
        assert Message.objects.get().content == content


def test_patched_action_content_is_limited_too(api, ids, unchanged):
    with unchanged():
        response = api.patch(f"action/{ids['m']}", {"content": "x" * (64 * KIB + 1)})
        assert_error(response, 413, "CONTENT_TOO_LARGE")


def big_metadata(size: int) -> dict[str, str]:
    """A JSON object of exactly ``size`` bytes, serialised compactly."""
    return {"k": "x" * (size - len('{"k":""}'))}


METADATA_ROUTES = [
    ("POST", "channels/{c}/messages", {"author_id": ALICE, "content": "hi"}),
    ("POST", "submit", None),
    ("POST", "ingest-external", None),
    ("PATCH", "action/{m}", {}),
    ("POST", "channels", {"name": "n", "participantCentralUserIds": []}),
    ("PATCH", "channels/{c}", {}),
    ("POST", "message-servers", {"name": "n", "sourceType": "t"}),
]


@pytest.mark.parametrize(("method", "path", "body"), METADATA_ROUTES)
def test_metadata_is_limited_to_16_kib(api, ids, unchanged, method, path, body):
    if body is None:
        body = {"channel_id": ids["c"], "author_id": ids["a"], "content": "hi", "source_type": "t"}
        body["raw_message"] = {}
    body = {**body, "message_server_id": ZERO}
    path = path.format(**ids)

    with unchanged():
        response = api.request(method, path, {**body, "metadata": big_metadata(16 * KIB + 1)})
        assert_error(response, 413, "METADATA_TOO_LARGE")
    assert api.request(method, path, {**body, "metadata": big_metadata(16 * KIB)}).status_code < 300


def test_raw_message_gets_room_for_the_text_and_its_metadata(api, room, unchanged):
    method, path, body = message_routes(room)["submit"]
    raw = big_metadata(80 * KIB + 1)

    with unchanged():
        response = api.request(method, path, {**body, "content": "hi", "raw_message": raw})
        assert_error(response, 413, "RAW_MESSAGE_TOO_LARGE")


# --- ids, unknown paths and methods -------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ID_ROUTES)
def test_ids_in_paths_must_be_uuids(api, ids, unchanged, method, path):
    with unchanged():
        error = assert_error(api.empty(method, path.format(**ids)), 400, "INVALID_ID")
    assert error["message"].startswith("Invalid ")


def test_uuids_are_read_in_either_case(api, room):
    assert assert_ok(api.get(f"channels/{room.id.upper()}/details"))["id"] == room.id


def test_a_uuid_followed_by_a_newline_is_refused_in_a_body(api, room, unchanged):
    body = {"author_id": ALICE + "\n", "content": "hi", "message_server_id": ZERO}
    with unchanged():
        assert_error(api.request("POST", room.messages, body), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "path",
    [
        "/api/nowhere",
        "/api/messaging/nowhere",
        "/api/messaging/channels/{c}/nowhere",
        "/api/messaging/channels/{c}/messages/{m}/nowhere",
        "/api/messaging/message-servers/",
        "/api/messaging/",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_api_paths_answer_the_404_envelope(api, ids, method, path):
    response = api.empty(method, path.format(**ids))
    error = assert_error(response, 404, "NOT_FOUND")
    assert error["message"] == "API endpoint not found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "channels"),
        ("GET", "submit"),
        ("DELETE", "dm-channel"),
        ("POST", "channels/{c}/details"),
        ("PATCH", "channels/{c}/messages"),
    ],
)
def test_a_wrong_method_answers_the_405_envelope(api, ids, unchanged, method, path):
    with unchanged():
        assert_error(api.empty(method, path.format(**ids)), 405, "METHOD_NOT_ALLOWED")
