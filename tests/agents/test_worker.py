"""Agents in worker processes (``manage.py runagents``) beside a server that runs none, sharing
the bus through Redis: a worker answers; after a restart it answers what it missed; two workers
never both answer one message; a worker killed in the middle of a message leaves it to the
other, which answers it once."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from elizabus.ids import reply_id
from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID
from tests.fake_model import FakeModel, Script
from tests.live import LiveServer, Processes

pytestmark = pytest.mark.redis

CENTRAL = str(CENTRAL_CHANNEL_ID)


class Deployment(Processes):
    """A server with no agents and worker processes on one SQLite file and one Redis stream."""

    def __init__(self, root: Path, redis_url: str) -> None:
        # Its own SQLite file whatever the suite runs on: an empty DATABASE_URL means SQLite.
        super().__init__(
            root,
            {
                "DATABASE_URL": "",
                "DJANGO_SETTINGS_MODULE": "project.settings",
                "ELIZABUS_VAR_DIR": str(root),
                "REDIS_URL": redis_url,
                "ELIZABUS_BUS_TRANSPORT": "elizabus.bus.transports.redis.RedisStreamTransport",
                "ELIZABUS_BUS_STREAM": f"elizabus-test:{uuid.uuid4()}",
                "ELIZABUS_BUS_LEASE_SECONDS": "1.5",
            },
        )
        self.server = LiveServer(root, {**self.env, "ELIZABUS_RUN_AGENTS": "0"})

    def start_worker(self, name: str = "worker") -> None:
        self.start_manage(name, "runagents")
        self.wait_for_log(name, "Running agents")

    def worker_holding(self, agent_id: str) -> str:
        """The name of the worker whose process holds the agent's group now."""
        client = redis.Redis.from_url(self.env["REDIS_URL"])
        try:
            key = f"{self.env['ELIZABUS_BUS_STREAM']}:lease:agent:{agent_id}"
            deadline = time.monotonic() + 15
            while not (holder := client.get(key)):
                assert time.monotonic() < deadline, "no worker took the agent's group"
                time.sleep(0.05)
        finally:
            client.close()
        pid = int(holder.decode().split(":")[1])
        return next(name for name, process in self.running.items() if process.pid == pid)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.server.url}/api/messaging/{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def post(
        self, text: str, transport: str = "websocket", channel: str = CENTRAL
    ) -> dict[str, Any]:
        body = {
            "author_id": str(uuid.uuid4()),
            "content": text,
            "message_server_id": str(DEFAULT_SERVER_ID),
            "transport": transport,
        }
        return self.request("POST", f"channels/{channel}/messages", body)

    def replies_to(self, message_id: str, channel: str = CENTRAL) -> list[dict[str, Any]]:
        path = f"channels/{channel}/messages?limit=100"
        messages = self.request("GET", path)["data"]["messages"]
        return [m for m in messages if m.get("inReplyToRootMessageId") == message_id]

    def wait_for_replies(self, message_ids: list[str], timeout: float = 30) -> list[list[Any]]:
        deadline = time.monotonic() + timeout
        while True:
            replies = [self.replies_to(message_id) for message_id in message_ids]
            if all(replies) or time.monotonic() > deadline:
                return replies
            time.sleep(0.2)


@pytest.fixture
def deployment(tmp_path: Path, redis_url: str) -> Iterator[Deployment]:
    deployed = Deployment(tmp_path, redis_url)
    for step in (("migrate", "--noinput", "-v", "0"), ("ensure_demo_agent",)):
        assert deployed.manage(*step).returncode == 0
    try:
        yield deployed
    finally:
        deployed.stop_all()
        deployed.server.stop()


def _echo_agent(deployment: Deployment, delay: float) -> str:
    """A slow echo agent in the central channel; its id."""
    body = {
        "characterJson": {"name": "Slowpoke", "bio": "Takes its time."},
        "responder": "elizabus.agents.responders.echo.EchoResponder",
        "responderOptions": {"prefix": "echo: ", "delay_seconds": delay},
    }
    request = urllib.request.Request(
        f"{deployment.server.url}/api/agents",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        agent = json.loads(response.read())["data"]
    return agent.get("id") or agent["agent"]["id"]


def test_two_workers_never_both_answer_one_message(deployment: Deployment) -> None:
    deployment.server.start()
    deployment.start_worker("worker-1")
    deployment.start_worker("worker-2")
    posted = [deployment.post(f"Men are all alike, {n}.")["userMessage"]["id"] for n in range(20)]
    replies = deployment.wait_for_replies(posted)
    assert [len(answers) for answers in replies] == [1] * 20


def test_a_worker_killed_mid_message_leaves_it_to_the_other(deployment: Deployment) -> None:
    deployment.server.start()
    deployment.start_worker("worker-1")
    agent_id = _echo_agent(deployment, delay=2.0)
    deployment.start_worker("worker-2")
    holder = deployment.worker_holding(agent_id)
    message = deployment.post("Are you there?")["userMessage"]["id"]
    time.sleep(1.0)  # the holder is in the middle of its two-second answer
    deployment.kill(holder)
    echo = "echo: Are you there?"
    deadline = time.monotonic() + 30
    while echo not in (texts := [r["content"] for r in deployment.replies_to(message)]):
        assert time.monotonic() < deadline, f"the other worker never answered: {texts}"
        time.sleep(0.2)
    time.sleep(3.0)  # a second answer would have come by now
    texts = [reply["content"] for reply in deployment.replies_to(message)]
    assert texts.count(echo) == 1, texts


def test_a_worker_answers_for_a_server_that_runs_no_agents(deployment: Deployment) -> None:
    deployment.server.start()
    deployment.start_worker()
    answered = deployment.post("Men are all alike.", transport="http")
    assert answered["agentResponse"]["text"] == "In what way?"


def test_a_restarted_worker_answers_what_was_sent_while_it_was_down(
    deployment: Deployment,
) -> None:
    deployment.server.start()
    deployment.start_worker()
    deployment.post("Men are all alike.", transport="http")
    deployment.stop("worker")

    missed = deployment.post("They're always bugging us about something or other.")
    time.sleep(0.5)
    assert deployment.replies_to(missed["userMessage"]["id"]) == []

    deployment.start_worker()
    deadline = time.monotonic() + 15
    while not (replies := deployment.replies_to(missed["userMessage"]["id"])):
        assert time.monotonic() < deadline, "the restarted worker never answered"
        time.sleep(0.1)
    assert [reply["content"] for reply in replies] == ["Can you think of a specific example?"]


def test_an_agent_registered_while_no_worker_runs_answers_once_one_does(
    deployment: Deployment,
) -> None:
    deployment.server.start()
    _echo_agent(deployment, delay=0)
    said = deployment.post("Anyone home?")["userMessage"]["id"]
    time.sleep(0.5)
    assert deployment.replies_to(said) == []

    deployment.start_worker()
    deadline = time.monotonic() + 15
    echo = "echo: Anyone home?"
    while echo not in (texts := [r["content"] for r in deployment.replies_to(said)]):
        assert time.monotonic() < deadline, f"the agent never answered: {texts}"
        time.sleep(0.1)


def test_a_worker_killed_mid_stream_leaves_the_reply_to_start_again_under_its_id(
    deployment: Deployment,
) -> None:
    """The holder streams three pieces and is killed while the model waits; the other worker
    answers the message again: its chunks start again from index 0 under the same reply id
    (docs/agents.md, "Streamed replies"), and the reply is stored and sent once."""
    pieces = ["Once ", "upon ", "a ", "time."]
    with FakeModel(Script(pieces=pieces, pause_after=3)) as model:
        deployment.server.start()
        deployment.start_worker("worker-1")
        body = {
            "characterJson": {"name": "Teller", "bio": "Tells stories."},
            "responder": "elizabus.agents.responders.openai.OpenAIChatResponder",
            "responderOptions": {"base_url": model.base_url, "chunk_timeout": 60},
        }
        with httpx.Client(base_url=deployment.server.url, timeout=30) as api:
            created = api.post("/api/agents", json=body)
            assert created.status_code == 201, created.text
            agent_id = created.json()["data"]["id"]
            deployment.start_worker("worker-2")
            holder = deployment.worker_holding(agent_id)
            post = {
                "author_id": str(uuid.uuid4()),
                "content": "Tell me a story",
                "message_server_id": str(DEFAULT_SERVER_ID),
                "transport": "sse",
                "metadata": {"targetAgentId": agent_id},
            }
            events: list[tuple[str, Any]] = []
            started = time.monotonic()
            url = f"/api/messaging/channels/{CENTRAL}/messages"
            with api.stream("POST", url, json=post) as sse:
                name = None
                for line in sse.iter_lines():
                    assert time.monotonic() - started < 45, events
                    if line.startswith("event: "):
                        name = line[len("event: ") :]
                    elif line.startswith("data: "):
                        events.append((name, json.loads(line[len("data: ") :])))
                        if name == "chunk" and events[-1][1]["index"] == 2 and len(events) == 4:
                            # Three pieces streamed; the model waits for resume().
                            deployment.kill(holder)
                            model.resume()
    message_id = events[0][1]["id"]
    expected = str(reply_id(uuid.UUID(agent_id), message_id))
    chunks = [data for name, data in events if name == "chunk"]
    assert [name for name, _ in events] == ["user_message", *["chunk"] * 7, "done"], events
    assert [c["index"] for c in chunks] == [0, 1, 2, 0, 1, 2, 3]
    assert "".join(c["chunk"] for c in chunks[3:]) == "".join(pieces)
    assert {c["messageId"] for c in chunks} == {expected}
    assert (events[-1][1]["id"], events[-1][1]["text"]) == (expected, "".join(pieces))
    time.sleep(2.0)  # a second answer would have come by now
    replies = deployment.replies_to(message_id)  # the demo ELIZA answers in central too
    assert [r["id"] for r in replies if r["authorId"] == agent_id] == [expected]
