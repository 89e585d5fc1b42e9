"""The log stream: sockets that subscribe see the server's log records as elizaOS log entries,
filtered by agent and level as in the reference, and bad filter payloads change nothing."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from elizabus.realtime import logstream
from elizabus.realtime.logstream import clean_filters, entry_level, passes
from elizabus.realtime.router import LOG_STREAM_OFF

pytestmark = pytest.mark.django_db(transaction=True)

log = logging.getLogger("elizabus.tests.logstream")


@pytest.fixture(autouse=True)
def _streamed_levels() -> Iterator[None]:
    # Records of this logger reach the root's handlers from DEBUG up, whatever LOG_LEVEL says.
    level = log.level
    log.setLevel(logging.DEBUG)
    yield
    log.setLevel(level)
    logstream.log_stream.subscribers.clear()


async def subscribed(sio: Any) -> Any:
    client = await sio()
    await client.emit("subscribe_logs")
    assert await client.expect("log_subscription_confirmed") == {
        "subscribed": True,
        "message": "Successfully subscribed to log stream",
    }
    return client


async def next_entry(client: Any, timeout: float = 2.0) -> dict[str, Any]:
    data = await client.expect("log_stream", timeout)
    assert data["type"] == "log_entry"
    return data["payload"]


async def test_a_subscribed_socket_sees_each_record_as_a_log_entry(sio) -> None:
    client = await subscribed(sio)
    log.warning("disk %s is %d%% full", "var", 91)
    entry = await next_entry(client)
    assert entry["msg"] == "disk var is 91% full"
    assert entry["level"] == 40 and entry["name"] == "elizabus.tests.logstream"
    assert isinstance(entry["time"], int) and entry["time"] > 1_700_000_000_000


async def test_records_from_other_threads_arrive_in_order(sio) -> None:
    client = await subscribed(sio)

    def worker() -> None:
        for n in range(5):
            log.info("from a thread %d", n)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert [(await next_entry(client))["msg"] for _ in range(5)] == [
        f"from a thread {n}" for n in range(5)
    ]


async def test_a_socket_that_did_not_subscribe_sees_nothing(sio) -> None:
    subscriber = await subscribed(sio)
    bystander = await sio()
    log.error("for subscribers only")
    assert (await next_entry(subscriber))["msg"] == "for subscribers only"
    assert await bystander.silent()


async def test_the_level_filter_lets_through_entries_at_or_above_it(sio) -> None:
    client = await subscribed(sio)
    await client.emit("update_log_filters", {"level": "error"})
    assert await client.expect("log_filters_updated") == {
        "success": True,
        "filters": {"level": "error"},
    }
    log.warning("too quiet")
    log.error("loud enough")
    assert (await next_entry(client))["msg"] == "loud enough"


async def test_the_agent_filter_keeps_one_agents_records(sio) -> None:
    client = await subscribed(sio)
    await client.emit("update_log_filters", {"agentName": "Eliza"})
    await client.expect("log_filters_updated")
    log.warning("another agent", extra={"agentName": "Other"})
    log.warning("no agent")
    log.warning("eliza speaks", extra={"agentName": "Eliza", "agentId": "a-1"})
    entry = await next_entry(client)
    assert (entry["msg"], entry["agentName"], entry["agentId"]) == ("eliza speaks", "Eliza", "a-1")
    await client.emit("update_log_filters", {"agentName": "all", "level": "all"})
    assert (await client.expect("log_filters_updated"))["filters"] == {
        "agentName": "all",
        "level": "all",
    }
    log.debug("everything again")
    assert (await next_entry(client))["msg"] == "everything again"


async def test_filters_need_a_subscription(sio) -> None:
    client = await sio()
    await client.emit("update_log_filters", {"level": "warn"})
    assert await client.expect("log_filters_updated") == {
        "success": False,
        "error": "Not subscribed to log stream",
    }


async def test_unsubscribing_stops_the_stream(sio) -> None:
    client = await subscribed(sio)
    await client.emit("unsubscribe_logs")
    assert await client.expect("log_subscription_confirmed") == {
        "subscribed": False,
        "message": "Successfully unsubscribed from log stream",
    }
    log.error("after unsubscribing")
    assert await client.silent()


async def test_a_closed_socket_leaves_the_stream(sio) -> None:
    client = await subscribed(sio)
    await client.close()
    await asyncio.sleep(0.05)
    assert logstream.log_stream.subscribers == {}


@pytest.mark.parametrize(
    "payload",
    [None, "level", 7, [1, 2], {"level": {"$gt": 1}}, {"agentName": ["x"]}, {"level": True}],
)
async def test_hostile_filters_are_ignored_and_the_socket_keeps_working(sio, payload) -> None:
    client = await subscribed(sio)
    await client.emit("update_log_filters", payload)
    assert await client.expect("log_filters_updated") == {"success": True, "filters": {}}
    log.warning("still streaming")
    assert (await next_entry(client))["msg"] == "still streaming"


async def test_an_oversized_filter_is_cut_to_size(sio) -> None:
    client = await subscribed(sio)
    await client.emit("update_log_filters", {"agentName": "x" * 100_000})
    filters = (await client.expect("log_filters_updated"))["filters"]
    assert filters == {"agentName": "x" * logstream.MAX_FILTER_LENGTH}


async def test_a_flood_of_records_keeps_only_the_newest_waiting(sio) -> None:
    client = await subscribed(sio)
    dropped = logstream.log_stream.dropped
    total = logstream.MAX_PENDING + 500

    def flood() -> None:
        for n in range(total):
            log.info("flood %d", n)

    # From another thread, so the loop cannot send while the records pile up.
    thread = threading.Thread(target=flood)
    thread.start()
    thread.join()
    entries = []
    while not await client.silent(0.3):
        entries.append(await next_entry(client))
    assert logstream.log_stream.dropped - dropped >= 1
    assert len(entries) < total
    assert entries[-1]["msg"] == f"flood {total - 1}"


async def test_a_server_may_turn_the_stream_off(sio, settings) -> None:
    from elizabus.conf import app_settings

    settings.ELIZABUS = {**settings.ELIZABUS, "SOCKET_LOG_STREAM": False}
    app_settings.reload()
    client = await sio()
    await client.emit("subscribe_logs")
    assert await client.expect("messageError") == {"error": LOG_STREAM_OFF}
    log.error("not streamed")
    assert await client.silent()


def test_python_levels_map_to_elizaos_levels() -> None:
    assert [entry_level(n) for n in (5, 10, 20, 30, 40, 50)] == [10, 20, 30, 40, 50, 60]


def test_the_reference_filter_rules() -> None:
    warn = {"level": 40, "agentName": "Eliza"}
    assert passes({}, warn)
    assert passes({"level": "warn"}, warn) and not passes({"level": "error"}, warn)
    assert passes({"level": 40}, warn) and not passes({"level": 41}, warn)
    # An unknown level name means 70, above every real level.
    assert not passes({"level": "loudest"}, {"level": 60})
    # "all" lets everything through; the reference compares it case-sensitively.
    assert passes({"level": "all"}, warn) and not passes({"level": "ALL"}, warn)
    assert passes({"agentName": "all"}, warn) and not passes({"agentName": "Other"}, warn)
    # An entry without a level counts as info.
    assert passes({"level": "info"}, {}) and not passes({"level": "warn"}, {})


def test_filters_keep_only_what_they_understand() -> None:
    assert clean_filters({"agentName": "Eliza", "level": "debug", "extra": 1}) == {
        "agentName": "Eliza",
        "level": "debug",
    }
    assert clean_filters({"level": 2.5}) == {"level": 2.5}
    assert clean_filters("nope") == {}
