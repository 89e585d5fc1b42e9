"""The SDK's ``sessions`` and ``jobs`` services (npm ``@elizaos/api-client`` 1.7.2) against a live
server with the demo ELIZA agent: every method, and the shapes its types promise
(``types/sessions.d.ts``, ``types/jobs.d.ts``), ELIZA's own replies included.

Where the SDK's types and the reference's wire disagree, the wire wins and both are
served: ``userMessage`` carries the reference's ``author_id``/``created_at`` and the SDK's
``authorId``/``createdAt`` (docs/compatibility.md).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.live import npm_package
from tests.realtime.conftest import SOCKET_IO_CLIENT

pytestmark = pytest.mark.node

ISO = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


def _is_iso(value: Any) -> bool:
    return isinstance(value, str) and re.match(ISO, value) is not None


def _session_info(info: dict[str, Any]) -> None:
    """``SessionInfoResponse``: ``sessionId, agentId, userId, createdAt, lastActivity,
    metadata`` (the wire adds the rest of the reference's keys)."""
    assert {"sessionId", "agentId", "userId", "createdAt", "lastActivity", "metadata"} <= set(info)
    assert _is_iso(info["createdAt"]) and _is_iso(info["lastActivity"])
    assert isinstance(info["metadata"], dict)


def test_every_sessions_method(sdk) -> None:
    user = str(uuid.uuid4())
    result = sdk.run(
        """
        const health = await client.sessions.checkHealth();
        const created = await client.sessions.createSession({
          agentId: context.agentId, userId: context.user, metadata: { platform: "sdk" },
        });
        const info = await client.sessions.getSession(created.sessionId);
        const sent = await client.sessions.sendMessage(created.sessionId, {
          content: "Men are all alike.", metadata: { tags: ["a"] },
        });
        // In turn, as a user talks: ELIZA's answer to the first before the second is said.
        for (let tries = 0; tries < 100; tries++) {
          const sofar = await client.sessions.getMessages(created.sessionId, { limit: 10 });
          if (sofar.messages.length >= 2) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const synced = await client.sessions.sendMessageSync(created.sessionId, {
          content: "They're always bugging us about something or other.",
        });
        const messages = await client.sessions.getMessages(created.sessionId, { limit: 10 });
        const before = await client.sessions.getMessages(created.sessionId, {
          before: new Date(messages.messages[0].createdAt), limit: 50,
        });
        const after = await client.sessions.getMessages(created.sessionId, {
          after: new Date(messages.messages[messages.messages.length - 1].createdAt),
        });
        const listed = await client.sessions.listSessions();
        const deleted = await client.sessions.deleteSession(created.sessionId);
        const gone = await attempt(client.sessions.getSession(created.sessionId));
        const unknown = await attempt(client.sessions.createSession({
          agentId: "00000000-0000-4000-8000-00000000dead", userId: context.user,
        }));
        return { health, created, info, sent, synced, messages, before, after, listed,
                 deleted, gone, unknown };
        """,
        user=user,
    )
    health = result["health"]
    assert health["status"] == "healthy" and isinstance(health["activeSessions"], int)
    assert _is_iso(health["timestamp"])

    created = result["created"]
    assert (created["agentId"], created["userId"]) == (sdk.agent_id, user)
    assert created["metadata"] == {"platform": "sdk"} and _is_iso(created["createdAt"])
    _session_info(result["info"])
    assert result["info"]["sessionId"] == created["sessionId"]

    sent = result["sent"]  # MessageResponse, websocket: at once, no agentResponse
    assert sent["success"] is True and "agentResponse" not in sent
    user_message = sent["userMessage"]
    assert user_message["content"] == "Men are all alike."
    assert user_message["authorId"] == user and _is_iso(user_message["createdAt"])
    assert user_message["metadata"]["tags"] == ["a"]
    assert set(sent["sessionStatus"]) == {
        "expiresAt",
        "renewalCount",
        "wasRenewed",
        "isNearExpiration",
    }

    synced = result["synced"]  # http: ELIZA's answer
    assert synced["success"] is True
    assert synced["agentResponse"]["text"] == "Can you think of a specific example?"
    assert isinstance(synced["agentResponse"]["actions"], list)

    messages = result["messages"]["messages"]  # GetMessagesResponse, newest first
    assert result["messages"]["hasMore"] is False
    assert [m["isAgent"] for m in messages] == [True, False, True, False]
    assert messages[0]["content"] == "Can you think of a specific example?"
    assert messages[2]["content"] == "In what way?"  # the websocket send was answered too
    for message in messages:
        assert {"id", "content", "authorId", "isAgent", "createdAt", "metadata"} <= set(message)
        assert _is_iso(message["createdAt"])
    assert [m["id"] for m in result["before"]["messages"]] == [m["id"] for m in messages[1:]]
    assert [m["id"] for m in result["after"]["messages"]] == [m["id"] for m in messages[:-1]]

    listed = result["listed"]  # ListSessionsResponse
    assert created["sessionId"] in [s["sessionId"] for s in listed["sessions"]]
    assert listed["total"] == len(listed["sessions"])
    for info in listed["sessions"]:
        _session_info(info)

    assert result["deleted"]["success"] is True
    assert result["gone"]["error"]["code"] == "SESSION_NOT_FOUND"
    assert result["gone"]["error"]["status"] == 404
    assert (result["unknown"]["error"]["code"], result["unknown"]["error"]["status"]) == (
        "AGENT_NOT_FOUND",
        404,
    )


def _job_details(job: dict[str, Any]) -> None:
    """``JobDetailsResponse``."""
    assert {"jobId", "status", "agentId", "userId", "prompt", "createdAt", "expiresAt"} <= set(job)
    assert job["status"] in {"pending", "processing", "completed", "failed", "timeout"}
    assert isinstance(job["createdAt"], int) and job["expiresAt"] > job["createdAt"]


def test_every_jobs_method(sdk) -> None:
    user = str(uuid.uuid4())
    result = sdk.run(
        """
        const created = await client.jobs.create({
          userId: context.user, content: "Men are all alike.", agentId: context.agentId,
          timeoutMs: 20000, metadata: { source: "sdk" },
        });
        const first = await client.jobs.getJob(created.jobId);
        const polled = await client.jobs.poll(created.jobId, { interval: 100, maxAttempts: 100 });
        const createdAndPolled = await client.jobs.createAndPoll(
          { userId: context.user, content: "I am unhappy." }, { interval: 100, timeout: 20000 },
        );
        const withBackoff = await client.jobs.createAndPollWithBackoff(
          { userId: context.user, content: "I need some help, that much seems certain." },
          { initialInterval: 100, maxInterval: 500, maxAttempts: 60 },
        );
        const answer = await client.jobs.ask(
          context.user, "Perhaps I could learn to get along with my mother.", context.agentId,
          { interval: 100, maxAttempts: 200 },
        );
        const listed = await client.jobs.list({ limit: 10, status: "completed" });
        const all = await client.jobs.list();
        const health = await client.jobs.health();
        const missing = await attempt(client.jobs.getJob("00000000-0000-4000-8000-00000000dead"));
        const tooShort = await attempt(client.jobs.create({
          userId: context.user, content: "hi", timeoutMs: 10,
        }));
        return { created, first, polled, createdAndPolled, withBackoff, answer, listed, all,
                 health, missing, tooShort };
        """,
        user=user,
    )
    created = result["created"]  # CreateJobResponse
    assert set(created) == {"jobId", "status", "createdAt", "expiresAt"}
    assert created["status"] == "processing"
    assert created["expiresAt"] - created["createdAt"] == 20_000
    _job_details(result["first"])
    assert result["first"]["metadata"] == {"source": "sdk"}

    polled = result["polled"]  # PollResult
    assert polled["success"] is True and polled["attempts"] >= 1
    job = polled["job"]
    _job_details(job)
    assert job["status"] == "completed"
    message = job["result"]["message"]
    assert (message["content"], message["authorId"]) == ("In what way?", sdk.agent_id)
    assert isinstance(message["createdAt"], int) and isinstance(message["metadata"], dict)
    assert isinstance(job["result"]["processingTimeMs"], int)

    for name in ("createdAndPolled", "withBackoff"):
        assert result[name]["success"] is True, result[name]
        assert result[name]["job"]["result"]["message"]["authorId"] == sdk.agent_id
    assert result["createdAndPolled"]["job"]["result"]["message"]["content"] == (
        "I am sorry to hear you are unhappy."
    )
    assert result["answer"] == "Tell me more about your family."

    listed = result["listed"]  # JobListResponse
    assert {job["status"] for job in listed["jobs"]} == {"completed"}
    assert listed["filtered"] == len(listed["jobs"]) == 4
    assert result["all"]["total"] >= 4
    for job in result["all"]["jobs"]:
        _job_details(job)

    health = result["health"]  # JobHealthResponse; maxJobs is null: kept by age, no cap
    assert health["healthy"] is True and health["statusCounts"]["completed"] >= 4
    assert set(health["metrics"]) == {
        "averageProcessingTimeMs",
        "successRate",
        "failureRate",
        "timeoutRate",
    }
    assert health["metrics"]["successRate"] == 1
    assert (result["missing"]["error"]["code"], result["missing"]["error"]["status"]) == (
        "JOB_NOT_FOUND",
        404,
    )
    assert result["tooShort"]["error"]["status"] == 400
    assert "at least 1000ms" in result["tooShort"]["error"]["message"]


@pytest.fixture(scope="module")
def socket_io_client() -> Path:
    """``socket.io-client``, beside the SDK in ``var/node/`` (tests/realtime installs the same)."""
    return npm_package(Path(settings.VAR_DIR) / "node", SOCKET_IO_CLIENT)


def test_a_socket_in_the_sessions_channel_hears_elizas_answer(sdk, socket_io_client) -> None:
    """The upstream websocket-transport case: the send answers at once, and a Socket.IO client
    of the session's user that joined its channel receives the agent's ``messageBroadcast``."""
    result = sdk.run(
        """
        const { createRequire } = await import("node:module");
        const { io } = createRequire(context.nodeModules + "/")("socket.io-client");
        const session = await client.sessions.createSession({
          agentId: context.agentId, userId: context.user,
        });
        const socket = io(context.baseUrl, {
          auth: { entityId: context.user }, reconnection: false,
        });
        const once = (event) => new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error("no " + event)), 15000);
          socket.once(event, (data) => { clearTimeout(timer); resolve(data); });
        });
        await once("connection_established");
        socket.emit("message", { type: 1, payload: { channelId: session.channelId,
                                                     entityId: context.user } });
        await once("channel_joined");
        const fromAgent = new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error("no answer")), 15000);
          socket.on("messageBroadcast", (data) => {
            if (data.senderId === context.agentId) { clearTimeout(timer); resolve(data); }
          });
        });
        const sent = await client.sessions.sendMessage(session.sessionId, {
          content: "Men are all alike.", transport: "websocket",
        });
        const heard = await fromAgent;
        socket.close();
        return { session, sent, heard };
        """,
        user=str(uuid.uuid4()),
        nodeModules=str(socket_io_client),
    )
    assert "agentResponse" not in result["sent"]
    heard = result["heard"]
    assert heard["text"] == "In what way?"
    assert heard["channelId"] == heard["roomId"] == result["session"]["channelId"]
