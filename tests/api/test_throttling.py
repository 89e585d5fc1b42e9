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
ZERO_SERVER = "00000000-0000-0000-0000-000000000000"


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


def test_a_cache_that_cannot_be_reached_is_counted_in_the_process(monkeypatch) -> None:
    """Redis down: the allowance is counted in this process (docs/deployment.md, "When a
    dependency is down"), so nothing the rate allows is refused and the rate still holds."""
    from django.core.cache.backends.redis import RedisCache

    from elizabus import breakers
    from elizabus.api.throttling import ClientRateThrottle
    from tests.live import free_port

    unreachable = RedisCache(f"redis://127.0.0.1:{free_port()}/0", {})
    monkeypatch.setattr(ClientRateThrottle, "cache", unreachable)
    client = Client(REMOTE_ADDR="203.0.113.10")
    assert [client.get(SERVERS).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert breakers.redis.is_open


@pytest.mark.redis
def test_a_hung_cache_costs_one_request_its_deadline_and_the_next_ones_nothing(
    monkeypatch, settings, hung_redis: str
) -> None:
    # Each request waited for the cache as long as Redis hung; with only the deadline, each
    # request would still wait a quarter second, one after another on the one sync thread.
    import time

    from django.core.cache.backends.redis import RedisCache

    from elizabus.api.throttling import ClientRateThrottle
    from project.settings import REDIS_CONNECT_TIMEOUT, REDIS_REQUEST_TIMEOUT

    settings.ELIZABUS = {**settings.ELIZABUS, "API_RATE": "1000/min"}
    options = {
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
        "socket_timeout": REDIS_REQUEST_TIMEOUT,
    }
    monkeypatch.setattr(ClientRateThrottle, "cache", RedisCache(hung_redis, {"OPTIONS": options}))
    client = Client(REMOTE_ADDR="203.0.113.14")
    seconds = []
    for _ in range(5):
        started = time.monotonic()
        assert client.get(SERVERS).status_code == 200
        seconds.append(time.monotonic() - started)

    assert 0.2 <= seconds[0] < 1.0, seconds
    assert max(seconds[1:]) < 0.1, seconds


def test_a_forwarded_for_header_from_a_client_that_is_no_proxy_is_ignored() -> None:
    """Without configured proxies, a client that names another address in each request's
    ``X-Forwarded-For`` is still counted by its own."""
    client = Client(REMOTE_ADDR="203.0.113.12")
    statuses = [
        client.get(SERVERS, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code for n in range(4)
    ]
    assert statuses == [200, 200, 200, 429]


def test_uploads_are_counted_by_address_whatever_the_forwarded_for_header(
    settings, monkeypatch, tmp_path
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.settings import api_settings

    from elizabus.models import CENTRAL_CHANNEL_ID

    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setitem(api_settings.DEFAULT_THROTTLE_RATES, "upload", "2/min")
    client = Client(REMOTE_ADDR="203.0.113.13")
    path = f"/api/messaging/channels/{CENTRAL_CHANNEL_ID}/upload-media"

    def upload(n: int) -> int:
        png = SimpleUploadedFile("a.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 8, "image/png")
        return client.post(path, {"file": png}, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code

    assert [upload(n) for n in range(3)] == [200, 200, 429]


@pytest.mark.parametrize(
    "trusted", [["10.0.0.5"], ["10.0.0.0/24"]], ids=["an address", "a network"]
)
def test_behind_a_configured_proxy_each_forwarded_client_has_its_own_allowance(
    settings, trusted: list[str]
) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "FORWARDED_ALLOW_IPS": trusted}
    proxy = Client(REMOTE_ADDR="10.0.0.5")
    for _ in range(3):
        assert proxy.get(SERVERS, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 200
    assert proxy.get(SERVERS, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 429
    assert proxy.get(SERVERS, HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 200
    # What the client wrote itself comes before what the proxy appended: the proxy's word counts.
    spoofed = proxy.get(SERVERS, HTTP_X_FORWARDED_FOR="198.51.100.99, 198.51.100.1")
    assert_error(spoofed, 429, "RATE_LIMIT_EXCEEDED")


def test_refused_keys_are_limited_per_address_and_the_excess_is_not_logged(
    settings, caplog
) -> None:
    """A key is not guessed at the API's own rate, nor from new addresses written in
    X-Forwarded-For; past the allowance nothing is compared, and the refusals leave the log
    (and its ring) alone."""
    settings.ELIZA_SERVER_AUTH_TOKEN = "s3cret"
    settings.ELIZABUS = {**settings.ELIZABUS, "API_RATE": "", "UNAUTHORIZED_RATE": "3/min"}
    client = Client(REMOTE_ADDR="203.0.113.20")

    def guess(n: int) -> object:
        return client.get(SERVERS, HTTP_X_API_KEY=f"guess-{n}", HTTP_X_FORWARDED_FOR=f"10.9.0.{n}")

    assert [guess(n).status_code for n in range(3)] == [401, 401, 401]
    caplog.clear()
    refused = [guess(n) for n in range(3, 13)]
    for response in refused:
        assert_error(response, 429, "RATE_LIMIT_EXCEEDED")
        assert 0 < int(response["Retry-After"]) <= 61
    assert not [record for record in caplog.records if record.name == "django.request"]
    # Not even the right key is compared now: a guess that came right must not show.
    assert_error(client.get(SERVERS, HTTP_X_API_KEY="s3cret"), 429, "RATE_LIMIT_EXCEEDED")
    # Another address has its own allowance, and the key opens the API from there.
    other = Client(REMOTE_ADDR="203.0.113.21")
    assert_error(other.get(SERVERS, HTTP_X_API_KEY="wrong"), 401, "UNAUTHORIZED")
    assert other.get(SERVERS, HTTP_X_API_KEY="s3cret").status_code == 200


def test_sessions_jobs_and_channels_made_share_one_allowance_per_address(settings) -> None:
    """What a client makes and leaves behind (sessions, jobs, channels) is limited per
    address; reading them is not."""
    from elizabus.models import Channel, Job, Session
    from tests import factories

    settings.ELIZABUS = {**settings.ELIZABUS, "API_RATE": "", "CREATE_RATE": "3/min"}
    agent = str(factories.make_agent().pk)
    user = str(uuid.uuid4())
    client = Client(REMOTE_ADDR="203.0.113.30")

    def post(path: str, body: dict) -> object:
        return client.post(
            f"/api/messaging/{path}", json.dumps(body), content_type="application/json"
        )

    made = [
        post("sessions", {"agentId": agent, "userId": user}),
        post("jobs", {"agentId": agent, "userId": user, "content": "hi"}),
        post(
            "channels",
            {"name": "c", "message_server_id": ZERO_SERVER, "participantCentralUserIds": [user]},
        ),
    ]
    assert [response.status_code for response in made] == [201, 201, 201]
    counts = (Session.objects.count(), Job.objects.count(), Channel.objects.count())
    for path, body in [
        ("sessions", {"agentId": agent, "userId": user}),
        ("jobs", {"agentId": agent, "userId": user, "content": "hi"}),
    ]:
        assert_error(post(path, body), 429, "RATE_LIMIT_EXCEEDED")
    assert (Session.objects.count(), Job.objects.count(), Channel.objects.count()) == counts
    assert client.get("/api/messaging/sessions").status_code == 200
    other = Client(REMOTE_ADDR="203.0.113.31").post(
        "/api/messaging/sessions",
        json.dumps({"agentId": agent, "userId": user}),
        content_type="application/json",
    )
    assert other.status_code == 201
