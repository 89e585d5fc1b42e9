"""Socket.IO v5 over an Engine.IO session, with a minimal application (``EchoNamespace``)."""

from __future__ import annotations

import asyncio
import json

import pytest

from elizabus.realtime import engineio
from elizabus.realtime.engineio import CLOSE_PROTOCOL_ERROR, EngineOptions, Session
from elizabus.realtime.socketio import Socket, encode_event

from .helpers import EchoNamespace, FakeLink


async def open_socket(connect_timeout: float = 5.0) -> tuple[Socket, EchoNamespace, FakeLink]:
    link = FakeLink()
    session = Session(transport=engineio.WEBSOCKET, options=EngineOptions(), link=link)
    namespace = EchoNamespace()
    socket = Socket(session, namespace, connect_timeout=connect_timeout)
    namespace.socket = socket
    session.handler = socket
    link.frames.append(session.open())
    return socket, namespace, link


async def connected_socket() -> tuple[Socket, EchoNamespace, FakeLink]:
    socket, namespace, link = await open_socket()
    await socket.session.receive('40{"token":"ok"}')
    link.frames.clear()
    return socket, namespace, link


def event_of(frame: str) -> list:
    assert frame.startswith("42")
    return json.loads(frame[2:])


async def test_connect_answers_the_sid_then_the_application_speaks():
    socket, _, link = await open_socket()
    await socket.session.receive('40{"token":"ok"}')
    assert link.frames[1] == f'40{{"sid":"{socket.sid}"}}'
    assert event_of(link.frames[2]) == ["welcome", {"sid": socket.sid}]
    assert socket.sid != socket.session.sid


async def test_refused_connect_is_a_connect_error_and_the_session_stays():
    socket, _, link = await open_socket()
    await socket.session.receive('40{"token":"no"}')
    assert link.frames[-1] == '44{"message":"bad token"}'
    assert not socket.connected and not socket.session.closed
    await socket.session.receive('40{"token":"ok"}')
    assert socket.connected


async def test_other_namespaces_are_refused():
    socket, _, link = await open_socket()
    await socket.session.receive("40/admin,")
    assert link.frames[-1] == '44/admin,{"message":"Invalid namespace"}'


async def test_events_reach_the_application_and_acks_carry_its_answer():
    socket, namespace, link = await connected_socket()
    await socket.session.receive('42["hello",{"a":1},2]')
    assert namespace.events == [("hello", [{"a": 1}, 2])]
    assert link.frames == []
    await socket.session.receive('4212["hello",null]')
    assert link.frames[-1] == '4312[{"echo":[null]}]'
    await socket.session.receive('427["pair"]')
    assert link.frames[-1] == '437["a","b"]'


@pytest.mark.parametrize(
    "frame",
    [
        '42{"x":1}',
        "42[1]",
        "42[]",
        "4garbage",
        '42["x"',
        "4" + "[" * 100_000,
        "42" + "[" * 100_000,
        '40{"token":"ok"}',
    ],
)
async def test_malformed_or_out_of_place_packets_close_the_connection(frame):
    socket, namespace, link = await connected_socket()
    await socket.session.receive(frame)
    assert socket.session.closed
    assert link.closed_with == CLOSE_PROTOCOL_ERROR
    assert len(namespace.disconnects) == 1


async def test_an_event_before_connect_closes_the_connection():
    socket, namespace, link = await open_socket()
    await socket.session.receive('42["hello"]')
    assert link.closed_with == CLOSE_PROTOCOL_ERROR
    assert namespace.disconnects == []


async def test_binary_events_are_refused_without_closing():
    socket, namespace, _ = await connected_socket()
    await socket.session.receive('451-["upload",{"_placeholder":true,"num":0}]')
    await socket.session.receive(b"\x00\x01")
    assert namespace.refused == ["Binary payloads are not supported"]
    assert namespace.events == []
    assert not socket.session.closed


async def test_client_disconnect_ends_the_socket_once():
    socket, namespace, _ = await connected_socket()
    await socket.session.receive("41")
    assert namespace.disconnects == ["client namespace disconnect"]
    assert socket.session.closed


async def test_server_disconnect_tells_the_client_first():
    socket, namespace, link = await connected_socket()
    await socket.disconnect()
    assert link.frames == ["41"]
    assert link.closed_with == 1000
    assert namespace.disconnects == ["server namespace disconnect"]


async def test_transport_loss_ends_the_socket():
    socket, namespace, _ = await connected_socket()
    await socket.session.close("transport close", notify=False)
    assert namespace.disconnects == ["transport close"]


async def test_a_session_that_never_connects_is_closed():
    socket, _, link = await open_socket(connect_timeout=0.05)
    await asyncio.sleep(0.1)
    assert socket.session.closed
    assert link.closed_with == 1000


async def test_emit_needs_a_connected_socket():
    socket, _, link = await open_socket()
    await socket.emit("early", {})
    assert len(link.frames) == 1  # only the handshake


def test_encode_event_is_a_default_namespace_event():
    # A Socket.IO packet: the session adds Engine.IO's MESSAGE type ("4") when it sends it.
    frame = encode_event("messageBroadcast", {"text": "hé"})
    assert frame == '2["messageBroadcast",{"text":"h\\u00e9"}]'
