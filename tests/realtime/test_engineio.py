"""Engine.IO v4 sessions: handshake, heartbeat, polling, upgrade, close and bad input."""

from __future__ import annotations

import asyncio
import json

import pytest

from elizabus.realtime import engineio
from elizabus.realtime.engineio import (
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_BIG,
    EngineError,
    EngineOptions,
    RequestRefused,
    Session,
    check_request,
)

from .helpers import FakeLink, RecordingHandler

FAST = EngineOptions(ping_interval=0.05, ping_timeout=0.05, max_payload=1000)


def polling_session(options: EngineOptions = FAST) -> tuple[Session, RecordingHandler]:
    session = Session(transport=engineio.POLLING, options=options)
    handler = RecordingHandler()
    session.handler = handler
    return session, handler


def websocket_session(options: EngineOptions = FAST) -> tuple[Session, RecordingHandler, FakeLink]:
    link = FakeLink()
    session = Session(transport=engineio.WEBSOCKET, options=options, link=link)
    handler = RecordingHandler()
    session.handler = handler
    return session, handler, link


async def test_polling_handshake_offers_the_websocket_upgrade_and_registers():
    session, _ = polling_session(EngineOptions())
    opened = session.open()
    assert opened[0] == "0"
    assert json.loads(opened[1:]) == {
        "sid": session.sid,
        "upgrades": ["websocket"],
        "pingInterval": 25000,
        "pingTimeout": 20000,
        "maxPayload": 1024 * 1024,
    }
    assert engineio.sessions[session.sid] is session
    await session.close("test", notify=False)
    assert session.sid not in engineio.sessions


async def test_websocket_handshake_offers_no_upgrade_and_is_not_registered():
    session, _, _ = websocket_session()
    assert json.loads(session.open()[1:])["upgrades"] == []
    assert session.sid not in engineio.sessions
    await session.close("test")


async def test_server_pings_and_a_pong_keeps_the_session():
    session, handler, link = websocket_session()
    session.open()
    for _ in range(3):
        assert await link.next_frame() == "2"
        await session.receive("3")
    assert not session.closed
    await session.close("test")
    assert link.closed_with == 1000
    assert handler.closed == ["test"]


async def test_missing_pong_closes_the_session():
    session, handler, link = websocket_session()
    session.open()
    assert await link.next_frame() == "2"
    await asyncio.sleep(0.15)
    assert session.closed
    assert handler.closed == ["ping timeout"]
    assert link.closed_with == 1000


async def test_poll_waits_for_packets_and_batches_them_with_the_separator():
    session, _ = polling_session(EngineOptions())
    session.open()
    poll = asyncio.ensure_future(session.poll())
    await asyncio.sleep(0.01)
    assert not poll.done()
    await session.send_message('2["a"]')
    await session.send_message('2["b"]')
    assert await poll == '42["a"]\x1e42["b"]'
    await session.close("test", notify=False)


async def test_a_post_may_carry_many_packets_in_order():
    session, handler = polling_session(EngineOptions())
    session.open()
    body = "\x1e".join(f'42["e",{i}]' for i in range(40))
    await session.receive_payload(body)
    assert handler.messages == [f'2["e",{i}]' for i in range(40)]
    await session.close("test", notify=False)


async def test_overlapping_polls_are_refused_and_close_the_session():
    session, handler = polling_session(EngineOptions())
    session.open()
    first = asyncio.ensure_future(session.poll())
    await asyncio.sleep(0)
    with pytest.raises(RequestRefused) as refused:
        await session.poll()
    assert refused.value.error is EngineError.BAD_REQUEST
    assert await first == "1"
    assert handler.closed == ["overlapping poll"]


async def test_server_close_reaches_a_waiting_poll_then_the_sid_is_forgotten():
    session, _ = polling_session(EngineOptions())
    session.open()
    poll = asyncio.ensure_future(session.poll())
    await asyncio.sleep(0)
    await session.send_message("1")
    await session.close("server namespace disconnect")
    assert await poll == "41\x1e1"
    assert session.sid not in engineio.sessions


@pytest.mark.parametrize("body", ["", "9", "x", "42\x1e"])
async def test_malformed_post_is_a_bad_request_and_closes(body):
    session, handler = polling_session(EngineOptions())
    session.open()
    with pytest.raises(RequestRefused):
        await session.receive_payload(body)
    assert handler.closed == ["parse error"]


