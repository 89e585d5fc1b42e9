"""The recent log (``/api/server/logs``, ``/api/agents/:id/logs``): the ring fed by the logging
system, its filters, its bound, its clearing, and that an entry never carries a record's other
attributes."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from elizabus.logs import LEVELS, LogQuery, LogRingHandler, log_ring
from tests import factories

from .helpers import Api, assert_error, assert_ok, new_id

LOGS = "/api/server/logs"
log = logging.getLogger("elizabus.tests.logs")


@pytest.fixture(autouse=True)
def empty_ring() -> Iterator[None]:
    log_ring.clear()
    yield
    log_ring.clear()


def _marked(entries: list[dict[str, Any]], marker: str) -> list[dict[str, Any]]:
    """The entries this test logged (the server logs its own lines, 4xx answers among them)."""
    return [entry for entry in entries if marker in entry["msg"]]


def _logs(api: Api, **query: Any) -> dict[str, Any]:
    response = api.get(LOGS, **query)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_logged_record_is_listed_as_an_elizaos_entry(api: Api) -> None:
    marker = uuid.uuid4().hex
    before = int(time.time() * 1000)
    log.warning("disk %s at %d%%", marker, 93)

    body = _logs(api)
    assert set(body) == {
        "logs",
        "count",
        "total",
        "requestedLevel",
        "agentName",
        "agentId",
        "levels",
    }
    (entry,) = _marked(body["logs"], marker)
    assert entry == {
        "time": entry["time"],
        "level": LEVELS["warn"],
        "msg": f"disk {marker} at 93%",
        "name": "elizabus.tests.logs",
    }
    assert entry["time"] >= before
    assert body["levels"] == list(LEVELS)
    assert (body["requestedLevel"], body["agentName"], body["agentId"]) == ("all", "all", "all")
    assert body["count"] == len(body["logs"]) and body["total"] >= body["count"]


def test_an_entry_never_carries_a_records_other_attributes(api: Api) -> None:
    marker = uuid.uuid4().hex
    log.error("login %s", marker, extra={"password": "hunter2", "token": "t0k3n"})
    response = api.get(LOGS)
    (entry,) = _marked(response.json()["logs"], marker)
    assert set(entry) == {"time", "level", "msg", "name"}
    assert b"hunter2" not in response.content and b"t0k3n" not in response.content


def test_the_level_filter_matches_one_level(api: Api) -> None:
    marker = uuid.uuid4().hex
    log.info("info %s", marker)
    log.warning("warn %s", marker)
    log.error("error %s", marker)
    assert [e["msg"] for e in _marked(_logs(api, level="warn")["logs"], marker)] == [
        f"warn {marker}"
    ]
    assert [e["level"] for e in _marked(_logs(api, level="ERROR")["logs"], marker)] == [50]
    assert len(_marked(_logs(api, level="all")["logs"], marker)) == 3
    assert _logs(api, level="warn")["requestedLevel"] == "warn"


def test_an_empty_level_is_all_as_in_the_reference(api: Api) -> None:
    """The UI's Logs page asks for ``level=`` when its filter shows "all"."""
    marker = uuid.uuid4().hex
    log.info("info %s", marker)
    log.error("error %s", marker)
    body = _logs(api, level="")
    assert len(_marked(body["logs"], marker)) == 2
    assert body["requestedLevel"] == "all"


def test_the_agent_filters(api: Api) -> None:
    marker = uuid.uuid4().hex
    agent_id = new_id()
    adapter = logging.LoggerAdapter(log, {"agentName": "Eliza", "agentId": agent_id})
    adapter.warning("agent %s", marker)
    log.warning("server %s", marker)

    by_name = _marked(_logs(api, agentName="Eliza")["logs"], marker)
    assert [entry["msg"] for entry in by_name] == [f"agent {marker}"]
    assert by_name[0]["agentName"] == "Eliza" and by_name[0]["agentId"] == agent_id
    assert len(_marked(_logs(api, agentId=agent_id)["logs"], marker)) == 1
    assert _marked(_logs(api, agentName="Ada")["logs"], marker) == []


