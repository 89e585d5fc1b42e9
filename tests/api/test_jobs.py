"""``/api/messaging/jobs...``: create, read, list and health with the reference's
shapes and messages, bad input answered with a 4xx in the one error shape, timeouts recorded on
read, the API key (the upstream ``jobs-auth-consistency`` cases), and a job completed by a real
agent's answer.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

import pytest
from django.test import Client

from elizabus import services
from elizabus.models import Job, JobStatus
from tests import factories
from tests.agents.conftest import AGENT_DB, Stage, stage
from tests.agents.helpers import ECHO, SILENT, wait_until
from tests.api.helpers import Api, assert_error, new_id

__all__ = ["stage"]  # the fixture, shared with tests/agents

DETAIL_KEYS = {"jobId", "status", "agentId", "userId", "prompt", "createdAt", "expiresAt"}


@pytest.fixture
def agent(db: None) -> str:
    return str(factories.make_agent(name="Eliza").pk)


def create(api: Api, **body: Any) -> dict[str, Any]:
    response = api.post("jobs", {"userId": new_id(), "content": "What is a bus?", **body})
    assert response.status_code == 201, response.content
    return response.json()


def make_overdue(job_id: str) -> None:
    job = Job.objects.get(id=job_id)
    shift = job.expires_at - job.created_at + dt.timedelta(seconds=1)
    Job.objects.filter(id=job_id).update(
        created_at=job.created_at - shift, expires_at=job.expires_at - shift
    )


# --- create -----------------------------------------------------------------------------------
def test_create_answers_the_job_processing(api: Api, agent: str) -> None:
    before = int(time.time() * 1000)
    body = create(api, timeoutMs=60_000)
    assert set(body) == {"jobId", "status", "createdAt", "expiresAt"}
    assert body["status"] == "processing"
    assert before <= body["createdAt"] and body["expiresAt"] - body["createdAt"] == 60_000
    assert Job.objects.get(id=body["jobId"]).agent_id == uuid.UUID(agent)


def test_the_default_timeout_is_thirty_seconds(api: Api, agent: str) -> None:
    body = create(api)
    assert body["expiresAt"] - body["createdAt"] == 30_000


def test_no_agent_is_404(api: Api, unchanged: Any) -> None:
    with unchanged():
        error = assert_error(
            api.post("jobs", {"userId": new_id(), "content": "hi"}), 404, "NO_AGENTS_AVAILABLE"
        )
    assert error["message"] == "No agents available on server"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"content": "hi"}, 400, "userId is required and must be a valid UUID string"),
        ({"userId": 5, "content": "hi"}, 400, "userId is required and must be a valid UUID"),
        ({"userId": "x", "content": "hi"}, 400, "Invalid userId format (must be valid UUID)"),
        ({"userId": new_id()}, 400, "content is required and must be a string"),
        ({"userId": new_id(), "content": 7}, 400, "content is required and must be a string"),
        ({"userId": new_id(), "content": ""}, 400, "content cannot be empty"),
        ({"userId": new_id(), "content": "x" * 50_001}, 413, "maximum length of 50000"),
        ({"userId": new_id(), "content": "é" * 40_000}, 413, "exceeds 65536 bytes"),
        ({"userId": new_id(), "content": "hi", "agentId": 5}, 400, "agentId must be a valid"),
        ({"userId": new_id(), "content": "hi", "agentId": "x"}, 400, "Invalid agentId format"),
        ({"userId": new_id(), "content": "hi", "metadata": None}, 400, "metadata must be an"),
        ({"userId": new_id(), "content": "hi", "metadata": [1]}, 400, "metadata must be an"),
        (
            {"userId": new_id(), "content": "hi", "metadata": {"x": "y" * 10_000}},
            413,
            "exceeds 10000 bytes",
        ),
        ({"userId": new_id(), "content": "hi", "timeoutMs": "5000"}, 400, "positive number"),
        ({"userId": new_id(), "content": "hi", "timeoutMs": True}, 400, "positive number"),
        ({"userId": new_id(), "content": "hi", "timeoutMs": -1}, 400, "positive number"),
        ({"userId": new_id(), "content": "hi", "timeoutMs": 999}, 400, "at least 1000ms"),
        ({"userId": new_id(), "content": "hi", "timeoutMs": 300_001}, 400, "exceed 300000ms"),
        ({"userId": new_id(), "content": "hi", "timeoutMs": 1e308}, 400, "exceed 300000ms"),
    ],
)
def test_create_refuses_bad_input_with_the_references_words(
    api: Api, agent: str, body: dict[str, Any], status: int, message: str, unchanged: Any
) -> None:
    with unchanged():
        error = assert_error(api.post("jobs", body), status)
    assert message in error["message"]


def test_an_unknown_or_disabled_agent_is_404(api: Api, agent: str, unchanged: Any) -> None:
    with unchanged():
        assert_error(
            api.post("jobs", {"userId": new_id(), "content": "hi", "agentId": new_id()}),
            404,
            "AGENT_NOT_FOUND",
        )
    services.agent_set_enabled(agent_id=uuid.UUID(agent), enabled=False)
    with unchanged():
        assert_error(api.post("jobs", {"userId": new_id(), "content": "hi"}), 404)


def test_an_empty_agent_id_means_the_first_agent(api: Api, agent: str) -> None:
    job = create(api, agentId="")
    assert Job.objects.get(id=job["jobId"]).agent_id == uuid.UUID(agent)


@pytest.mark.parametrize("timeout", [1000, 300_000, 1500.7])
def test_the_bounds_themselves_are_accepted(api: Api, agent: str, timeout: float) -> None:
    body = create(api, timeoutMs=timeout)
    assert body["expiresAt"] - body["createdAt"] == round(timeout)


@pytest.mark.parametrize("raw", ["{not json", "[]", '"text"', "null"])
def test_malformed_or_non_object_json_is_400(api: Api, agent: str, raw: str) -> None:
    response = api.client.post(api.url("jobs"), data=raw, content_type="application/json")
    assert_error(response, 400)


# --- read ---------------------------------------------------------------------------------------
def test_get_answers_the_details(api: Api, agent: str) -> None:
    created = create(api, metadata={"source": "cli"})
    details = api.get(f"jobs/{created['jobId']}").json()
    assert set(details) == DETAIL_KEYS | {"metadata"}
    assert (details["status"], details["agentId"], details["prompt"]) == (
        "processing",
        agent,
        "What is a bus?",
    )
    assert details["metadata"] == {"source": "cli"}
    assert (details["createdAt"], details["expiresAt"]) == (
        created["createdAt"],
        created["expiresAt"],
    )


def test_an_overdue_job_reads_as_timed_out_and_stays_so(api: Api, agent: str) -> None:
    created = create(api)
    make_overdue(created["jobId"])
    details = api.get(f"jobs/{created['jobId']}").json()
    assert details["status"] == "timeout"
    assert details["error"] == "Job timed out waiting for agent response"
    assert "result" not in details
    assert Job.objects.get(id=created["jobId"]).status == JobStatus.TIMEOUT


def test_unknown_and_malformed_job_ids(api: Api) -> None:
    error = assert_error(api.get(f"jobs/{new_id()}"), 404, "JOB_NOT_FOUND")
    assert error["message"] == "Job not found"
    for bad in ("x", "123", "%27%20OR%201%3D1", "%00"):
        assert_error(api.get(f"jobs/{bad}"), 400, "INVALID_ID")


# --- list and health ----------------------------------------------------------------------------
def test_list_is_newest_first_with_limit_and_status(api: Api, agent: str) -> None:
    jobs = [create(api, content=f"question {n}")["jobId"] for n in range(4)]
    make_overdue(jobs[0])
    listed = api.get("jobs").json()
    assert set(listed) == {"jobs", "total", "filtered"}
    assert [job["jobId"] for job in listed["jobs"]] == jobs[::-1]
    assert (listed["total"], listed["filtered"]) == (4, 4)
    assert api.get("jobs", limit="2").json()["filtered"] == 2
    timed_out = api.get("jobs", status="timeout").json()
    assert [job["jobId"] for job in timed_out["jobs"]] == [jobs[0]]
    assert (timed_out["total"], timed_out["filtered"]) == (4, 1)


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ({"limit": "abc"}, 5),
        ({"limit": "0"}, 5),
        ({"limit": "-2"}, 5),
        ({"limit": "99999999999999999999"}, 5),
        ({"limit": "3xyz"}, 3),
        ({"status": "bogus"}, 5),
        ({"status": "'; DROP TABLE elizabus_job; --"}, 5),
    ],
)
def test_list_reads_junk_as_the_reference_does(
    api: Api, agent: str, query: dict[str, str], count: int
) -> None:
    for _ in range(5):
        create(api)
    assert api.get("jobs", **query).json()["filtered"] == count


def test_health_counts_by_status(api: Api, agent: str) -> None:
    first, second, third = (create(api)["jobId"] for _ in range(3))
    make_overdue(first)
    services.job_fail(job_id=uuid.UUID(second), error="broken")
    health = api.get("jobs/health").json()
    assert health["healthy"] is True
    assert health["totalJobs"] == 3
    assert health["statusCounts"] == {
        "pending": 0,
        "processing": 1,
        "completed": 0,
        "failed": 1,
        "timeout": 1,
    }
    assert health["metrics"] == {
        "averageProcessingTimeMs": 0,
        "successRate": 0,
        "failureRate": 0.5,
        "timeoutRate": 0.5,
    }
    assert health["maxJobs"] is None and health["retentionHours"] == 24
    assert third


# --- the API key (upstream jobs-auth-consistency) ---------------------------------------------
def test_every_jobs_route_needs_the_key_when_one_is_set(
    client: Client, agent: str, settings: Any
) -> None:
    settings.ELIZA_SERVER_AUTH_TOKEN = "secret"
    body = json.dumps({"userId": new_id(), "content": "hi"})
    refusals = [
        client.post("/api/messaging/jobs", body, content_type="application/json"),
        client.get("/api/messaging/jobs"),
        client.get(f"/api/messaging/jobs/{new_id()}"),
        client.get("/api/messaging/jobs/health"),
    ]
    for refused in refusals:
        assert_error(refused, 401, "UNAUTHORIZED")
    created = client.post(
        "/api/messaging/jobs", body, content_type="application/json", HTTP_X_API_KEY="secret"
    )
    assert created.status_code == 201
    job_id = created.json()["jobId"]
    listed = client.get("/api/messaging/jobs", HTTP_X_API_KEY="secret").json()
    assert job_id in [job["jobId"] for job in listed["jobs"]]
    details = client.get(f"/api/messaging/jobs/{job_id}", HTTP_X_API_KEY="secret").json()
    assert {"status", "agentId", "userId"} <= set(details)


def test_the_schema_describes_every_jobs_route(api: Api) -> None:
    paths = json.loads(api.client.get("/api/schema/?format=json").content)["paths"]
    assert {"get", "post"} <= set(paths["/api/messaging/jobs"])
    assert "get" in paths["/api/messaging/jobs/health"]
    assert "get" in paths["/api/messaging/jobs/{job_id}"]


# --- a real agent answers -----------------------------------------------------------------------
def _job_for(stage: Stage, client: Client, responder: str, content: str) -> str:
    agent = stage.agent(responder=responder)
    response = client.post(
        "/api/messaging/jobs",
        json.dumps({"userId": str(stage.human), "content": content, "agentId": str(agent)}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return response.json()["jobId"]


def _settled(client: Client, job_id: str) -> dict[str, Any]:
    def read() -> dict[str, Any] | None:
        details = client.get(f"/api/messaging/jobs/{job_id}").json()
        return details if details["status"] != "processing" else None

    return wait_until(read, what=f"job {job_id} to settle")


@AGENT_DB
def test_the_agents_answer_completes_the_job(stage: Stage, client: Client) -> None:
    job_id = _job_for(stage, client, ECHO, "Men are all alike.")
    details = _settled(client, job_id)
    assert details["status"] == "completed"
    result = details["result"]
    assert result["message"]["content"] == "echo: Men are all alike."
    assert result["message"]["authorId"] == details["agentId"]
    assert set(result["message"]) == {"id", "content", "authorId", "createdAt", "metadata"}
    assert isinstance(result["processingTimeMs"], int) and result["processingTimeMs"] >= 0
    assert "error" not in details
    health = client.get("/api/messaging/jobs/health").json()
    assert health["statusCounts"]["completed"] == 1 and health["metrics"]["successRate"] == 1


@AGENT_DB
def test_an_agent_that_stays_silent_fails_the_job_at_once(stage: Stage, client: Client) -> None:
    details = _settled(client, _job_for(stage, client, SILENT, "Nothing to say?"))
    assert details["status"] == "failed"
    assert details["error"] == "The agent finished without answering"
