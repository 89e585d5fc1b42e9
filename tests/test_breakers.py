"""The dependencies' breakers (elizabus/breakers.py): one failure opens a breaker, its probe
closes it again; and a live server on a PostgreSQL that hangs (SIGSTOP) answers every request
in time, refusing with 503 what needs the database, and serves again once it answers."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from elizabus import breakers
from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID
from tests.live import LiveServer, serve_private
from tests.private_services import PrivatePostgres


def test_a_failure_opens_the_breaker_once_and_the_probe_closes_it() -> None:
    answers = iter([False, False, True])
    probed = threading.Event()

    def probe() -> None:
        if not next(answers):
            raise ConnectionError("still down")
        probed.set()

    breaker = breakers.Breaker("test", probe, lambda: True)
    assert breaker.allow()
    breaker.failed(TimeoutError("no answer"))
    breaker.failed(TimeoutError("no answer again"))

    assert not breaker.allow()
    assert (breaker.opened, breaker.failures) == (1, 2)
    assert probed.wait(10)
    for _ in range(100):  # the probe closes it right after it answered
        if breaker.allow():
            break
        time.sleep(0.01)
    assert breaker.allow()
    assert breaker.snapshot()["state"] == "closed" and breaker.calls == 1


def _request(url: str, method: str = "GET", body: dict | None = None) -> tuple[int, Any, float]:
    """Status, decoded body (or text) and seconds of one request."""
    request = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, headers = error.code, error.read(), error.headers
    seconds = time.monotonic() - started
    try:
        decoded: Any = json.loads(raw)
    except ValueError:
        decoded = raw.decode()
    if isinstance(decoded, dict):
        decoded["_retry_after"] = headers.get("Retry-After")
    return status, decoded, seconds


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[PrivatePostgres]:
    yield from serve_private(PrivatePostgres, log_dir=tmp_path)


@pytest.mark.postgres
def test_a_server_on_a_hung_postgres_refuses_fast_and_serves_again(
    tmp_path: Path, postgres: PrivatePostgres
) -> None:
    env = {
        "DATABASE_URL": postgres.url,
        "REDIS_URL": "",
        "ELIZABUS_BUS_TRANSPORT": "",
        "ELIZABUS_RUN_AGENTS": "0",
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "ELIZABUS_VAR_DIR": str(tmp_path),
    }
    server = LiveServer(tmp_path, env)
    migrated = server.processes.manage("migrate", "--noinput", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr.decode()
    post_url = f"{server.url}/api/messaging/channels/{CENTRAL_CHANNEL_ID}/messages"

    def post() -> tuple[int, Any, float]:
        body = {
            "author_id": str(uuid.uuid4()),
            "content": "Is anybody there?",
            "message_server_id": str(DEFAULT_SERVER_ID),
        }
        return _request(post_url, "POST", body)

    server.start()
    try:
        assert post()[0] == 201  # the server's connection is open when the database hangs
        postgres.pause()
        first = post()
        then = [post() for _ in range(5)]
        health = _request(f"{server.url}/health")
        healthz = _request(f"{server.url}/healthz")
        metrics = _request(f"{server.url}/metrics")
        postgres.resume()
        deadline = time.monotonic() + 15
        back = post()
        while back[0] != 201 and time.monotonic() < deadline:
            time.sleep(0.2)
            back = post()
        health_after = _request(f"{server.url}/health")
    finally:
        postgres.resume()
        server.stop()

    status, body, seconds = first
    assert status == 503 and body["error"]["code"] == "SERVICE_UNAVAILABLE", first
    assert body["_retry_after"] == "1"
    assert seconds < 2.5, first
    # Noticed once: the next ones are refused without waiting.
    assert [answer[0] for answer in then] == [503] * 5
    assert max(answer[2] for answer in then) < 0.3, then
    assert health[0] == 503 and health[1]["dependencies"]["database"] == "unavailable", health
    assert health[2] < 0.5, health
    assert healthz[0] == 200 and healthz[2] < 0.5, healthz
    assert 'elizabus_dependency_up{dependency="database"} 0' in metrics[1]
    assert back[0] == 201, back
    assert "database" not in health_after[1]["dependencies"], health_after
