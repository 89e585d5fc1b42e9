"""The socket-presence backends (elizabus/realtime/presence.py): the local counter, and the Redis
sorted sets that hold the per-entity limit across processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from elizabus.realtime.presence import LocalPresence, RedisPresence
from tests.live import REPO, LiveServer


async def test_local_presence_holds_up_to_the_limit() -> None:
    presence, entity = LocalPresence(), uuid.uuid4()

    assert await presence.acquire(entity, "a", 2)
    assert await presence.acquire(entity, "b", 2)
    assert not await presence.acquire(entity, "c", 2)
    assert await presence.count(entity) == 2
    await presence.release(entity, "a")
    assert await presence.acquire(entity, "c", 2)
    await presence.release(entity, "b")
    await presence.release(entity, "c")
    assert entity not in presence.counts


@pytest.fixture
async def redis_presence(redis_url: str):
    """Two backends on one Redis: two processes' views of it."""
    made: list[RedisPresence] = []

    def make(ttl: float = 30.0) -> RedisPresence:
        made.append(RedisPresence(redis_url, ttl=ttl, key_prefix="elizabus:test-presence:"))
        return made[-1]

    yield make
    for presence in made:
        await presence.close()


@pytest.mark.redis
async def test_redis_presence_holds_the_limit_across_backends(redis_presence) -> None:
    one, two, entity = redis_presence(), redis_presence(), uuid.uuid4()

    assert await one.acquire(entity, "a", 2)
    assert await two.acquire(entity, "b", 2)
    assert not await one.acquire(entity, "c", 2)
    assert not await two.acquire(entity, "c", 2)
    assert await two.count(entity) == 2
    await one.release(entity, "a")
    assert await two.acquire(entity, "c", 2)
    assert not await one.acquire(entity, "d", 2)
    await two.release(entity, "b")
    await two.release(entity, "c")
    assert await one.count(entity) == 0
    # Releasing a place not held changes nothing.
    await one.release(entity, "never")
    assert await one.count(entity) == 0


@pytest.mark.redis
async def test_redis_presence_takes_the_last_place_once(redis_presence) -> None:
    backends, entity = [redis_presence() for _ in range(4)], uuid.uuid4()

    taken = await asyncio.gather(*(backends[i % 4].acquire(entity, f"s{i}", 3) for i in range(40)))

    assert sum(taken) == 3
    assert await backends[0].count(entity) == 3


@pytest.mark.redis
async def test_a_dead_process_places_age_out_and_live_ones_are_refreshed(redis_presence) -> None:
    live, dead, entity = redis_presence(ttl=0.6), redis_presence(ttl=0.6), uuid.uuid4()

    assert await live.acquire(entity, "live", 2)
    assert await dead.acquire(entity, "dead", 2)
    # The "dead" process stops refreshing (as a crashed one does); the live one goes on.
    dead._refresher.cancel()
    await asyncio.sleep(1.2)

    assert await live.count(entity) == 1
    assert await live.acquire(entity, "new", 2)
    assert not await live.acquire(entity, "more", 2)
    await live.close()


# --- two live server processes ------------------------------------------------------------------


async def _connect(url: str, entity: uuid.UUID):
    """A WebSocket Socket.IO client: returns the open socket and ``"ok"`` or the refusal."""
    from websockets.asyncio.client import connect

    socket = await connect(url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket")
    assert (await asyncio.wait_for(socket.recv(), 10)).startswith("0")
    await socket.send("40" + json.dumps({"entityId": str(entity)}))
    answer = await asyncio.wait_for(socket.recv(), 10)
    if answer.startswith("44"):
        return socket, json.loads(answer[2:])["message"]
    assert answer.startswith("40"), answer
    return socket, "ok"


@pytest.mark.redis
async def test_the_limit_holds_across_two_server_processes(tmp_path: Path, redis_url: str) -> None:
    env = {
        "DATABASE_URL": "",
        "REDIS_URL": redis_url,
        "ELIZABUS_BUS_TRANSPORT": "",
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "ELIZABUS_VAR_DIR": str(tmp_path),
        "ELIZABUS_RUN_AGENTS": "0",
        "ELIZABUS_SOCKET_MAX_CONNECTIONS_PER_ENTITY": "2",
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
    sockets = []
    try:
        for server in servers:
            server.start()
        entity = uuid.uuid4()
        answers = []
        for server in (servers[0], servers[1], servers[1], servers[0]):
            socket, answer = await _connect(server.url, entity)
            sockets.append(socket)
            answers.append(answer)
        assert answers == ["ok", "ok", *["Too many connections for this entity"] * 2]

        # A socket that closes gives its place back to the other process.
        await sockets[0].close()
        deadline = time.monotonic() + 10
        while True:
            socket, answer = await _connect(servers[1].url, entity)
            sockets.append(socket)
            if answer == "ok" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert answer == "ok"
        socket, answer = await _connect(servers[0].url, entity)
        sockets.append(socket)
        assert answer == "Too many connections for this entity"
    finally:
        for socket in sockets:
            await socket.close()
        for server in servers:
            server.stop()


@pytest.mark.redis
async def test_a_hung_redis_costs_one_socket_place_its_deadline_then_counts_here(
    hung_redis: str,
) -> None:
    # A socket's connect counts its entity's sockets here; it waited for as long as Redis hung.
    # Now the first waits the read's deadline, and the breaker sends the rest to this process's
    # own count (docs/deployment.md, "When a dependency is down").
    from elizabus import breakers

    presence, entity = RedisPresence(hung_redis), uuid.uuid4()
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        assert await presence.acquire(entity, "first", 2)
        first = loop.time() - started
        assert await presence.acquire(entity, "second", 2)
        assert not await presence.acquire(entity, "third", 2)
        rest = loop.time() - started - first
        assert breakers.redis.is_open
        await presence.release(entity, "first")
        await presence.release(entity, "second")
        assert await presence.count(entity) == 0
    finally:
        await presence.close()

    assert 0.2 <= first < 1.0 and rest < 0.05, (first, rest)
