"""Sessions and jobs across real processes: they are rows, so a second server answers for what
the first created, a restart loses none, and a job whose agent runs in a ``runagents`` worker
completes (the worker commits the answer and its job receiver, scope ONCE, settles the job).

Two deployments: the embedded default (one SQLite file, the database transport) and the
scale-out one (PostgreSQL and the Redis transport).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import psycopg
import pytest

from tests.live import REPO, LiveServer

ELIZA = "e11a0000-0000-4000-8000-000000000001"  # manage.py ensure_demo_agent


class Deployment:
    """Servers and workers on one database and one bus, each process started by name."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "ELIZABUS_VAR_DIR": str(root),
            "ELIZABUS_BUS_RELAY_GRACE_SECONDS": "1",
            "PYTHONPATH": str(REPO),
            **env,
        }
        self.servers: dict[str, LiveServer] = {}
        self.workers: dict[str, subprocess.Popen[bytes]] = {}

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=self.env,
            check=True,
            timeout=120,
            capture_output=True,
        )

    def server(self, name: str, *, agents: bool) -> LiveServer:
        server = LiveServer(self.root, {**self.env, "ELIZABUS_RUN_AGENTS": "1" if agents else "0"})
        server.start()
        self.servers[name] = server
        return server

    def worker(self, name: str = "worker") -> None:
        log_path = self.root / f"{name}.log"
        with open(log_path, "ab") as log:
            self.workers[name] = subprocess.Popen(
                [sys.executable, "manage.py", "runagents"],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 30
        while "Running agents" not in log_path.read_text(errors="replace"):
            if time.monotonic() > deadline or self.workers[name].poll() is not None:
                raise RuntimeError(log_path.read_text(errors="replace"))
            time.sleep(0.1)

    def stop(self) -> None:
        for process in self.workers.values():
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for server in self.servers.values():
            server.stop()


def call(server: LiveServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{server.url}/api/messaging/{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=40) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def _sqlite() -> dict[str, str]:
    return {"DATABASE_URL": "", "REDIS_URL": "", "ELIZABUS_BUS_TRANSPORT": ""}


def _postgres_and_redis(postgres_url: str, redis_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url,
        "ELIZABUS_BUS_TRANSPORT": "elizabus.bus.transports.redis.RedisStreamTransport",
        "ELIZABUS_BUS_STREAM": f"elizabus-test:{uuid.uuid4()}",
        "ELIZABUS_BUS_LEASE_SECONDS": "1.5",
    }


@pytest.fixture
def scratch_postgres(postgres_url: str) -> Iterator[str]:
    """A database of this test's own on the PostgreSQL server, dropped afterwards."""
    name = f"elizabus_processes_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parsed = urlparse(postgres_url)
    try:
        yield urlunparse(parsed._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ]
)
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    if request.param == "sqlite":
        env = _sqlite()
    else:
        env = _postgres_and_redis(
            request.getfixturevalue("scratch_postgres"),
            request.getfixturevalue("redis_url"),
        )
    deployed = Deployment(tmp_path, env)
    deployed.manage("migrate", "--noinput", "-v", "0")
    deployed.manage("ensure_demo_agent")
    try:
        yield deployed
    finally:
        deployed.stop()


def wait_for_job(server: LiveServer, job_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, job = call(server, "GET", f"jobs/{job_id}")
        assert status == 200, job
        if job["status"] != "processing" or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_a_second_server_and_a_restart_answer_for_sessions_and_jobs(
    deployment: Deployment,
) -> None:
    first = deployment.server("first", agents=True)
    second = deployment.server("second", agents=False)
    user = str(uuid.uuid4())
    status, session = call(first, "POST", "sessions", {"agentId": ELIZA, "userId": user})
    assert status == 201, session
    session_id = session["sessionId"]

    status, info = call(second, "GET", f"sessions/{session_id}")
    assert (status, info["channelId"]) == (200, session["channelId"])
    status, sent = call(second, "POST", f"sessions/{session_id}/messages", {"content": "Hello"})
    assert status == 201 and sent["sessionStatus"]["renewalCount"] == 1
    status, listed = call(first, "GET", f"sessions/{session_id}/messages")
    assert status == 200 and listed["messages"][-1]["content"] == "Hello"
    status, job = call(first, "POST", "jobs", {"userId": user, "content": "Men are all alike."})
    assert status == 201, job
    assert call(second, "GET", f"jobs/{job['jobId']}")[1]["jobId"] == job["jobId"]

    first.stop()
    first.start()
    status, info = call(first, "GET", f"sessions/{session_id}")
    assert (status, info["renewalCount"]) == (200, 1)
    assert [s["sessionId"] for s in call(second, "GET", "sessions")[1]["sessions"]] == [session_id]
    assert wait_for_job(first, job["jobId"])["status"] == "completed"
    assert call(second, "DELETE", f"sessions/{session_id}")[0] == 200
    assert call(first, "GET", f"sessions/{session_id}")[0] == 404


def test_a_job_and_a_session_are_answered_by_an_agent_in_a_worker(
    deployment: Deployment,
) -> None:
    server = deployment.server("server", agents=False)
    deployment.worker()
    user = str(uuid.uuid4())
    status, job = call(server, "POST", "jobs", {"userId": user, "content": "Men are all alike."})
    assert status == 201, job
    done = wait_for_job(server, job["jobId"])
    assert done["status"] == "completed", done
    assert done["result"]["message"]["content"] == "In what way?"
    assert done["result"]["message"]["authorId"] == ELIZA
    assert done["result"]["processingTimeMs"] >= 0

    status, session = call(server, "POST", "sessions", {"agentId": ELIZA, "userId": user})
    assert status == 201, session
    status, answered = call(
        server,
        "POST",
        f"sessions/{session['sessionId']}/messages",
        {"content": "They're always bugging us about something or other.", "transport": "http"},
    )
    assert status == 201, answered
    assert answered["agentResponse"]["text"] == "Can you think of a specific example?"
