"""CORS: browser clients on the configured origins may call the API, others may not; and what
a page on another site could send without a preflight changes nothing unless its origin is
allowed."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from elizabus.models import CENTRAL_CHANNEL_ID, Agent
from tests import factories
from tests.api.helpers import assert_error, assert_ok

ORIGIN = "http://chat.example"
pytestmark = pytest.mark.django_db


@pytest.fixture
def allowed(settings) -> None:
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    settings.ELIZA_SERVER_AUTH_TOKEN = "s3cret"


def _preflight(origin: str) -> object:
    return Client().options(
        "/api/messaging/message-servers",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type, x-api-key",
    )


def test_a_preflight_from_an_allowed_origin_needs_no_key_and_allows_it(allowed: None) -> None:
    response = _preflight(ORIGIN)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "x-api-key" in response["Access-Control-Allow-Headers"]


def test_a_keyed_request_from_an_allowed_origin_is_answered_with_the_origin(allowed: None) -> None:
    response = Client().get(
        "/api/messaging/message-servers", HTTP_ORIGIN=ORIGIN, HTTP_X_API_KEY="s3cret"
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN


def test_another_origin_gets_no_cors_headers(allowed: None) -> None:
    assert "Access-Control-Allow-Origin" not in _preflight("http://evil.example")


def test_no_origin_is_allowed_by_default() -> None:
    assert "Access-Control-Allow-Origin" not in _preflight(ORIGIN)


# --- requests a page on any site could send: forms and text/plain, without a preflight ----------

EVIL = "http://evil.example"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def agent() -> Agent:
    return factories.make_agent(enabled=True)


def _stop(agent: Agent, content_type: str, **headers: str) -> object:
    """What a form on a foreign page submits: ``POST /api/agents/:id/stop``."""
    return Client().post(
        f"/api/agents/{agent.pk}/stop", "x=1", content_type=content_type, **headers
    )


def _upload(**headers: str) -> object:
    file = SimpleUploadedFile("a.png", PNG, content_type="image/png")
    return Client().post(
        f"/api/messaging/channels/{CENTRAL_CHANNEL_ID}/upload-media", {"file": file}, **headers
    )


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "text/plain; charset=utf-8"]
)
@pytest.mark.parametrize("origin", [EVIL, "null", "http://testserver:8080", "https://testserver"])
def test_a_form_or_text_post_from_a_foreign_origin_changes_nothing(
    agent: Agent, origin: str, content_type: str
) -> None:
    response = _stop(agent, content_type, HTTP_ORIGIN=origin)
    assert_error(response, 403, "ORIGIN_NOT_ALLOWED")
    agent.refresh_from_db()
    assert agent.enabled


def test_an_upload_from_a_foreign_origin_stores_nothing(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path
    assert_error(_upload(HTTP_ORIGIN=EVIL), 403, "ORIGIN_NOT_ALLOWED")
    assert_error(_upload(HTTP_SEC_FETCH_SITE="cross-site"), 403, "ORIGIN_NOT_ALLOWED")
    assert not list(tmp_path.rglob("*"))


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_ORIGIN": "http://testserver"},
        # Behind a TLS proxy that keeps the Host but not the scheme, the browser's word counts.
        {"HTTP_ORIGIN": "https://testserver", "HTTP_SEC_FETCH_SITE": "same-origin"},
        # A client that is no browser sends neither.
        {},
    ],
    ids=["same-origin", "fetch-metadata", "no-browser"],
)
def test_the_same_origin_and_clients_that_are_no_browser_may_upload(
    settings, tmp_path, headers: dict[str, str]
) -> None:
    settings.MEDIA_ROOT = tmp_path
    assert_ok(_upload(**headers))


def test_an_allowed_origin_may_post_forms(settings, agent: Agent) -> None:
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    assert_ok(_stop(agent, "text/plain", HTTP_ORIGIN=ORIGIN))
    agent.refresh_from_db()
    assert not agent.enabled


def test_json_from_any_origin_is_left_to_the_browser_s_preflight(agent: Agent) -> None:
    """A browser sends JSON, or X-API-KEY, across origins only after a preflight that the
    CORS list answers: what arrives without one comes from no browser, whatever its Origin."""
    response = Client().post(
        f"/api/agents/{agent.pk}/stop", "{}", content_type="application/json", HTTP_ORIGIN=EVIL
    )
    assert_ok(response)