def test_since_and_limit_keep_the_newest(api: Api) -> None:
    marker = uuid.uuid4().hex
    for number in range(5):
        log.warning("line %s %d", marker, number)
    newest = _marked(_logs(api, level="warn", limit=2)["logs"], marker)
    assert [entry["msg"] for entry in newest] == [f"line {marker} 3", f"line {marker} 4"]
    future = int(time.time() * 1000) + 60_000
    assert _logs(api, since=future)["logs"] == []
    assert len(_marked(_logs(api, since=0)["logs"], marker)) == 5


def test_post_answers_the_listing_as_the_reference_does(api: Api) -> None:
    marker = uuid.uuid4().hex
    log.warning("posted %s", marker)
    response = api.post(LOGS, {"logs": [{"level": "info", "message": "ignored"}]})
    assert response.status_code == 200
    assert len(_marked(response.json()["logs"], marker)) == 1
    assert _marked(_logs(api)["logs"], "ignored") == []


def test_delete_empties_the_ring(api: Api) -> None:
    marker = uuid.uuid4().hex
    log.warning("old %s", marker)
    response = api.delete(LOGS)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success" and body["message"] == "Logs cleared successfully"
    assert body["cleared"] >= 1
    assert _marked(_logs(api)["logs"], marker) == []


def test_the_ring_is_bounded() -> None:
    capacity = log_ring.capacity
    marker = uuid.uuid4().hex
    try:
        log_ring.resize(5)
        for number in range(20):
            log.warning("flood %s %d", marker, number)
        entries, total = log_ring.query(LogQuery(limit=100))
        assert total == 5
        assert entries[-1]["msg"] == f"flood {marker} 19"
    finally:
        log_ring.resize(capacity)


def test_the_ring_hangs_on_the_root_logger_and_a_size_of_zero_keeps_nothing() -> None:
    assert any(isinstance(handler, LogRingHandler) for handler in logging.getLogger().handlers)
    capacity = log_ring.capacity
    try:
        log_ring.resize(0)
        log.warning("dropped")
        assert log_ring.query(LogQuery()) == ([], 0)
    finally:
        log_ring.resize(capacity)


@pytest.mark.parametrize(
    "query",
    [
        {"level": "loud"},
        {"limit": 0},
        {"limit": 1001},
        {"limit": "abc"},
        {"since": -1},
        {"since": "yesterday"},
        {"agentId": "not-a-uuid"},
        {"agentName": "x" * 300},
    ],
    ids=repr,
)
def test_a_bad_query_is_refused(api: Api, query: dict[str, Any]) -> None:
    assert_error(api.get(LOGS, **query), 400, "VALIDATION_ERROR")


# --- an agent's log -----------------------------------------------------------------------------
def test_an_agents_log_is_its_own_entries(api: Api) -> None:
    agent = factories.make_agent(name="Eliza")
    marker = uuid.uuid4().hex
    adapter = logging.LoggerAdapter(log, {"agentName": "Eliza", "agentId": str(agent.pk)})
    adapter.warning("mine %s", marker)
    adapter.error("mine too %s", marker)
    logging.LoggerAdapter(log, {"agentName": "Ada", "agentId": new_id()}).warning("not %s", marker)

    entries = _marked(assert_ok(api.get(f"/api/agents/{agent.pk}/logs")), marker)
    assert [entry["msg"] for entry in entries] == [f"mine {marker}", f"mine too {marker}"]
    assert {entry["agentId"] for entry in entries} == {str(agent.pk)}
    only_errors = _marked(assert_ok(api.get(f"/api/agents/{agent.pk}/logs", level="error")), marker)
    assert len(only_errors) == 1
    newest = _marked(assert_ok(api.get(f"/api/agents/{agent.pk}/logs", count=1)), marker)
    assert [entry["msg"] for entry in newest] == [f"mine too {marker}"]


def test_an_agents_log_refuses_bad_ids_and_queries(api: Api) -> None:
    assert_error(api.get("/api/agents/not-a-uuid/logs"), 400, "INVALID_ID")
    assert_error(api.get(f"/api/agents/{new_id()}/logs"), 404, "AGENT_NOT_FOUND")
    agent = factories.make_agent()
    assert_error(api.get(f"/api/agents/{agent.pk}/logs", count="many"), 400)