async def test_a_packet_only_the_server_sends_closes_a_polling_session():
    session, handler = polling_session(EngineOptions())
    session.open()
    await session.receive_payload("0{}")
    assert handler.closed == ["parse error"]


@pytest.mark.parametrize("frame", ["", "x", "7", "2", "0{}", "5"])
async def test_bad_websocket_frames_close_with_protocol_error(frame):
    session, handler, link = websocket_session(EngineOptions())
    session.open()
    await session.receive(frame)
    assert session.closed
    assert link.closed_with == CLOSE_PROTOCOL_ERROR
    assert handler.messages == []


async def test_oversized_frame_closes_with_1009():
    session, _, link = websocket_session()
    session.open()
    await session.receive("4" + "x" * 2000)
    assert link.closed_with == CLOSE_TOO_BIG


async def test_client_close_packet_ends_the_session_quietly():
    session, handler, link = websocket_session(EngineOptions())
    session.open()
    await session.receive("1")
    assert handler.closed == ["transport close"]
    assert link.closed_with is None


async def test_a_polling_client_that_stops_polling_cannot_make_the_server_hoard():
    session, handler = polling_session(EngineOptions(max_buffered_packets=5))
    session.open()
    for i in range(6):
        await session.send_message(f'2["e",{i}]')
    assert handler.closed == ["too many buffered packets"]


async def test_upgrade_probe_releases_the_poll_then_moves_the_session():
    session, _ = polling_session(EngineOptions())
    session.open()
    poll = asyncio.ensure_future(session.poll())
    await asyncio.sleep(0)
    link = FakeLink()
    assert await session.receive_probe("2probe", link) is False
    assert link.frames == ["3probe"]
    assert await poll == "6"
    # Packets sent while the client pauses polling wait for the new transport, in order.
    await session.send_message('2["queued"]')
    assert await session.receive_probe("5", link) is True
    assert session.transport == engineio.WEBSOCKET
    assert link.frames[1:] == ['42["queued"]']
    assert session.sid not in engineio.sessions
    await session.send_message('2["live"]')
    assert link.frames[-1] == '42["live"]'
    await session.close("test")


async def test_a_probe_that_is_not_a_probe_is_refused_and_polling_goes_on():
    session, _ = polling_session(EngineOptions())
    session.open()
    link = FakeLink()
    assert await session.receive_probe("5", link) is False
    assert link.closed_with == CLOSE_PROTOCOL_ERROR
    assert session.can_upgrade()
    await session.close("test", notify=False)


async def test_an_upgrade_that_never_completes_times_out():
    session, _ = polling_session(EngineOptions(upgrade_timeout=0.05))
    session.open()
    link = FakeLink()
    await session.receive_probe("2probe", link)
    await asyncio.sleep(0.1)
    assert link.closed_with is not None
    session.abort_upgrade()
    assert session.can_upgrade()
    await session.close("test", notify=False)


@pytest.mark.parametrize(
    ("query", "method", "error"),
    [
        ({"EIO": "3", "transport": "polling"}, "GET", EngineError.UNSUPPORTED_PROTOCOL_VERSION),
        ({"EIO": "4", "transport": "flash"}, "GET", EngineError.UNKNOWN_TRANSPORT),
        ({"EIO": "4", "transport": "websocket"}, "GET", EngineError.UNKNOWN_TRANSPORT),
        ({"EIO": "4", "transport": "polling"}, None, EngineError.UNKNOWN_TRANSPORT),
        ({"EIO": "4", "transport": "polling"}, "POST", EngineError.BAD_HANDSHAKE_METHOD),
    ],
)
def test_check_request_refusals(query, method, error):
    with pytest.raises(RequestRefused) as refused:
        check_request(query, method=method)
    assert refused.value.error is error


def test_check_request_accepts_both_transports():
    assert check_request({"EIO": "4", "transport": "polling"}, method="GET") == ("polling", None)
    assert check_request({"EIO": "4", "transport": "websocket", "sid": "abc"}) == (
        "websocket",
        "abc",
    )


def test_refusal_bodies_are_engine_io_json():
    body = json.loads(EngineError.UNKNOWN_SID.body())
    assert body == {"code": 1, "message": "Session ID unknown"}
    assert EngineError.FORBIDDEN.status == 403
