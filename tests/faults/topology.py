"""The deployment the fault-injection run breaks, all on loopback and all its own: a private
PostgreSQL and a private Redis (AOF on), two ``serve`` processes behind HAProxy running
``docker/haproxy.cfg``, two ``runagents`` workers; with ways to kill, restart and pause each."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from elizabus.models import DEFAULT_SERVER_ID
from tests.live import Processes, skip_or_fail
from tests.private_services import (
    PrivatePostgres,
    PrivateRedis,
    ServiceUnavailable,
    free_port,
    wait_until_listening,
)

HAPROXY_CFG = Path(__file__).resolve().parents[2] / "docker" / "haproxy.cfg"
SERVERS = ("server-1", "server-2")
WORKERS = ("worker-1", "worker-2")


def _tool(name: str, *directories: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=os.pathsep.join(directories))
    if path is None:
        skip_or_fail(f"{name} is not installed")
    return path


class Topology(Processes):
    def __init__(self, root: Path) -> None:
        self.haproxy = _tool("haproxy", "/usr/local/sbin", "/usr/sbin")
        try:
            self.redis = PrivateRedis(log_dir=root, aof="always")
        except ServiceUnavailable as missing:
            skip_or_fail(str(missing))
        try:
            self.postgres = PrivatePostgres(log_dir=root)
        except ServiceUnavailable as missing:
            self.redis.cleanup()
            skip_or_fail(str(missing))
        self.proxy_port = free_port()
        self.ports = {name: free_port() for name in SERVERS}
        self.url = f"http://127.0.0.1:{self.proxy_port}"
        super().__init__(
            root,
            {
                "DJANGO_SETTINGS_MODULE": "project.settings",
                "DATABASE_URL": self.postgres.url,
                "REDIS_URL": self.redis.url,
                "ELIZABUS_VAR_DIR": str(root),
                "ELIZABUS_BUS_TRANSPORT": "elizabus.bus.transports.redis.RedisStreamTransport",
                "ELIZABUS_BUS_LEASE_SECONDS": "1.5",
                "ELIZABUS_BUS_RELAY_GRACE_SECONDS": "1",
                "ELIZABUS_RUN_AGENTS": "0",
                # Every user here comes from 127.0.0.1: the per-IP throttle would stop the load.
                "ELIZABUS_API_RATE": "1000000/min",
                "DJANGO_SECRET_KEY": "faults-" + "k" * 50,
                "PYTHONUNBUFFERED": "1",
                # The rooms' and broadcasts' debug lines place a socket's miss in the logs.
                "ELIZABUS_LOG_LEVEL": "DEBUG",
            },
        )

    # --- the services ---------------------------------------------------------------------

    def restart_postgres(self) -> None:
        """A fast shutdown (every connection dropped), then a start on the same port."""
        self.postgres.restart()

    def restart_redis(self) -> None:
        self.redis.restart()

    def pause_redis(self, seconds: float) -> None:
        """Redis unreachable: it holds its connections and answers nothing for ``seconds``."""
        self.redis.pause()
        try:
            time.sleep(seconds)
        finally:
            self.redis.resume()

    def pause_postgres(self, seconds: float) -> None:
        """PostgreSQL unreachable: its postmaster and backends hold their connections and
        answer nothing for ``seconds``."""
        self.postgres.pause()
        try:
            time.sleep(seconds)
        finally:
            self.postgres.resume()

    def start_proxy(self) -> None:
        env = {
            "ELIZABUS_PROXY_BIND": f"127.0.0.1:{self.proxy_port}",
            "ELIZABUS_SERVER_1": f"127.0.0.1:{self.ports['server-1']}",
            "ELIZABUS_SERVER_2": f"127.0.0.1:{self.ports['server-2']}",
        }
        process = self.start("haproxy", [self.haproxy, "-f", str(HAPROXY_CFG), "-db"], env=env)
        wait_until_listening(process, self.proxy_port, self.log("haproxy"))

    # --- elizabus ---------------------------------------------------------------------------

    def start_server(self, name: str) -> None:
        port = str(self.ports[name])
        args = ("serve", "--port", port, "--forwarded-allow-ips", "127.0.0.1")
        process = self.start_manage(name, *args)
        wait_until_listening(process, self.ports[name], self.log(name))

    def start_worker(self, name: str) -> None:
        self.start_manage(name, "runagents")
        self.wait_for_log(name, "Running agents")

    def shell(self, script: str, **env: str) -> subprocess.CompletedProcess[bytes]:
        return self.manage("shell", "-c", script, **env)

    def cleanup(self) -> None:
        self.stop_all()
        self.postgres.cleanup()
        self.redis.cleanup()

    # --- users --------------------------------------------------------------------------------

    def post(self, channel_id: str, text: str, transport: str = "websocket") -> str | None:
        """Posts over REST through the proxy; the message's id once the server answered."""
        return self.post_answer(channel_id, text, transport)[0]

    def post_answer(
        self, channel_id: str, text: str, transport: str = "websocket"
    ) -> tuple[str | None, int]:
        """As :meth:`post`, with the HTTP status of the answer (0: none came)."""
        body = {
            "author_id": str(uuid.uuid4()),
            "content": text,
            "message_server_id": str(DEFAULT_SERVER_ID),
            "transport": transport,
        }
        request = urllib.request.Request(
            f"{self.url}/api/messaging/channels/{channel_id}/messages",
            method="POST",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())["userMessage"]["id"], response.status
        except urllib.error.HTTPError as refused:
            return None, refused.code
        except (urllib.error.URLError, OSError, KeyError, ValueError):
            return None, 0

    def socket_users(self, node_modules: Path, **config: Any) -> subprocess.Popen[str]:
        """The socket users of ``node/load.cjs``; they stop when their stdin is closed."""
        config = {"url": self.url, "serverId": str(DEFAULT_SERVER_ID), **config}
        script = Path(__file__).parent / "node" / "load.cjs"
        with open(self.log("socket-users"), "ab") as log:
            return subprocess.Popen(
                [_tool("node"), str(script), json.dumps(config)],
                env={"NODE_PATH": str(node_modules), "PATH": "/usr/bin:/bin"},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
