"""Events across real processes: on the embedded default (SQLite, no Redis) an event committed
by another process reaches the running server's receivers, and on Redis an event whose writer
died between its commit and its send is sent by another process's relay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from elizabus.bus.relay import FAULT_EXIT_STATUS
from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID
from tests.live import REPO, LiveServer

CENTRAL = str(CENTRAL_CHANNEL_ID)
MARKER = "[exit-after-commit]"


def _env(root: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "ELIZABUS_BUS_TRANSPORT": "",
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "ELIZABUS_VAR_DIR": str(root),
        "ELIZABUS_BUS_RELAY_GRACE_SECONDS": "1",
        "PYTHONPATH": str(REPO),
        **extra,
    }


def _manage(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        check=check,
        timeout=120,
        capture_output=True,
    )


def _request(url: str, method: str = "GET", body: Any = None) -> Any:
    request = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _post(server: LiveServer, text: str, transport: str) -> dict[str, Any]:
    body = {
        "author_id": str(uuid.uuid4()),
        "content": text,
        "message_server_id": str(DEFAULT_SERVER_ID),
        "transport": transport,
    }
    return _request(f"{server.url}/api/messaging/channels/{CENTRAL}/messages", "POST", body)


def _replies(server: LiveServer, message_id: str) -> list[dict[str, Any]]:
    page = _request(f"{server.url}/api/messaging/channels/{CENTRAL}/messages?limit=100")
    return [m for m in page["data"]["messages"] if m.get("inReplyToRootMessageId") == message_id]


def _die_after_commit(env: dict[str, str], text: str) -> str:
    """Stores a message from a process that exits between the commit and the send; its id."""
    message_id = str(uuid.uuid4())
    script = (
        "import uuid; from elizabus import services; "
        f"services.message_create(channel_id=uuid.UUID('{CENTRAL}'), "
        f"author_id=uuid.uuid4(), content={text!r}, message_id=uuid.UUID('{message_id}'))"
    )
    died = _manage(
        {**env, "ELIZABUS_BUS_FAULT_EXIT_AFTER_COMMIT": MARKER}, "shell", "-c", script, check=False
    )
    assert died.returncode == FAULT_EXIT_STATUS, died.stderr.decode()
    return message_id


def _wait_for_reply(server: LiveServer, message_id: str) -> list[str]:
    deadline = time.monotonic() + 20
    while not _replies(server, message_id):
        assert time.monotonic() < deadline, "never answered"
        time.sleep(0.1)
    time.sleep(1.5)  # a second answer would have come by now
    return [reply["content"] for reply in _replies(server, message_id)]


def test_an_agent_registered_by_another_process_starts_in_the_running_server(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path)
    _manage(env, "migrate", "--noinput", "-v", "0")
    server = LiveServer(tmp_path, {**env, "ELIZABUS_RUN_AGENTS": "1"})
    server.start()
    try:
        _manage(env, "ensure_demo_agent")
        deadline = time.monotonic() + 10
        while True:
            answered = _post(server, "Men are all alike.", transport="http")
            if answered.get("agentResponse") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert answered["agentResponse"]["text"] == "In what way?"
    finally:
        server.stop()


def _answered_once_after_its_writer_died(root: Path, env: dict[str, str]) -> None:
    _manage(env, "migrate", "--noinput", "-v", "0")
    _manage(env, "ensure_demo_agent")
    server = LiveServer(root, {**env, "ELIZABUS_RUN_AGENTS": "1"})
    server.start()
    try:
        message_id = _die_after_commit(env, f"Men are all alike. {MARKER}")
        assert _wait_for_reply(server, message_id) == ["In what way?"]
    finally:
        server.stop()


def test_a_message_whose_writer_died_after_commit_is_answered_once(tmp_path: Path) -> None:
    _answered_once_after_its_writer_died(tmp_path, _env(tmp_path))


@pytest.mark.redis
def test_on_redis_the_relay_sends_what_a_dead_writer_left(tmp_path: Path, redis_url: str) -> None:
    env = _env(
        tmp_path,
        REDIS_URL=redis_url,
        ELIZABUS_BUS_TRANSPORT="elizabus.bus.transports.redis.RedisStreamTransport",
        ELIZABUS_BUS_STREAM=f"elizabus-test:{uuid.uuid4()}",
    )
    _answered_once_after_its_writer_died(tmp_path, env)
