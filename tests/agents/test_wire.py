"""The agent wire (docs/agents.md, "The agent wire"), end to end: ``manage.py serve`` and real
WebSocket clients standing in for an agent's attached instances. Deliveries come at least once
and in order; one not acknowledged goes to the next instance (the lease); a reply is stored
once whichever instance submits it, however often; the hop limit and start/stop hold."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID
from tests.live import LiveServer

CENTRAL = str(CENTRAL_CHANNEL_ID)
SERVER = str(DEFAULT_SERVER_ID)
KEY = "wire-test-key"
SHORT_GRACE = 1.0


class Bus:
    """A server on its own SQLite file, its API key set, and helpers to speak to it."""

    def __init__(self, root: Path, **env: str) -> None:
        self.server = LiveServer(
            root,
            {
                "DATABASE_URL": "",
                "ELIZABUS_VAR_DIR": str(root),
                "ELIZA_SERVER_AUTH_TOKEN": KEY,
                "ELIZABUS_AGENT_DELIVERY_LEASE_SECONDS": "2",
                **env,
            },
        )

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        status, answer = self.try_request(method, path, body)
        assert status < 400, answer
        return answer

    def try_request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"{self.server.url}/api/{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", "X-API-KEY": KEY},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def hosted_agent(self, name: str = "Hosted") -> str:
        body = {"characterJson": {"name": name, "bio": "Lives elsewhere."}, "hostedOutside": True}
        agent = self.request("POST", "agents", body)["data"]
        assert agent["hostedOutside"] is True
        return agent["id"]

    def post(self, text: str, metadata: dict[str, Any] | None = None) -> str:
        body = {
            "author_id": str(uuid.uuid4()),
            "content": text,
            "message_server_id": SERVER,
            "metadata": metadata or {},
        }
        answer = self.request("POST", f"messaging/channels/{CENTRAL}/messages", body)
        return answer["data"]["id"] if "data" in answer else answer["userMessage"]["id"]

    def submit(self, agent_id: str, original: str, text: str, reply_id: str) -> tuple[int, Any]:
        return self.try_request(
            "POST",
            "messaging/submit",
            {
                "messageId": reply_id,
                "channel_id": CENTRAL,
                "message_server_id": SERVER,
                "author_id": agent_id,
                "content": text,
                "in_reply_to_message_id": original,
                "source_type": "agent_response",
                "raw_message": {"text": text, "thought": "", "actions": ["REPLY"]},
                "metadata": {"agent_id": agent_id, "agentName": "Hosted"},
            },
        )

    def replies_to(self, message_id: str) -> list[dict[str, Any]]:
        messages = self.request("GET", f"messaging/channels/{CENTRAL}/messages?limit=100")
        return [
            m for m in messages["data"]["messages"] if m.get("inReplyToRootMessageId") == message_id
        ]

    def runs(self, agent_id: str) -> list[dict[str, Any]]:
        return self.request("GET", f"agents/{agent_id}/runs")["data"]["runs"]

    def attach(
        self, agent_id: str, key: str = KEY, headers: dict[str, str] | None = None
    ) -> Instance:
        url = self.server.url.replace("http://", "ws://") + f"/api/agents/{agent_id}/bus"
        headers = {"X-API-KEY": key} if headers is None else headers
        return Instance(connect(url, additional_headers=headers, open_timeout=10))


class Instance:
    """One attached instance, read frame by frame."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket

    def frame(self, timeout: float = 10) -> dict[str, Any]:
        return json.loads(self.socket.recv(timeout=timeout))

    def expect(self, kind: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            frame = self.frame(max(deadline - time.monotonic(), 0.01))
            if frame["type"] == kind:
                return frame

    def delivery(self, timeout: float = 10) -> dict[str, Any]:
        return self.expect("deliver", timeout)

    def nothing(self, seconds: float) -> None:
        """No delivery comes within ``seconds``."""
        with pytest.raises(TimeoutError):
            self.delivery(seconds)

    def send(self, frame: dict[str, Any]) -> None:
        self.socket.send(json.dumps(frame))

    def ack(self, delivery: dict[str, Any], error: str = "") -> None:
        self.send({"type": "ack", "deliveryId": delivery["deliveryId"], "error": error})

    def close(self) -> None:
        self.socket.close()


def _serve(deployed: Bus) -> Iterator[Bus]:
    assert deployed.server.processes.manage("migrate", "--noinput", "-v", "0").returncode == 0
    deployed.server.start()
    try:
        yield deployed
    finally:
        deployed.server.stop()


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[Bus]:
    yield from _serve(Bus(tmp_path))


@pytest.fixture
def isolated_bus(tmp_path: Path) -> Iterator[Bus]:
    yield from _serve(Bus(tmp_path, ENABLE_DATA_ISOLATION="true", JWT_SECRET="w" * 48))


@pytest.fixture
def short_grace_bus(tmp_path: Path) -> Iterator[Bus]:
    yield from _serve(Bus(tmp_path, ELIZABUS_AGENT_ATTACH_GRACE_SECONDS=str(SHORT_GRACE)))


def _wait(condition: Any, what: str, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return result


def test_an_instance_gets_its_agents_messages_and_its_reply_is_stored_once(bus: Bus) -> None:
    agent_id = bus.hosted_agent()
    instance = bus.attach(agent_id)
    welcome = instance.expect("welcome")
    assert welcome["agentId"] == agent_id and welcome["enabled"] is True

    said = bus.post("Hello out there")
    delivery = instance.delivery()
    assert delivery["event"] == "new_message" and delivery["attempt"] == 1
    assert delivery["data"]["id"] == said and delivery["data"]["content"] == "Hello out there"

    reply_id = str(uuid.uuid4())
    status, stored = bus.submit(agent_id, said, "Hello from afar", reply_id)
    assert status == 201 and stored["data"]["id"] == reply_id
    # The same reply again (a retry) is the stored one; another reply to it is refused.
    assert bus.submit(agent_id, said, "Hello from afar", reply_id)[0] == 201
    status, refused = bus.submit(agent_id, said, "Hello again", str(uuid.uuid4()))
    assert (status, refused["error"]["code"]) == (409, "ALREADY_ANSWERED")
    instance.ack(delivery)

    replies = bus.replies_to(said)
    assert [(r["id"], r["content"]) for r in replies] == [(reply_id, "Hello from afar")]
    assert replies[0]["metadata"]["agentHops"] == 1
    runs = _wait(lambda: bus.runs(agent_id), "no run recorded")
    assert [(r["messageId"], r["status"]) for r in runs] == [(said, "completed")]
    instance.close()


def test_deliveries_come_one_at_a_time_in_order(bus: Bus) -> None:
    agent_id = bus.hosted_agent()
    instance = bus.attach(agent_id)
    instance.expect("welcome")
    said = [bus.post(f"message {n}") for n in range(3)]
    seen = []
    for _ in said:
        delivery = instance.delivery()
        instance.nothing(0.3)  # the next waits for this one's acknowledgement
        seen.append(delivery["data"]["id"])
        instance.ack(delivery)
    assert seen == said
    instance.close()


def test_a_delivery_left_by_a_dropped_instance_goes_to_the_next(bus: Bus) -> None:
    agent_id = bus.hosted_agent()
    first = bus.attach(agent_id)
    first.expect("welcome")
    second = bus.attach(agent_id)
    second.expect("welcome")

    said = bus.post("Who answers?")
    assert first.delivery()["data"]["id"] == said  # the oldest instance holds the deliveries
    second.nothing(0.5)
    first.close()  # gone without acknowledging, as a process killed mid-answer

    handed = second.delivery()
    assert handed["data"]["id"] == said and handed["attempt"] == 2
    assert bus.submit(agent_id, said, "I do", str(uuid.uuid4()))[0] == 201
    second.ack(handed)
    assert [r["content"] for r in bus.replies_to(said)] == ["I do"]
    second.close()


def test_a_delivery_whose_lease_runs_out_goes_to_another_instance(bus: Bus) -> None:
    agent_id = bus.hosted_agent()
    stuck = bus.attach(agent_id)
    stuck.expect("welcome")
    other = bus.attach(agent_id)
    other.expect("welcome")

    said = bus.post("Anyone awake?")
    held = stuck.delivery()
    handed = other.delivery(timeout=10)  # the lease is 2 s; the stuck one never extends it
    assert handed["data"]["id"] == said
    other.ack(handed)
    # The stuck instance's late acknowledgement is not the agent's outcome any more.
    stuck.ack(held)
    assert stuck.expect("stale")["deliveryId"] == held["deliveryId"]
    stuck.close()
    other.close()


def test_extending_keeps_the_delivery(bus: Bus) -> None:
    agent_id = bus.hosted_agent()
    slow = bus.attach(agent_id)
    slow.expect("welcome")
    other = bus.attach(agent_id)
    other.expect("welcome")
    bus.post("Take your time")
    held = slow.delivery()
    for _ in range(6):  # three leases' worth
        time.sleep(1)
        slow.send({"type": "extend", "deliveryId": held["deliveryId"]})
    other.nothing(0.2)
    slow.ack(held)
    slow.close()
    other.close()


def test_a_message_answered_before_its_instance_dropped_is_not_delivered_again(
    bus: Bus,
) -> None:
    agent_id = bus.hosted_agent()
    first = bus.attach(agent_id)
    first.expect("welcome")
    second = bus.attach(agent_id)
    second.expect("welcome")

    said = bus.post("Quick one")
    first.delivery()
    assert bus.submit(agent_id, said, "Done", str(uuid.uuid4()))[0] == 201
    first.close()  # stored its reply, died before acknowledging

    later = bus.post("Next one")
    assert second.delivery()["data"]["id"] == later
    assert [r["content"] for r in bus.replies_to(said)] == ["Done"]
    second.close()


def test_an_instance_that_comes_back_within_the_grace_gets_the_delivery(bus: Bus) -> None:
    agent_id = bus.hosted_agent()
    instance = bus.attach(agent_id)
    instance.expect("welcome")
    said = bus.post("Still there?")
    instance.delivery()
    instance.close()

    again = bus.attach(agent_id)  # a restart, within the grace (10 s, the default)
    again.expect("welcome")
    delivery = again.delivery()
    assert delivery["data"]["id"] == said
    again.ack(delivery)
    again.close()


def test_what_is_said_while_no_instance_is_attached_waits_for_one(bus: Bus) -> None:
    agent_id = bus.hosted_agent()
    first = bus.post("Said before any instance")
    time.sleep(1.0)
    instance = bus.attach(agent_id)
    instance.expect("welcome")
    delivery = instance.delivery()
    assert delivery["data"]["id"] == first
    instance.ack(delivery)
    instance.close()


def test_an_instance_gone_past_the_grace_still_gets_what_was_said(
    short_grace_bus: Bus,
) -> None:
    # On the embedded transport no other server could take the agent's events over: they wait
    # here for an instance, however long it is away.
    bus = short_grace_bus
    agent_id = bus.hosted_agent()
    instance = bus.attach(agent_id)
    instance.expect("welcome")
    interrupted = bus.post("Interrupted")
    assert instance.delivery()["data"]["id"] == interrupted
    instance.close()
    later = bus.post("Said while it was away")
    time.sleep(SHORT_GRACE * 3)
    again = bus.attach(agent_id)
    again.expect("welcome")
    redelivered = again.delivery()
    assert (redelivered["data"]["id"], redelivered["attempt"]) == (interrupted, 2)
    again.ack(redelivered)
    assert again.delivery()["data"]["id"] == later
    again.close()


@pytest.mark.redis
def test_on_redis_another_server_takes_over_what_a_gone_instance_held(
    tmp_path: Path, redis_url: str
) -> None:
    # Two servers on one database and one Redis stream; the instance that held the delivery
    # dies on the first, a new one attaches to the second.
    env = {
        "REDIS_URL": redis_url,
        "ELIZABUS_BUS_TRANSPORT": "elizabus.bus.transports.redis.RedisStreamTransport",
        "ELIZABUS_BUS_STREAM": f"elizabus-test:{uuid.uuid4()}",
        "ELIZABUS_BUS_LEASE_SECONDS": "1.5",
        "ELIZABUS_AGENT_ATTACH_GRACE_SECONDS": str(SHORT_GRACE),
    }
    one, two = Bus(tmp_path, **env), Bus(tmp_path, **env)
    assert one.server.processes.manage("migrate", "--noinput", "-v", "0").returncode == 0
    try:
        one.server.start()
        two.server.start()
        agent_id = one.hosted_agent()
        first = one.attach(agent_id)
        first.expect("welcome")
        # The group opened at the registration: its subscription to the server comes first.
        subscribed = first.delivery()
        assert subscribed["event"] == "server_agent_update"
        first.ack(subscribed)
        said = one.post("Who takes this over?")
        assert first.delivery()["data"]["id"] == said
        first.close()  # gone without acknowledging it

        second = two.attach(agent_id)
        second.expect("welcome")
        taken = second.delivery(timeout=30)
        assert taken["data"]["id"] == said
        status, _ = two.submit(agent_id, said, "Taken over", str(uuid.uuid4()))
        assert status == 201
        second.ack(taken)
        later = one.post("And this?")
        assert second.delivery()["data"]["id"] == later
        assert [r["content"] for r in one.replies_to(said)] == ["Taken over"]
        second.close()
    finally:
        two.server.stop()
        one.server.stop()


class Watcher:
    """A Socket.IO client in the central channel that records the stream events it gets."""

    def __init__(self, bus: Bus) -> None:
        self.events: list[tuple[str, Any]] = []
        self.client = socketio.Client(reconnection=False)
        for name in ("messageStreamChunk", "messageStreamError", "room_joined"):
            self.client.on(name, lambda data, name=name: self.events.append((name, data)))
        auth = {"entityId": str(uuid.uuid4()), "apiKey": KEY}
        self.client.connect(bus.server.url, auth=auth, wait_timeout=10)
        self.client.emit("message", {"type": 1, "payload": {"channelId": CENTRAL}})
        _wait(lambda: self.seen("room_joined"), "not joined", 10)

    def seen(self, name: str) -> list[Any]:
        return [data for event, data in list(self.events) if event == name]


def _chunk(delivery: dict[str, Any], message_id: str, chunk: str, index: int) -> dict[str, Any]:
    return {
        "type": "chunk",
        "deliveryId": delivery["deliveryId"],
        "messageId": message_id,
        "chunk": chunk,
        "index": index,
    }


def test_a_stream_left_by_a_dropped_instance_ends_with_an_error(bus: Bus) -> None:
    # Fails before the streams of a delivery were kept: the partial bubble stayed forever.
    agent_id = bus.hosted_agent()
    first = bus.attach(agent_id)
    first.expect("welcome")
    second = bus.attach(agent_id)
    second.expect("welcome")
    watcher = Watcher(bus)
    try:
        said = bus.post("Stream it")
        held, left = first.delivery(), str(uuid.uuid4())
        first.send(_chunk(held, left, "Half a ", 0))
        _wait(lambda: watcher.seen("messageStreamChunk"), "the chunk did not reach the socket")
        first.close()  # killed mid-stream

        handed, reply = second.delivery(), str(uuid.uuid4())
        ended = _wait(lambda: watcher.seen("messageStreamError"), "the stream was not ended", 10)
        assert [(e["messageId"], e["partialText"]) for e in ended] == [(left, "Half a ")]
        second.send(_chunk(handed, reply, "Whole", 0))
        assert bus.submit(agent_id, said, "Whole", reply)[0] == 201
        second.ack(handed)
        # The stream that became the stored reply is not ended with an error.
        bus.post("Next")
        second.ack(second.delivery())
        assert [e["messageId"] for e in watcher.seen("messageStreamError")] == [left]
    finally:
        watcher.client.disconnect()
    second.close()


def test_a_stream_acknowledged_without_its_reply_ends_with_the_error(bus: Bus) -> None:
    agent_id = bus.hosted_agent()
    instance = bus.attach(agent_id)
    instance.expect("welcome")
    watcher = Watcher(bus)
    try:
        bus.post("Fail midway")
        delivery, streamed = instance.delivery(), str(uuid.uuid4())
        instance.send(_chunk(delivery, streamed, "Almo", 0))
        instance.ack(delivery, error="the model failed")
        ended = _wait(lambda: watcher.seen("messageStreamError"), "the stream was not ended", 10)
        assert [(e["messageId"], e["partialText"], e["error"]) for e in ended] == [
            (streamed, "Almo", "the model failed")
        ]
    finally:
        watcher.client.disconnect()
    instance.close()


def test_the_hop_limit_holds_for_hosted_agents(bus: Bus) -> None:
    agent_id = bus.hosted_agent()
    instance = bus.attach(agent_id)
    instance.expect("welcome")
    deep = bus.post("An agent's third reply", metadata={"agentHops": 3})
    instance.nothing(1.0)
    runs = _wait(lambda: bus.runs(agent_id), "no run recorded")
    assert [(r["messageId"], r["metadata"]["outcome"]) for r in runs] == [(deep, "skipped")]
    instance.close()


def test_stop_and_start_reach_the_instance(bus: Bus) -> None:
    agent_id = bus.hosted_agent()
    instance = bus.attach(agent_id)
    instance.expect("welcome")
    bus.request("POST", f"agents/{agent_id}/stop")
    assert instance.expect("agent_update")["enabled"] is False
    bus.post("Said while stopped")
    instance.nothing(0.5)
    bus.request("POST", f"agents/{agent_id}/start")
    assert instance.expect("agent_update")["enabled"] is True
    said = bus.post("Said once started")
    assert instance.delivery()["data"]["id"] == said
    instance.close()


def test_deletions_and_clears_are_delivered(bus: Bus) -> None:
    agent_id = bus.hosted_agent()
    instance = bus.attach(agent_id)
    instance.expect("welcome")
    said = bus.post("Forget me")
    instance.ack(instance.delivery())
    bus.request("DELETE", f"messaging/channels/{CENTRAL}/messages/{said}")
    deleted = instance.delivery()
    assert deleted["event"] == "message_deleted" and deleted["data"]["messageId"] == said
    instance.ack(deleted)
    bus.request("DELETE", f"messaging/channels/{CENTRAL}/messages")
    cleared = instance.delivery()
    assert cleared["event"] == "channel_cleared" and cleared["data"]["channelId"] == CENTRAL
    instance.ack(cleared)
    instance.close()


def test_refused_attachments_are_closed_with_a_reason(bus: Bus) -> None:
    agent_id = bus.hosted_agent()
    plain = bus.request("POST", "agents", {"characterJson": {"name": "Local"}})["data"]["id"]
    for target, key, code in (
        (agent_id, "wrong-key", 4401),
        (str(uuid.uuid4()), KEY, 4404),
        (plain, KEY, 4409),
    ):
        instance = bus.attach(target, key=key)
        with pytest.raises(ConnectionClosed) as closed:
            instance.frame()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == code


def test_with_isolation_an_agent_attaches_and_replies_with_a_token_of_its_own(
    isolated_bus: Bus,
) -> None:
    bus = isolated_bus
    agent_id, other_id = bus.hosted_agent(), bus.hosted_agent("Other")

    def token_of(agent: str) -> str:
        done = bus.server.processes.manage("agent_token", agent, "--days", "1")
        assert done.returncode == 0, done.stderr
        return done.stdout.decode().strip()

    token = token_of(agent_id)
    for headers in ({}, {"Authorization": f"Bearer {token_of(other_id)}"}):
        refused = bus.attach(agent_id, headers=headers)
        with pytest.raises(ConnectionClosed) as closed:
            refused.frame()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

    instance = bus.attach(agent_id, headers={"Authorization": f"Bearer {token}"})
    original = bus.post("hello there")
    delivery = instance.delivery()
    assert delivery["data"]["id"] == original
    reply = {
        "channel_id": CENTRAL,
        "message_server_id": SERVER,
        "content": "hi",
        "in_reply_to_message_id": original,
        "source_type": "agent_response",
        "raw_message": {"text": "hi"},
    }

    def submit(author: str) -> int:
        request = urllib.request.Request(
            f"{bus.server.url}/api/messaging/submit",
            method="POST",
            data=json.dumps({**reply, "author_id": author}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    assert submit(other_id) == 403
    assert submit(agent_id) == 201


def test_an_sse_post_gets_the_chunks_a_hosted_agent_streams_under_its_own_id(bus: Bus) -> None:
    """The instance picks its reply's id; the wire knows which delivery, hence which message,
    a chunk belongs to, so the post waiting on that message writes it as it comes."""
    agent_id = bus.hosted_agent()
    instance = bus.attach(agent_id)
    instance.expect("welcome")
    body = {
        "author_id": str(uuid.uuid4()),
        "content": "Stream to me",
        "message_server_id": SERVER,
        "transport": "sse",
    }
    reply_id = str(uuid.uuid4())
    headers = {"X-API-KEY": KEY}
    with (
        httpx.Client(base_url=bus.server.url, headers=headers, timeout=30) as api,
        api.stream("POST", f"/api/messaging/channels/{CENTRAL}/messages", json=body) as sse,
    ):
        lines = sse.iter_lines()
        assert next(lines) == "event: user_message"
        said = json.loads(next(lines)[len("data: ") :])["id"]
        delivery = instance.delivery()
        assert delivery["data"]["id"] == said
        for index, piece in enumerate(["Far ", "away."]):
            instance.send(
                {
                    "type": "chunk",
                    "deliveryId": delivery["deliveryId"],
                    "messageId": reply_id,
                    "chunk": piece,
                    "index": index,
                }
            )
            # Each chunk is on the post's stream before the instance sends the next.
            assert next(lines) == ""
            assert next(lines) == "event: chunk"
            chunk = json.loads(next(lines)[len("data: ") :])
            assert chunk == {
                "messageId": reply_id,
                "chunk": piece,
                "index": index,
                "type": "chunk",
                "text": piece,
            }
        assert bus.submit(agent_id, said, "Far away.", reply_id)[0] == 201
        instance.ack(delivery)
        rest = list(lines)
    assert rest[:2] == ["", "event: done"]
    done = json.loads(rest[2][len("data: ") :])
    assert (done["id"], done["text"]) == (reply_id, "Far away.")
    instance.close()
