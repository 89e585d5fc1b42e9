"""An agent's runs (``/api/agents/:id/runs``, ``…/runs/:runId``): the reference's ``RunSummary``
and ``RunDetail`` shapes, newest first, its filters (``roomId``, ``status``, ``limit``,
``from``, ``to``) and elizabus's ``outcome``, and every refusal in the one error shape.

Runs are made as the bus agent makes them, by ``agent_message_settle``."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from elizabus import services
from elizabus.models import DEFAULT_SERVER_ID, Agent, AgentRun, RunSkip
from tests import factories

from .helpers import Api, assert_error, assert_ok, new_id

# Whole seconds, so epoch ms are exact; in the past, as the settling that ends a run is now.
START = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Runs:
    """An agent's three runs, a minute apart, oldest first: a reply in ``one``, silence (the
    hop limit) in ``two``, a failure in ``one``."""

    agent: Agent
    one: uuid.UUID
    two: uuid.UUID
    runs: list[AgentRun]

    @property
    def path(self) -> str:
        return f"/api/agents/{self.agent.pk}/runs"


def _handled(
    agent: Agent, channel_id: uuid.UUID, started_at: dt.datetime, **outcome: Any
) -> AgentRun:
    message = factories.make_message(channel_id=channel_id, content="Men are all alike.")
    services.agent_message_settle(
        agent_id=agent.pk,
        agent_name=agent.name,
        message=services.message_event(message, server_id=DEFAULT_SERVER_ID),
        started_at=started_at,
        **outcome,
    )
    run = AgentRun.objects.get(agent=agent, message_id=message.id)
    # Settled now, started at ``started_at``: a fixed length makes the spans exact.
    AgentRun.objects.filter(pk=run.pk).update(
        ended_at=started_at + dt.timedelta(milliseconds=250), duration_ms=250
    )
    run.refresh_from_db()
    return run


@pytest.fixture
def handled(db: None) -> Runs:
    agent = factories.make_agent(name="Eliza")
    one = factories.make_channel(participant_ids=[agent.pk]).id
    two = factories.make_channel(participant_ids=[agent.pk]).id
    reply = services.AgentReply(content="In what way?", raw_message={"text": "In what way?"})
    runs = [
        _handled(agent, one, START, reply=reply),
        _handled(agent, two, START + dt.timedelta(minutes=1), skip_reason=RunSkip.HOP_LIMIT),
        _handled(agent, one, START + dt.timedelta(minutes=2), error="RuntimeError: down"),
    ]
    return Runs(agent=agent, one=one, two=two, runs=runs)


def _run_ids(response: Any) -> list[str]:
    return [run["runId"] for run in assert_ok(response)["runs"]]


def _ids(runs: list[AgentRun]) -> list[str]:
    return [str(run.id) for run in runs]


def test_runs_newest_first_as_run_summaries(api: Api, handled: Runs) -> None:
    data = assert_ok(api.get(handled.path))
    assert set(data) == {"runs", "total", "hasMore"}
    assert (data["total"], data["hasMore"]) == (3, False)
    failed, skipped, replied = data["runs"]
    assert [run["runId"] for run in data["runs"]] == _ids(handled.runs[::-1])
    run = handled.runs[0]
    assert replied == {
        "runId": str(run.id),
        "status": "completed",
        "startedAt": _ms(START),
        "endedAt": _ms(START) + 250,
        "durationMs": 250,
        "messageId": str(run.message_id),
        "roomId": str(handled.one),
        "entityId": str(run.author_id),
        "counts": {"actions": 0, "modelCalls": 1, "errors": 0, "evaluators": 0},
        "metadata": {
            "outcome": "replied",
            "messageServerId": str(DEFAULT_SERVER_ID),
            "source": run.source_type,
            "replyId": str(run.reply_id),
        },
    }
    assert skipped["status"] == "completed"
    assert skipped["metadata"]["outcome"] == "skipped"
    assert skipped["metadata"]["skipReason"] == "hop_limit"
    assert skipped["counts"]["modelCalls"] == 0
    assert failed["status"] == "error"
    assert failed["metadata"]["error"] == "RuntimeError: down"
    assert failed["counts"]["errors"] == 1


def test_limit_total_and_has_more(api: Api, handled: Runs) -> None:
    data = assert_ok(api.get(handled.path, limit=2))
    assert [run["runId"] for run in data["runs"]] == _ids(handled.runs[:0:-1])
    assert (data["total"], data["hasMore"]) == (3, True)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "completed"}, [1, 0]),
        ({"status": "error"}, [2]),
        ({"status": "started"}, []),
        ({"status": "timeout"}, []),
        ({"status": "all"}, [2, 1, 0]),
        ({"outcome": "skipped"}, [1]),
        ({"outcome": "failed", "status": "completed"}, []),
        ({"roomId": "one"}, [2, 0]),
        ({"roomId": "new"}, []),
        ({"from": _ms(START + dt.timedelta(minutes=1))}, [2, 1]),
        ({"to": _ms(START + dt.timedelta(minutes=1))}, [1, 0]),
    ],
    ids=repr,
)
def test_filters(api: Api, handled: Runs, query: dict[str, Any], expected: list[int]) -> None:
    rooms = {"one": str(handled.one), "new": new_id()}
    if "roomId" in query:
        query = {**query, "roomId": rooms[query["roomId"]]}
    assert _run_ids(api.get(handled.path, **query)) == [str(handled.runs[i].id) for i in expected]


def test_a_run_in_detail(api: Api, handled: Runs) -> None:
    run = handled.runs[2]
    data = assert_ok(api.get(f"{handled.path}/{run.id}"))
    assert data["summary"] == assert_ok(api.get(handled.path, limit=1))["runs"][0]
    assert data["events"] == [
        {
            "type": "RUN_STARTED",
            "timestamp": _ms(run.started_at),
            "data": {"source": run.source_type, "messageId": str(run.message_id)},
        },
        {
            "type": "RUN_ENDED",
            "timestamp": _ms(run.ended_at),
            "data": {"status": "error", "error": "RuntimeError: down", "durationMs": 250},
        },
    ]
    assert assert_ok(api.get(f"{handled.path}/{run.id}", roomId=str(handled.one)))


def test_a_run_not_of_this_agent_or_room_is_not_found(api: Api, handled: Runs) -> None:
    run = handled.runs[0]
    other = factories.make_agent(name="Ada")
    assert_error(api.get(f"/api/agents/{other.pk}/runs/{run.id}"), 404, "RUN_NOT_FOUND")
    assert_error(api.get(f"{handled.path}/{run.id}", roomId=str(handled.two)), 404, "RUN_NOT_FOUND")
    assert_error(api.get(f"{handled.path}/{new_id()}"), 404, "RUN_NOT_FOUND")
    assert assert_ok(api.get(f"/api/agents/{other.pk}/runs")) == {
        "runs": [],
        "total": 0,
        "hasMore": False,
    }


def test_runs_go_with_their_agent(api: Api, handled: Runs) -> None:
    services.agent_delete(agent_id=handled.agent.pk)
    assert not AgentRun.objects.filter(agent_id=handled.agent.pk).exists()
    assert_error(api.get(handled.path), 404, "AGENT_NOT_FOUND")


@pytest.mark.parametrize(
    "query",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "many"},
        {"status": "done"},
        {"outcome": "won"},
        {"roomId": "general"},
        {"from": -1},
        {"to": "tomorrow"},
    ],
    ids=repr,
)
def test_a_bad_query_is_refused(api: Api, handled: Runs, query: dict[str, Any]) -> None:
    assert_error(api.get(handled.path, **query), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("bad", ["not-a-uuid", "<script>", "' OR 1=1 --"])
def test_bad_ids_are_refused(api: Api, handled: Runs, bad: str) -> None:
    assert_error(api.get(f"/api/agents/{bad}/runs"), 400, "INVALID_ID")
    assert_error(api.get(f"{handled.path}/{bad}"), 400, "INVALID_ID")
    run = handled.runs[0]
    assert_error(api.get(f"{handled.path}/{run.id}", roomId=bad), 400, "VALIDATION_ERROR")
    assert_error(api.get(f"/api/agents/{new_id()}/runs"), 404, "AGENT_NOT_FOUND")
