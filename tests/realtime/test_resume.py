"""A socket's resume (router.py, docs/realtime.md "Offsets") across real server processes: two
``manage.py serve`` on a private PostgreSQL and Redis, posts to both interleaved while the
client is away, and the rejoin on either server resends exactly those, in seq order."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import REPO, LiveServer, skip_or_fail
from tests.private_services import PrivatePostgres, PrivateRedis, ServiceUnavailable

ZERO = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[list[LiveServer]]:
    try:
        postgres, redis = PrivatePostgres(log_dir=tmp_path), PrivateRedis(log_dir=tmp_path)
    except ServiceUnavailable as missing:
        skip_or_fail(str(missing))
    with postgres, redis:
        env = {
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis.url,
            "ELIZABUS_BUS_TRANSPORT": "elizabus.bus.transports.redis.RedisStreamTransport",
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "ELIZABUS_VAR_DIR": str(tmp_path / "var"),
            "ELIZABUS_RUN_AGENTS": "0",
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
            check=True,
            capture_output=True,
            timeout=120,
        )
        servers = [LiveServer(tmp_path, env), LiveServer(tmp_path, env)]
        try:
            for server in servers:
                server.start()
            yield servers
        finally:
            for server in servers:
                server.stop()


class Socket:
    """A Socket.IO client over a bare WebSocket: events in, pings answered."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    @classmethod
    async def connect(cls, url: str, entity: str) -> Socket:
        from websockets.asyncio.client import connect

        connection = await connect(
            url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        )
        socket = cls(connection)
        assert (await asyncio.wait_for(connection.recv(), 10)).startswith("0")
        await connection.send("40" + json.dumps({"entityId": entity}))
        assert (await asyncio.wait_for(connection.recv(), 10)).startswith("40")
        return socket

    async def emit(self, event: str, data: Any) -> None:
        await self.connection.send("42" + json.dumps([event, data]))

    async def expect(self, event: str, timeout: float = 10) -> Any:
        """The next event named ``event``; fails on a ``messageBroadcast`` or ``messageError``
        met before it."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.connection.recv()
                if frame == "2":
                    await self.connection.send("3")
                    continue
                if not frame.startswith("42"):
                    continue
                name, data = json.loads(frame[2:])
                if name == event:
                    return data
                assert name not in ("messageBroadcast", "messageError"), (name, data)

    async def silent(self, seconds: float = 1.0) -> bool:
        """No broadcast within ``seconds``."""
        try:
            await self.expect("messageBroadcast", timeout=seconds)
        except TimeoutError:
            return True
        return False

    async def close(self) -> None:
        await self.connection.close()


async def _post(client: httpx.AsyncClient, server: LiveServer, channel: str, **body: Any) -> Any:
    answer = await client.post(
        f"{server.url}/api/messaging/channels/{channel}/messages",
        json={"message_server_id": ZERO, **body},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["userMessage"]


async def test_a_rejoin_on_either_server_resends_exactly_the_interleaved_posts(
    two_servers: list[LiveServer],
) -> None:
    first, second = two_servers
    alice, bob, channel = (str(uuid.uuid4()) for _ in range(3))
    async with httpx.AsyncClient(timeout=15) as client:
        await _post(client, first, channel, author_id=alice, content="hello")  # makes it
        socket = await Socket.connect(first.url, alice)
        await socket.emit("1", {"channelId": channel})
        joined = await socket.expect("channel_joined")
        assert joined["lastSeq"] == 1
        # Posted through the other server: it reaches this socket through Redis.
        await _post(client, second, channel, author_id=bob, content="before the gap")
        seen = await socket.expect("messageBroadcast")
        assert (seen["text"], seen["seq"]) == ("before the gap", 2)
        await socket.close()

        # While Alice is away, Bob and Carol post to both servers at once.
        async def posts(server: LiveServer, author: str) -> list[Any]:
            return [
                await _post(client, server, channel, author_id=author, content=f"{author[:4]} {n}")
                for n in range(10)
            ]

        carol = str(uuid.uuid4())
        made = await asyncio.gather(posts(first, bob), posts(second, carol))
        stored = sorted((m for ms in made for m in ms), key=lambda m: m["seq"])
        assert [m["seq"] for m in stored] == list(range(3, 23))

        # Back through either server, by the message seen or by its seq: exactly those 20.
        for server, offset in ((second, {"lastMessageId": seen["id"]}), (first, {"lastSeq": 2})):
            again = await Socket.connect(server.url, alice)
            await again.emit("1", {"channelId": channel, **offset})
            joined = await again.expect("channel_joined")
            assert (joined["lastSeq"], joined["resent"], joined["recovered"]) == (22, 20, True)
            resent = [await again.expect("messageBroadcast") for _ in range(20)]
            assert [(m["id"], m["seq"]) for m in resent] == [(m["id"], m["seq"]) for m in stored]
            assert await again.silent()
            await again.close()
