"""The API's rate limit per client address: 429 in the error shape, with Retry-After."""

from __future__ import annotations

import json
import uuid

import pytest
from django.core.cache import cache
from django.test import Client

from elizabus.models import Message
from tests.api.helpers import ZERO, assert_error

pytestmark = pytest.mark.django_db

SERVERS = "/api/messaging/message-servers"


@pytest.fixture(autouse=True)
def three_per_minute(settings) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "API_RATE": "3/min"}
    cache.clear()
    yield
    cache.clear()


def test_a_client_past_its_rate_is_refused_until_the_window_passes() -> None:
    client = Client(REMOTE_ADDR="203.0.113.7")
    assert [client.get(SERVERS).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get(SERVERS)
    assert_error(refused, 429, "RATE_LIMIT_EXCEEDED")
    assert 0 < int(refused["Retry-After"]) <= 61


def test_message_posts_share_the_allowance_and_a_refused_post_stores_nothing() -> None:
    """Posts bypass DRF's request (api/serializers/channels.py), not its throttle."""
    client = Client(REMOTE_ADDR="203.0.113.11")
    path = f"/api/messaging/channels/{uuid.uuid4()}/messages"
    body = json.dumps({"author_id": str(uuid.uuid4()), "content": "hi", "message_server_id": ZERO})

    assert client.get(SERVERS).status_code == 200
    posts = [client.post(path, body, content_type="application/json") for _ in range(3)]

    assert [post.status_code for post in posts[:2]] == [201, 201]
    assert_error(posts[2], 429, "RATE_LIMIT_EXCEEDED")
    assert 0 < int(posts[2]["Retry-After"]) <= 61
    assert Message.objects.count() == 2


def test_each_address_has_its_own_allowance() -> None:
    for _ in range(3):
        Client(REMOTE_ADDR="203.0.113.7").get(SERVERS)
    assert Client(REMOTE_ADDR="203.0.113.8").get(SERVERS).status_code == 200


def test_an_empty_rate_limits_nothing(settings) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "API_RATE": ""}
    client = Client(REMOTE_ADDR="203.0.113.9")
    assert {client.get(SERVERS).status_code for _ in range(6)} == {200}


def test_a_cache_that_cannot_be_reached_limits_nothing_and_refuses_nothing(monkeypatch) -> None:
    from django.core.cache.backends.redis import RedisCache

    from elizabus.api.throttling import ClientRateThrottle
    from tests.live import free_port

    unreachable = RedisCache(f"redis://127.0.0.1:{free_port()}/0", {})
    monkeypatch.setattr(ClientRateThrottle, "cache", unreachable)
    client = Client(REMOTE_ADDR="203.0.113.10")
    assert [client.get(SERVERS).status_code for _ in range(5)] == [200] * 5
