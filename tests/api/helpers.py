"""What the API tests share besides fixtures: a JSON client, the two envelope assertions, and a
small world of rows.

``Api`` speaks JSON to ``/api/messaging/`` through Django's test client; ``assert_ok`` and
``assert_error`` check the two envelopes exactly.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.http import HttpResponse
from django.test import Client

from elizabus.models import DEFAULT_SERVER_ID, Agent, Channel

PREFIX = "/api/messaging/"
ZERO = str(DEFAULT_SERVER_ID)


class Api:
    """JSON requests to ``/api/messaging/<path>``; an absolute path (``/api/...``) is kept."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def url(self, path: str) -> str:
        return path if path.startswith("/") else PREFIX + path

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> HttpResponse:
        if body is not None:
            kwargs.setdefault("data", json.dumps(body))
        if "data" in kwargs:
            kwargs.setdefault("content_type", "application/json")
        return getattr(self.client, method.lower())(self.url(path), **kwargs)

    def empty(self, method: str, path: str, **kwargs: Any) -> HttpResponse:
        """An empty JSON object to a write (POST, PATCH), no body to a read or a delete."""
        body = {} if method in {"POST", "PATCH"} else None
        return self.request(method, path, body, **kwargs)

    def get(self, path: str, **query: Any) -> HttpResponse:
        return self.client.get(self.url(path), query)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> HttpResponse:
        return self.request("POST", path, {} if body is None else body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> HttpResponse:
        return self.request("PATCH", path, {} if body is None else body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("DELETE", path, **kwargs)


def assert_ok(response: HttpResponse, status: int = 200) -> Any:
    """The success envelope ``{success: true, data}``; returns ``data``."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is True
    return body["data"]


def assert_error(response: HttpResponse, status: int, code: str | None = None) -> dict[str, Any]:
    """The one error shape ``{success: false, error: {code, message, details?}}``."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"success", "error"}
    assert body["success"] is False
    error = body["error"]
    assert {"code", "message"} <= set(error) <= {"code", "message", "details"}
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


@dataclass(frozen=True)
class Room:
    """A group channel on the default server with Alice and an agent as participants."""

    channel: Channel
    alice: uuid.UUID
    agent: Agent

    @property
    def id(self) -> str:
        return str(self.channel.id)

    @property
    def messages(self) -> str:
        return f"channels/{self.channel.id}/messages"


def new_id() -> str:
    return str(uuid.uuid4())
