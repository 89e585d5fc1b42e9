"""Fixtures of the real-time tests: the ASGI application, a clean channel layer, connected
clients, and (for ``node`` tests) a live server and the npm ``socket.io-client``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.conf import settings
from django.db import connections

from elizabus.realtime import engineio
from elizabus.realtime.rooms import local_rooms
from elizabus.realtime.routing import http_urlpatterns, websocket_urlpatterns
from tests.live import LiveServer, npm_package

from .helpers import SioClient


@pytest.fixture
def application() -> ProtocolTypeRouter:
    """The real-time routes as ``project/asgi.py`` mounts them."""
    return ProtocolTypeRouter(
        {"http": URLRouter(http_urlpatterns), "websocket": URLRouter(websocket_urlpatterns)}
    )


@pytest.fixture(autouse=True)
async def channel_layer() -> AsyncIterator[object]:
    # The in-memory layer is one object per process; its queues must not outlive a test's loop.
    layer = get_channel_layer()
    await layer.flush()
    yield layer
    await local_rooms().close()
    await layer.flush()
    engineio.sessions.clear()
    # database_sync_to_async keeps its own connection in its worker thread; close it, or
    # PostgreSQL refuses to drop the test database at the end of the run.
    await sync_to_async(connections.close_all)()


@pytest.fixture
async def sio(application) -> AsyncIterator[Callable[..., Awaitable[SioClient]]]:
    """Connects WebSocket clients as entities: ``await sio(entity_id=None, **auth)``."""
    clients: list[SioClient] = []

    async def connect(entity_id: uuid.UUID | None = None, **auth: object) -> SioClient:
        client = SioClient(application)
        clients.append(client)
        answer = await client.connect({"entityId": str(entity_id or uuid.uuid4()), **auth})
        assert answer == "ok", answer
        await client.expect("authenticated")
        await client.expect("connection_established")
        return client

    yield connect
    for client in clients:
        await client.close()


# --- live server and the npm client (``node`` tests) ---------------------------------------------

SOCKET_IO_CLIENT = "socket.io-client@~4.8.1"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """``socket.io-client`` 4.8.x installed from npm into ``var/node/`` once (then cached)."""
    return npm_package(Path(settings.VAR_DIR) / "node", SOCKET_IO_CLIENT)


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, tmp_path_factory) -> Iterator[str]:
    """``manage.py serve`` on a free loopback port, on the test database."""
    from django.db import connection

    server = LiveServer(
        tmp_path_factory.mktemp("live"),
        {
            "DJANGO_SETTINGS_MODULE": "tests.realtime.live_settings",
            "ELIZABUS_LIVE_DB_NAME": str(connection.settings_dict["NAME"]),
        },
    )
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
