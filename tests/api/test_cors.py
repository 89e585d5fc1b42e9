"""CORS: browser clients on the configured origins may call the API, others may not."""

from __future__ import annotations

import pytest
from django.test import Client

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
