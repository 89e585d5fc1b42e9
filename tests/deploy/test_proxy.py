"""Two ``manage.py serve`` processes behind HAProxy with ``docker/haproxy.cfg``, the file docker
compose runs: the npm ``socket.io-client`` on its default transports (a polling handshake, then
the upgrade) and on polling alone stays with the process that holds its Engine.IO session, while
the handshakes are spread over both, and a message posted over REST reaches every client through
the Redis channel layer."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID
from tests.live import REPO, LiveServer, free_port, skip_or_fail, wait_until_listening
from tests.realtime.conftest import node_modules  # noqa: F401 - the fixture, shared

pytestmark = [pytest.mark.redis, pytest.mark.node]

HAPROXY_CFG = REPO / "docker" / "haproxy.cfg"
# Debian puts it in /usr/sbin, which a non-root PATH may lack.
HAPROXY = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/local/sbin:/usr/sbin")
CLIENTS = Path(__file__).parent / "node" / "clients.cjs"

# uvicorn's access log: `"GET /socket.io/?EIO=4&transport=polling&t=...&sid=... HTTP/1.1" 200`,
# `"WebSocket /socket.io/?...&sid=..." [accepted]`.
SOCKET_REQUEST = re.compile(r'"(?:GET|POST|WebSocket) (/socket\.io/\?[^" ]*)')
SID = re.compile(r"[?&]sid=([\w-]+)")


class Deployment:
    """Two servers on one SQLite file and one Redis, and HAProxy in front of them."""

    def __init__(self, root: Path, redis_url: str) -> None:
        self.root = root
        self.env = {
            # The live tests' settings (a 300 ms heartbeat, so a test sees many polling cycles)
            # on a SQLite file of this test's own.
            "DJANGO_SETTINGS_MODULE": "tests.realtime.live_settings",
            "DATABASE_URL": "",
            "ELIZABUS_VAR_DIR": str(root),
            "ELIZABUS_LIVE_DB_NAME": str(root / "elizabus.sqlite3"),
            "REDIS_URL": redis_url,
            "ELIZABUS_RUN_AGENTS": "0",
            "DJANGO_SECRET_KEY": "proxy-test-" + "k" * 50,
            "PYTHONUNBUFFERED": "1",
        }
        args = ("--forwarded-allow-ips", "127.0.0.1")
        self.servers = [LiveServer(root, self.env, args), LiveServer(root, self.env, args)]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proxy_log = root / "haproxy.log"
        self._proxy: subprocess.Popen[bytes] | None = None

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), **self.env},
            check=True,
            timeout=120,
        )

    def start(self) -> None:
        self.manage("migrate", "--noinput", "-v", "0")
        # A message to a channel needs an agent among its participants; none runs here.
        self.manage("ensure_demo_agent")
        for server in self.servers:
            server.start()
        proxy_env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/bin"),
            "ELIZABUS_PROXY_BIND": f"127.0.0.1:{self.port}",
            "ELIZABUS_SERVER_1": f"127.0.0.1:{self.servers[0].port}",
            "ELIZABUS_SERVER_2": f"127.0.0.1:{self.servers[1].port}",
        }
        with open(self.proxy_log, "ab") as log:
            self._proxy = subprocess.Popen(
                [HAPROXY, "-f", str(HAPROXY_CFG), "-db"],
                env=proxy_env,
                stdout=log,
                stderr=log,
            )
        wait_until_listening(self._proxy, self.port, self.proxy_log)

    def stop(self) -> None:
        if self._proxy is not None:
            self._proxy.terminate()
            try:
                self._proxy.wait(10)
            except subprocess.TimeoutExpired:
                self._proxy.kill()
                self._proxy.wait()
            self._proxy = None
        # Each server takes seconds to shut down gracefully: both at once.
        with ThreadPoolExecutor() as pool:
            list(pool.map(LiveServer.stop, self.servers))

    def socket_requests(self) -> list[list[str]]:
        """The Engine.IO requests each server answered, in its access log's order."""
        return [
            SOCKET_REQUEST.findall(server.log_path.read_text(errors="replace"))
            for server in self.servers
        ]


@pytest.fixture
def deployment(tmp_path: Path, redis_url: str) -> Iterator[Deployment]:
    if HAPROXY is None:
        skip_or_fail("haproxy is not installed")
    deployed = Deployment(tmp_path, redis_url)
    try:
        deployed.start()
        yield deployed
    finally:
        deployed.stop()


def run_clients(modules: Path, url: str, **config: Any) -> dict[str, Any]:
    config = {
        "url": url,
        "channelId": str(CENTRAL_CHANNEL_ID),
        "serverId": str(DEFAULT_SERVER_ID),
        **config,
    }
    finished = subprocess.run(
        [shutil.which("node"), str(CLIENTS), json.dumps(config)],
        env={"NODE_PATH": str(modules), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


def assert_sticky_and_balanced(deployment: Deployment) -> list[dict[str, int]]:
    """Every server opened sessions, and each session's requests reached only the server that
    opened it: without stickiness about half of them would land on the other one, which answers
    an unknown sid with 400 and the client disconnects. Returns each server's requests per sid."""
    per_server = []
    for requests in deployment.socket_requests():
        handshakes = [path for path in requests if not SID.search(path)]
        assert handshakes, "a server opened no session: the proxy is not balancing"
        counts: dict[str, int] = {}
        for path in requests:
            if match := SID.search(path):
                counts[match.group(1)] = counts.get(match.group(1), 0) + 1
        per_server.append(counts)
    first, second = per_server
    assert first and second
    assert not first.keys() & second.keys(), "a session's requests reached both servers"
    return per_server


def test_many_default_clients_through_the_proxy_all_hear_a_rest_message(
    deployment: Deployment,
    node_modules: Path,  # noqa: F811
) -> None:
    report = run_clients(node_modules, deployment.url, count=20, transports=None, settleMs=1500)

    assert report["errors"] == []
    assert report["posted"] == 201
    assert len(report["clients"]) == 20
    for client in report["clients"]:
        assert client["connectErrors"] == []
        assert client["disconnects"] == []
        assert client["received"] is True
        assert client["upgraded"] is True and client["transport"] == "websocket"
    per_server = assert_sticky_and_balanced(deployment)
    assert sum(len(sessions) for sessions in per_server) == 20


def test_a_polling_only_client_stays_with_its_server_through_many_polls(
    deployment: Deployment,
    node_modules: Path,  # noqa: F811
) -> None:
    # 3 s at a 300 ms heartbeat: each client polls about ten times before the broadcast.
    report = run_clients(
        node_modules, deployment.url, count=4, transports=["polling"], settleMs=3000
    )

    assert report["errors"] == []
    assert report["posted"] == 201
    for client in report["clients"]:
        assert client["connectErrors"] == []
        assert client["disconnects"] == []
        assert client["received"] is True
        assert client["upgraded"] is False and client["transport"] == "polling"
    per_server = assert_sticky_and_balanced(deployment)
    requests_per_session = [count for sessions in per_server for count in sessions.values()]
    assert len(requests_per_session) == 4
    assert min(requests_per_session) >= 8
