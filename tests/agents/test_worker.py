"""Agents in a worker process (``manage.py runagents``) beside a server that runs none, sharing
the bus through Redis: the worker answers, and after a restart it answers what it missed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID
from tests.live import REPO, LiveServer

pytestmark = pytest.mark.redis

CENTRAL = str(CENTRAL_CHANNEL_ID)


class Deployment:
    """A server with no agents and a worker process on one SQLite file and one Redis stream."""

    def __init__(self, root: Path, redis_url: str) -> None:
        self.root = root
        # Its own SQLite file whatever the suite runs on: an empty DATABASE_URL means SQLite,
        # and this environment is laid over the test process's in every child.
        self.env = {
            **os.environ,
            "DATABASE_URL": "",
            "DJANGO_SETTINGS_MODULE": "project.settings",
        }
        self.env.update(
            ELIZABUS_VAR_DIR=str(root),
            REDIS_URL=redis_url,
            ELIZABUS_BUS_TRANSPORT="elizabus.bus.transports.redis.RedisStreamTransport",
            ELIZABUS_BUS_STREAM=f"elizabus-test:{uuid.uuid4()}",
            PYTHONPATH=str(REPO),
        )
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.server = LiveServer(root, {**self.env, "ELIZABUS_RUN_AGENTS": "0"})

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPO, env=self.env, check=True, timeout=120
        )

    def start(self, name: str, command: list[str], **extra_env: str) -> None:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.processes[name] = subprocess.Popen(
            command, cwd=REPO, env={**self.env, **extra_env}, stdout=log, stderr=log
        )

    def start_worker(self) -> None:
        self.start(
            "worker", [sys.executable, "manage.py", "runagents"], ELIZABUS_BUS_CONSUMER="agents"
        )
        self.wait_for_log("worker", "Running agents")

    def stop(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def wait_for_log(self, name: str, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in (self.root / f"{name}.log").read_text(errors="replace"):
            if time.monotonic() > deadline or self.processes[name].poll() is not None:
                raise RuntimeError((self.root / f"{name}.log").read_text(errors="replace"))
            time.sleep(0.1)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.server.url}/api/messaging/{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def post(self, text: str, transport: str = "websocket") -> dict[str, Any]:
        body = {
            "author_id": str(uuid.uuid4()),
            "content": text,
            "message_server_id": str(DEFAULT_SERVER_ID),
            "transport": transport,
        }
        return self.request("POST", f"channels/{CENTRAL}/messages", body)

    def replies_to(self, message_id: str) -> list[dict[str, Any]]:
        messages = self.request("GET", f"channels/{CENTRAL}/messages?limit=50")["data"]["messages"]
        return [m for m in messages if m.get("inReplyToRootMessageId") == message_id]


@pytest.fixture
def deployment(tmp_path: Path, redis_url: str) -> Iterator[Deployment]:
    deployed = Deployment(tmp_path, redis_url)
    deployed.manage("migrate", "--noinput", "-v", "0")
    deployed.manage("ensure_demo_agent")
    try:
        yield deployed
    finally:
        for name in list(deployed.processes):
            deployed.stop(name)
        deployed.server.stop()


def test_a_worker_answers_for_a_server_that_runs_no_agents(deployment: Deployment) -> None:
    deployment.server.start()
    deployment.start_worker()
    answered = deployment.post("Men are all alike.", transport="http")
    assert answered["agentResponse"]["text"] == "In what way?"


def test_a_restarted_worker_answers_what_was_sent_while_it_was_down(
    deployment: Deployment,
) -> None:
    deployment.server.start()
    deployment.start_worker()
    deployment.post("Men are all alike.", transport="http")
    deployment.stop("worker")

    missed = deployment.post("They're always bugging us about something or other.")
    time.sleep(0.5)
    assert deployment.replies_to(missed["userMessage"]["id"]) == []

    deployment.start_worker()
    deadline = time.monotonic() + 15
    while not (replies := deployment.replies_to(missed["userMessage"]["id"])):
        assert time.monotonic() < deadline, "the restarted worker never answered"
        time.sleep(0.1)
    assert [reply["content"] for reply in replies] == ["Can you think of a specific example?"]
