"""API responses encoded by orjson are what DRF's own renderer gives, what orjson cannot
encode still renders, and every request gets JSON whatever its ``Accept``."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid

import pytest
from django.test import Client
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from elizabus.api.renderers import OrjsonRenderer

SAMPLE = {
    "success": True,
    "text": 'héllo ✓ "quoted" \n line',
    "id": uuid.UUID("6254b671-ea8d-4387-84dd-9dc25dacbc0b"),
    "when": dt.datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=dt.UTC),
    "day": dt.date(2026, 11, 26),
    "price": decimal.Decimal("1.50"),
    "lazy": gettext_lazy("Not found."),
    "nested": {"list": [1, 2.5, None, False], 3: "int key"},
}


def test_the_output_is_what_drfs_renderer_gives() -> None:
    # Compact, UTF-8 unescaped, DRF's datetime format (Z), non-string keys as strings.
    assert OrjsonRenderer().render(SAMPLE) == JSONRenderer().render(SAMPLE)


def test_integers_beyond_64_bits_still_render() -> None:
    data = {"big": 2**80, "text": "ok"}
    assert json.loads(OrjsonRenderer().render(data)) == data


def test_no_data_renders_an_empty_body() -> None:
    assert OrjsonRenderer().render(None) == b""


def test_an_indent_request_gets_indented_output() -> None:
    rendered = OrjsonRenderer().render({"a": 1}, "application/json; indent=2", {"indent": None})
    assert rendered == JSONRenderer().render({"a": 1}, "application/json; indent=2", {})
    assert b"\n  " in rendered


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ["text/event-stream", "text/html", "image/png"])
def test_an_accept_the_api_cannot_render_gets_json_not_406(client: Client, accept: str) -> None:
    # The reference never answers 406 (the elizaOS web UI's sessions chat asks for
    # text/event-stream and says in its body what it wants).
    response = client.get("/api/messaging/message-servers", HTTP_ACCEPT=accept)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["success"] is True
