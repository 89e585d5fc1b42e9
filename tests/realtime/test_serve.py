"""``manage.py serve``, the server ``make run`` starts, keeps the choices it documents: no
per-message compression, a WebSocket message over ``MAX_SOCKET_FRAME_BYTES`` closed with 1009 and
the server serving on, no server banner."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from elizabus.conf import app_settings
from tests.live import LiveServer

pytestmark = pytest.mark.django_db(transaction=True)


def _socket_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"


def test_sockets_are_not_compressed_even_when_the_client_offers(live_server_url: str) -> None:
    with connect(_socket_url(live_server_url), compression="deflate") as socket:
        assert "Sec-WebSocket-Extensions" not in socket.response.headers
        opened = socket.recv(timeout=5)
        assert opened.startswith("0") and json.loads(opened[1:])["maxPayload"] == (
            app_settings.MAX_SOCKET_FRAME_BYTES
        )


def test_a_message_over_the_frame_limit_closes_with_1009(live_server_url: str) -> None:
    with connect(_socket_url(live_server_url), max_size=None, compression=None) as socket:
        socket.recv(timeout=5)
        socket.send("4" + "x" * app_settings.MAX_SOCKET_FRAME_BYTES)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                socket.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    # The server goes on serving.
    with connect(_socket_url(live_server_url), compression=None) as socket:
        assert socket.recv(timeout=5).startswith("0")


def test_http_answers_carry_no_server_banner(live_server_url: str) -> None:
    answer = httpx.get(live_server_url + "/api/messaging/message-server/current", timeout=5)
    assert answer.status_code == 200
    assert "server" not in answer.headers


@pytest.mark.parametrize(("args", "logged"), [((), 1), (("--no-access-log",), 0)])
def test_the_access_log_is_written_unless_switched_off(
    tmp_path: Path, args: tuple[str, ...], logged: int
) -> None:
    # No agents: the start-up then needs no table, and this request reads none.
    env = {"ELIZABUS_VAR_DIR": str(tmp_path / "var"), "ELIZABUS_RUN_AGENTS": "0"}
    server = LiveServer(tmp_path, env, args)
    server.start()
    try:
        answer = httpx.get(server.url + "/api/messaging/message-server/current", timeout=5)
        assert answer.status_code == 200
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert log.count('"GET /api/messaging/message-server/current HTTP/1.1" 200') == logged
