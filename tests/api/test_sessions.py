"""``/api/messaging/sessions...``: every route with the reference's shapes, the cases of the
reference's own unit tests (``sessions.test.ts``), and bad input of every kind answered with a
4xx in the one error shape.

The ``http`` and ``sse`` transports run against real agents, through the ASGI path, at the end.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from elizabus import services
from elizabus.models import Channel, Message, Session
from tests import factories
from tests.agents.conftest import AGENT_DB, Stage, stage
from tests.agents.helpers import ECHO
from tests.api.helpers import Api, assert_error, new_id

__all__ = ["stage"]  # the fixture, shared with tests/agents

SESSION_KEYS = {
    "sessionId",
    "channelId",
    "agentId",
    "userId",
    "createdAt",
    "lastActivity",
    "metadata",
    "expiresAt",
    "timeoutConfig",
    "renewalCount",
    "timeRemaining",
    "isNearExpiration",
}
MUTATIONS = [("POST", "renew"), ("PATCH", "timeout"), ("POST", "heartbeat")]


@pytest.fixture
def agent(db: None) -> str:
    return str(factories.make_agent(name="Eliza").pk)


def create(api: Api, agent: str, **body: Any) -> dict[str, Any]:
    response = api.post("sessions", {"agentId": agent, "userId": new_id(), **body})
    assert response.status_code == 201, response.content
    return response.json()


def send(api: Api, session_id: str, content: str = "hello", **body: Any) -> Any:
    return api.post(f"sessions/{session_id}/messages", {"content": content, **body})


def expire(session_id: str, minutes: float = 31) -> None:
    """The session as it is ``minutes`` later."""
    delta = dt.timedelta(minutes=minutes)
    session = Session.objects.get(id=session_id)
    Session.objects.filter(id=session_id).update(
        created_at=session.created_at - delta,
        last_activity=session.last_activity - delta,
        expires_at=session.expires_at - delta,
    )


# --- create ---------------------------------------------------------------------------------------
def test_create_answers_the_session_without_an_envelope(api: Api, agent: str) -> None:
    user = new_id()
    response = api.post("sessions", {"agentId": agent, "userId": user, "metadata": {"a": 1}})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "sessionId",
        "channelId",
        "agentId",
        "userId",
        "createdAt",
        "metadata",
        "expiresAt",
        "timeoutConfig",
    }
    uuid.UUID(body["sessionId"]), uuid.UUID(body["channelId"])
    assert (body["agentId"], body["userId"], body["metadata"]) == (agent, user, {"a": 1})
    assert body["timeoutConfig"] == {
        "timeoutMinutes": 30,
        "autoRenew": True,
        "maxDurationMinutes": 720,
        "warningThresholdMinutes": 5,
    }
    assert body["createdAt"].endswith("Z") and body["expiresAt"] > body["createdAt"]
    assert Channel.objects.get(id=body["channelId"]).name == f"session-{body['sessionId']}"


def test_a_custom_timeout_config_is_echoed(api: Api, agent: str) -> None:
    config = {"timeoutMinutes": 60, "autoRenew": False, "maxDurationMinutes": 120}
    assert create(api, agent, timeoutConfig=config)["timeoutConfig"] == {
        **config,
        "warningThresholdMinutes": 5,
    }


@pytest.mark.parametrize("junk", ["NaN", "Infinity", "-Infinity", "abc", "0x10", "", "1e9"])
def test_junk_timeouts_fall_back_to_finite_bounded_values(api: Api, agent: str, junk: str) -> None:
    config = create(api, agent, timeoutConfig={"timeoutMinutes": junk, "maxDurationMinutes": junk})
    minutes = config["timeoutConfig"]["timeoutMinutes"]
    assert 5 <= minutes <= 1440
    assert minutes <= config["timeoutConfig"]["maxDurationMinutes"] <= 2880


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({}, 400, "VALIDATION_ERROR", "Missing required fields: agentId, userId"),
        ({"agentId": 5, "userId": new_id()}, 400, "VALIDATION_ERROR", "Missing required"),
        ({"agentId": "x", "userId": new_id()}, 400, "VALIDATION_ERROR", "field 'agentId'"),
        ({"agentId": new_id(), "userId": "x"}, 400, "VALIDATION_ERROR", "field 'userId'"),
        ({"agentId": new_id(), "userId": new_id()}, 404, "AGENT_NOT_FOUND", "not found"),
    ],
)
def test_create_refuses_bad_ids_and_unknown_agents(
    api: Api, body: dict[str, Any], status: int, code: str, message: str, unchanged: Any
) -> None:
    with unchanged():
        error = assert_error(api.post("sessions", body), status, code)
    assert message in error["message"]


@pytest.mark.parametrize(
    "extra",
    [
        {"metadata": []},
        {"metadata": "text"},
        {"timeoutConfig": "long"},
        {"timeoutConfig": {"autoRenew": "yes"}},
        {"timeoutConfig": {"timeoutMinutes": [5]}},
        {"timeoutConfig": {"timeoutMinutes": True}},
    ],
)
def test_create_refuses_bad_metadata_and_timeouts(
    api: Api, agent: str, extra: dict[str, Any], unchanged: Any
) -> None:
    with unchanged():
        assert_error(api.post("sessions", {"agentId": agent, "userId": new_id(), **extra}), 400)


def test_create_refuses_oversized_metadata(api: Api, agent: str, unchanged: Any) -> None:
    with unchanged():
        response = api.post(
            "sessions", {"agentId": agent, "userId": new_id(), "metadata": {"x": "y" * 10_240}}
        )
        assert_error(response, 413, "METADATA_TOO_LARGE")


def test_a_disabled_agent_gets_no_session(api: Api, agent: str, unchanged: Any) -> None:
    services.agent_set_enabled(agent_id=uuid.UUID(agent), enabled=False)
    with unchanged():
        assert_error(api.post("sessions", {"agentId": agent, "userId": new_id()}), 404)


# --- read, list, health, delete -------------------------------------------------------------------
def test_get_answers_the_session_info(api: Api, agent: str) -> None:
    created = create(api, agent)
    response = api.get(f"sessions/{created['sessionId']}")
    assert response.status_code == 200
    info = response.json()
    assert set(info) == SESSION_KEYS
    assert info["renewalCount"] == 0 and info["isNearExpiration"] is False
    assert 29 * 60_000 < info["timeRemaining"] <= 30 * 60_000
    assert {key: info[key] for key in created} == created


def test_list_and_health_count_active_sessions_only(api: Api, agent: str) -> None:
    live, stale = create(api, agent), create(api, agent)
    expire(stale["sessionId"])
    listed = api.get("sessions").json()
    assert [s["sessionId"] for s in listed["sessions"]] == [live["sessionId"]]
    assert listed["total"] == 1
    assert listed["stats"] == {"totalSessions": 2, "activeSessions": 1, "expiredSessions": 1}
    health = api.get("sessions/health").json()
    assert set(health) == {"status", "activeSessions", "timestamp", "expiringSoon", "uptime"}
    assert (health["status"], health["activeSessions"], health["expiringSoon"]) == (
        "healthy",
        1,
        0,
    )


def test_health_counts_the_sessions_about_to_expire(api: Api, agent: str) -> None:
    expire(create(api, agent)["sessionId"], minutes=27)  # three minutes left, warned at five
    assert api.get("sessions/health").json()["expiringSoon"] == 1


def test_delete_ends_the_session_and_keeps_its_channel(api: Api, agent: str) -> None:
    created = create(api, agent)
    response = api.delete(f"sessions/{created['sessionId']}")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and "deleted successfully" in body["message"]
    assert body["data"] == {"success": True, "message": body["message"]}
    assert_error(api.get(f"sessions/{created['sessionId']}"), 404, "SESSION_NOT_FOUND")
    assert Channel.objects.filter(id=created["channelId"]).exists()


# --- unknown, malformed, expired -------------------------------------------------------------
ROUTES = [
    ("GET", ""),
    ("DELETE", ""),
    ("GET", "/messages"),
    ("POST", "/messages"),
    *[(method, f"/{path}") for method, path in MUTATIONS],
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_an_unknown_session_is_404(api: Api, method: str, path: str) -> None:
    body = {"content": "hi"} if path == "/messages" else {}
    response = api.request(method, f"sessions/{new_id()}{path}", body if method != "GET" else None)
    assert_error(response, 404, "SESSION_NOT_FOUND")


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1234", "%27%20OR%201%3D1", "%00", "🙂"])
def test_a_malformed_session_id_is_400(api: Api, method: str, path: str, bad_id: str) -> None:
    body = {"content": "hi"} if path == "/messages" else {}
    response = api.request(method, f"sessions/{bad_id}{path}", body if method != "GET" else None)
    assert_error(response, 400, "INVALID_ID")


@pytest.mark.parametrize(("method", "path"), [route for route in ROUTES if route != ("DELETE", "")])
def test_an_expired_session_is_410_and_deleted(
    api: Api, agent: str, method: str, path: str
) -> None:
    created = create(api, agent)
    expire(created["sessionId"])
    body = {"content": "hi"} if path == "/messages" else {}
    response = api.request(
        method, f"sessions/{created['sessionId']}{path}", body if method != "GET" else None
    )
    error = assert_error(response, 410, "SESSION_EXPIRED")
    assert created["sessionId"] in error["message"]
    assert not Session.objects.filter(id=created["sessionId"]).exists()
    assert not Message.objects.filter(channel_id=created["channelId"]).exists()


# --- sending ----------------------------------------------------------------------------------
def test_send_stores_the_message_and_renews(api: Api, agent: str) -> None:
    created = create(api, agent, metadata={"ethAddress": "0xabc", "platform": "web"})
    response = send(api, created["sessionId"], "Men are all alike.", metadata={"k": "v"})
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True and "agentResponse" not in body
    user_message = body["userMessage"]
    assert user_message["content"] == "Men are all alike."
    assert user_message["authorId"] == user_message["author_id"] == created["userId"]
    assert user_message["channel_id"] == created["channelId"]
    assert user_message["source_type"] == "user"
    metadata = user_message["metadata"]
    assert metadata["sessionId"] == created["sessionId"]
    assert (metadata["ethAddress"], metadata["platform"], metadata["k"]) == ("0xabc", "web", "v")
    status = body["sessionStatus"]
    assert set(status) == {"expiresAt", "renewalCount", "wasRenewed", "isNearExpiration"}
    assert (status["renewalCount"], status["wasRenewed"]) == (1, True)
    assert status["expiresAt"] >= created["expiresAt"]
    # The SDK returns ``data`` of a body that has ``success``.
    assert body["data"] == {key: value for key, value in body.items() if key != "data"}
    assert Message.objects.get(id=user_message["id"]).author_id == uuid.UUID(created["userId"])


@pytest.mark.parametrize(
    ("transport", "message"),
    [
        ("carrier-pigeon", "Invalid transport"),
        (42, "Transport must be a string"),
        (None, "Transport must be a string"),
    ],
)
def test_a_bad_transport_is_400(
    api: Api, agent: str, transport: Any, message: str, unchanged: Any
) -> None:
    session = create(api, agent)["sessionId"]
    with unchanged():
        error = assert_error(send(api, session, transport=transport), 400, "VALIDATION_ERROR")
    assert message in error["message"]


def test_a_legacy_mode_is_accepted(api: Api, agent: str) -> None:
    response = send(api, create(api, agent)["sessionId"], mode="websocket")
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "VALIDATION_ERROR"),
        ({"content": ""}, 400, "VALIDATION_ERROR"),
        ({"content": 5}, 400, "VALIDATION_ERROR"),
        ({"content": None}, 400, "VALIDATION_ERROR"),
        ({"content": "x" * 4001}, 413, "CONTENT_TOO_LARGE"),
        ({"content": "hi", "metadata": ["x"]}, 400, "VALIDATION_ERROR"),
        ({"content": "hi", "metadata": {"x": "y" * 10_240}}, 413, "METADATA_TOO_LARGE"),
        ({"content": "hi", "attachments": "a.png"}, 400, "VALIDATION_ERROR"),
        ({"content": "hi", "attachments": [1, 2]}, 400, "VALIDATION_ERROR"),
        (
            {"content": "hi", "attachments": [{"url": "x" * 20_000}]},
            413,
            "ATTACHMENTS_TOO_LARGE",
        ),
    ],
)
def test_send_refuses_bad_content(
    api: Api, agent: str, body: dict[str, Any], status: int, code: str, unchanged: Any
) -> None:
    session = create(api, agent)["sessionId"]
    with unchanged():
        assert_error(api.post(f"sessions/{session}/messages", body), status, code)


def test_the_longest_content_and_hostile_text_are_stored_as_sent(api: Api, agent: str) -> None:
    session = create(api, agent)["sessionId"]
    for text in ("x" * 4000, "'; DROP TABLE elizabus_session; --", "<script>alert(1)</script>"):
        assert send(api, session, text).status_code == 201
    contents = set(Message.objects.values_list("content", flat=True))
    assert {"x" * 4000, "<script>alert(1)</script>"} <= contents
    assert Session.objects.filter(id=session).exists()


@pytest.mark.parametrize("path", ["sessions", "sessions/{id}/messages", "sessions/{id}/timeout"])
@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', "null"])
def test_malformed_or_non_object_json_is_400(api: Api, agent: str, path: str, raw: str) -> None:
    url = path.format(id=create(api, agent)["sessionId"])
    method = "patch" if path.endswith("timeout") else "post"
    response = getattr(api.client, method)(api.url(url), data=raw, content_type="application/json")
    assert_error(response, 400)


# --- listing ----------------------------------------------------------------------------------
@pytest.fixture
def conversation(api: Api, agent: str) -> tuple[str, list[dict[str, Any]]]:
    """A session with twelve messages, a millisecond apart at least, oldest first."""
    session = create(api, agent)["sessionId"]
    sent = [send(api, session, f"message {n}").json()["userMessage"] for n in range(12)]
    return session, sent


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [message["id"] for message in response.json()["messages"]]


def test_listing_is_newest_first_with_the_references_items(
    api: Api, conversation: tuple[str, list[dict[str, Any]]]
) -> None:
    session, sent = conversation
    body = api.get(f"sessions/{session}/messages").json()
    assert [m["id"] for m in body["messages"]] == [m["id"] for m in reversed(sent)]
    assert body["hasMore"] is False
    first = body["messages"][0]
    assert set(first) == {"id", "content", "authorId", "isAgent", "createdAt", "metadata", "seq"}
    assert [m["seq"] for m in body["messages"]] == list(range(12, 0, -1))
    assert first["isAgent"] is False and first["metadata"]["sessionId"] == session
    assert body["cursors"] == {"before": sent[0]["created_at"], "after": sent[-1]["created_at"]}


def test_limit_before_and_after_page_exactly(
    api: Api, conversation: tuple[str, list[dict[str, Any]]]
) -> None:
    session, sent = conversation
    url = f"sessions/{session}/messages"
    ids = [m["id"] for m in sent]
    page = api.get(url, limit="5")
    assert _ids(page) == ids[::-1][:5] and page.json()["hasMore"] is True
    older = api.get(url, limit="5", before=str(page.json()["cursors"]["before"]))
    assert _ids(older) == ids[::-1][5:10]
    # A real ``after``: the five right after the fourth, newest first.
    assert _ids(api.get(url, limit="5", after=str(sent[3]["created_at"]))) == ids[4:9][::-1]
    newer = api.get(url, after=str(sent[9]["created_at"]))
    assert _ids(newer) == ids[10:][::-1] and newer.json()["hasMore"] is False
    window = api.get(url, after=str(sent[2]["created_at"]), before=str(sent[6]["created_at"]))
    assert _ids(window) == ids[3:6][::-1]
    assert _ids(api.get(url, after=str(sent[-1]["created_at"]))) == []


@pytest.mark.parametrize("limit", ["abc", "0", "-3", "1e3", "9999", ""])
def test_a_bad_limit_is_read_as_the_reference_reads_it(
    api: Api, conversation: tuple[str, list[dict[str, Any]]], limit: str
) -> None:
    session, _ = conversation
    assert 1 <= len(_ids(api.get(f"sessions/{session}/messages", limit=limit))) <= 12


@pytest.mark.parametrize("name", ["before", "after"])
@pytest.mark.parametrize("value", ["abc", "NaN", "--1", "x123"])
def test_a_bad_cursor_is_400(api: Api, agent: str, name: str, value: str) -> None:
    session = create(api, agent)["sessionId"]
    error = assert_error(
        api.get(f"sessions/{session}/messages", **{name: value}), 400, "VALIDATION_ERROR"
    )
    assert f"'{name}'" in error["message"]


@pytest.mark.parametrize("value", ["-99999999999999999999", "99999999999999999999", "12abc"])
def test_extreme_cursors_are_read_not_crashed_on(api: Api, agent: str, value: str) -> None:
    session = create(api, agent)["sessionId"]
    for name in ("before", "after"):
        assert api.get(f"sessions/{session}/messages", **{name: value}).status_code == 200


# --- renew, timeout, heartbeat ----------------------------------------------------------------
def test_renew_and_heartbeat_never_move_the_expiry_earlier(api: Api, agent: str) -> None:
    created = create(api, agent)
    session = created["sessionId"]
    renewed = api.post(f"sessions/{session}/renew").json()
    assert set(renewed) == SESSION_KEYS
    assert renewed["renewalCount"] == 1 and renewed["expiresAt"] >= created["expiresAt"]
    beat = api.post(f"sessions/{session}/heartbeat").json()
    assert beat["renewalCount"] == 2 and beat["expiresAt"] >= renewed["expiresAt"]
    assert beat["lastActivity"] >= renewed["lastActivity"]


def test_renew_past_the_maximum_duration_fails(api: Api, agent: str) -> None:
    config = {"timeoutMinutes": 60, "maxDurationMinutes": 60}
    session = create(api, agent, timeoutConfig=config)["sessionId"]
    stored = Session.objects.get(id=session)
    Session.objects.filter(id=session).update(
        created_at=stored.created_at - dt.timedelta(minutes=60, seconds=1)
    )
    assert_error(api.post(f"sessions/{session}/renew"), 400, "SESSION_RENEWAL_FAILED")


def test_timeout_changes_are_echoed_and_bounded(api: Api, agent: str) -> None:
    session = create(api, agent)["sessionId"]
    changed = api.patch(f"sessions/{session}/timeout", {"timeoutMinutes": 90, "autoRenew": False})
    assert changed.status_code == 200
    config = changed.json()["timeoutConfig"]
    assert (config["timeoutMinutes"], config["autoRenew"]) == (90, False)
    for minutes in (1, 4, 1441, 100_000):
        error = assert_error(
            api.patch(f"sessions/{session}/timeout", {"timeoutMinutes": minutes}),
            400,
            "VALIDATION_ERROR",
        )
        assert "between 5 and 1440" in error["message"]
    for junk in ({"autoRenew": "no"}, {"timeoutMinutes": {"n": 5}}, {"maxDurationMinutes": []}):
        assert_error(api.patch(f"sessions/{session}/timeout", junk), 400, "VALIDATION_ERROR")
    assert Session.objects.get(id=session).timeout_minutes == 90


# --- the schema -------------------------------------------------------------------------------
def test_the_schema_describes_every_sessions_route(api: Api) -> None:
    paths = json.loads(api.client.get("/api/schema/?format=json").content)["paths"]
    base = "/api/messaging/sessions"
    expected = {
        base: {"get", "post"},
        f"{base}/health": {"get"},
        f"{base}/{{session_id}}": {"get", "delete"},
        f"{base}/{{session_id}}/messages": {"get", "post"},
        f"{base}/{{session_id}}/renew": {"post"},
        f"{base}/{{session_id}}/timeout": {"patch"},
        f"{base}/{{session_id}}/heartbeat": {"post"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path


# --- transports with a real agent -------------------------------------------------------------
async def _session_with(stage: Stage, async_client: AsyncClient, **options: Any) -> str:
    agent = await sync_to_async(stage.agent)(responder=ECHO, options=options)
    response = await async_client.post(
        "/api/messaging/sessions",
        json.dumps({"agentId": str(agent), "userId": str(stage.human)}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return response.json()["sessionId"]


async def _send(async_client: AsyncClient, session: str, **body: Any) -> Any:
    return await async_client.post(
        f"/api/messaging/sessions/{session}/messages",
        json.dumps({"content": "Men are all alike.", **body}),
        content_type="application/json",
    )


@AGENT_DB
@pytest.mark.parametrize("transport", [{"transport": "http"}, {"mode": "sync"}])
async def test_http_waits_for_the_agents_answer(
    stage: Stage, async_client: AsyncClient, transport: dict[str, str]
) -> None:
    session = await _session_with(stage, async_client)
    response = await _send(async_client, session, **transport)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["agentResponse"]["text"] == "echo: Men are all alike."
    assert body["sessionStatus"]["renewalCount"] == 1
    assert body["data"]["agentResponse"] == body["agentResponse"]
    assert body["userMessage"]["content"] == "Men are all alike."


@AGENT_DB
async def test_sse_streams_the_answer(stage: Stage, async_client: AsyncClient) -> None:
    session = await _session_with(stage, async_client)
    response = await _send(async_client, session, transport="sse")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    raw = b"".join([chunk async for chunk in response.streaming_content]).decode()
    names = [line[len("event: ") :] for line in raw.split("\n") if line.startswith("event: ")]
    assert names == ["user_message", "chunk", "done"]
    assert '"text":"echo: Men are all alike."' in raw
    assert _as_the_web_ui_reads_it(raw) == ["echo: Men are all alike.", "echo: Men are all alike."]


def _as_the_web_ui_reads_it(raw: str) -> list[str]:
    """The elizaOS web UI 1.7.2's sessions chat (useSSEChat): it reads the data lines only, adds
    each ``chunk``'s ``text`` and ends with ``complete``'s; returns the text it shows after the
    chunks and at the end."""
    shown, final = "", ""
    for line in raw.split("\n"):
        if line.startswith("data: "):
            data = json.loads(line[len("data: ") :])
            if data.get("type") == "chunk":
                shown += data["text"]
            elif data.get("type") == "complete":
                final = data.get("text") or shown
    return [shown, final]


@AGENT_DB
async def test_websocket_answers_at_once_and_the_reply_lands_in_the_session(
    stage: Stage, async_client: AsyncClient
) -> None:
    session = await _session_with(stage, async_client)
    response = await _send(async_client, session)
    assert response.status_code == 201 and "agentResponse" not in response.json()
    reply = await sync_to_async(stage.wait_reply)(
        response.json()["userMessage"]["id"],
        (await sync_to_async(Session.objects.get)(id=session)).agent_id,
    )
    assert reply.content == "echo: Men are all alike."
    listed = await async_client.get(f"/api/messaging/sessions/{session}/messages")
    messages = listed.json()["messages"]
    assert [m["isAgent"] for m in messages] == [True, False]
    assert messages[0]["metadata"]["actions"] == ["REPLY"]
