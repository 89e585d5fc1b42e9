"""The elizaOS host (``hosts/elizaos/host.mjs``, docs/agents.md "The elizaOS host") end to end,
with real processes: ``manage.py serve``, unmodified elizaOS runtimes (``@elizaos/core`` 1.7.2,
plugin-bootstrap, plugin-sql on PGLite, plugin-openai 1.6.0) attached over the agent wire, and
``tests/fake_responses_model.py`` as their model. What is checked is what a user sees: the
characters listed as agents, their answers in the central channel, in a DM and through the
official SDK, the stream on a Socket.IO client, the hop limit between two elizaOS agents, and
one answer when the host answering dies and another takes over.

The host's npm packages are installed from its lockfile once (``make elizaos-host``, here
:func:`tests.live.elizaos_host`). The tests carry the ``elizaos_host`` mark
(``-m "not elizaos_host"`` leaves them out by hand; CI runs them).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from django.conf import settings

from elizabus.ids import string_to_uuid
from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID
from tests.fake_responses_model import FakeModel
from tests.live import LiveServer, Processes, elizaos_host, need_tool, npm_package
from tests.sdk.conftest import API_CLIENT, SCRIPT

pytestmark = [pytest.mark.elizaos_host, pytest.mark.node, pytest.mark.timeout(600)]

CENTRAL = str(CENTRAL_CHANNEL_ID)
SERVER = str(DEFAULT_SERVER_ID)
KEY = "host-test-key"
# A runtime starts (PGLite, migrations, plugins) in a few seconds; a loaded machine is slower.
ATTACH_SECONDS = 90
ANSWER_SECONDS = 60


def _wait(condition: Callable[[], Any], what: str, timeout: float = ANSWER_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return result


def character(root: Path, name: str) -> Path:
    """An elizaOS character file, as a user writes one."""
    path = root / f"{name.lower()}.json"
    path.write_text(
        json.dumps(
            {
                "name": name,
                "bio": [f"{name} is a test character of elizabus."],
                "system": f"You are {name}.",
                "plugins": ["@elizaos/plugin-bootstrap", "@elizaos/plugin-openai"],
                "settings": {"secrets": {"OPENAI_API_KEY": "sk-fake"}},
            }
        )
    )
    return path


class Bus:
    """A server on its own SQLite file with its API key set, the fake model, and the hosts."""

    def __init__(self, root: Path, host_script: Path, model: FakeModel) -> None:
        self.root = root
        self.host_script = host_script
        self.model = model
        self.server = LiveServer(
            root,
            {
                "DATABASE_URL": "",
                "REDIS_URL": "",
                "DJANGO_SETTINGS_MODULE": "project.settings",
                "ELIZABUS_VAR_DIR": str(root),
                "ELIZA_SERVER_AUTH_TOKEN": KEY,
                "ELIZABUS_API_RATE": "",
            },
        )
        self.url = self.server.url
        self.hosts = Processes(root, {})

    # --- the host --------------------------------------------------------------------------
    def start_host(self, name: str, *characters: str) -> None:
        """``node host.mjs`` for ``characters``, its own PGLite; returns once all attached."""
        self.spawn_host(name, *characters)
        self.wait_attached(name, len(characters))

    def spawn_host(self, name: str, *characters: str) -> None:
        files = [str(character(self.root, each)) for each in characters]
        self.hosts.start(
            name,
            [need_tool("node"), str(self.host_script), *files],
            env={
                "ELIZABUS_URL": self.url,
                "ELIZA_SERVER_AUTH_TOKEN": KEY,
                "PGLITE_DATA_DIR": str(self.root / name / "pglite"),
                "OPENAI_API_KEY": "sk-fake",
                "OPENAI_BASE_URL": self.model.url,
                "LOG_LEVEL": "info",  # the host's "Attached to elizabus" lines
            },
        )

    def wait_attached(self, name: str, count: int = 1) -> None:
        deadline = time.monotonic() + ATTACH_SECONDS
        log = self.hosts.log(name)
        while log.read_text(errors="replace").count("Attached to elizabus") < count:
            process = self.hosts.running[name]
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError(f"host {name} did not attach:\n{log.read_text()[-6000:]}")
            time.sleep(0.2)

    # --- the API, as a client ----------------------------------------------------------------
    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.url}/api/{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", "X-API-KEY": KEY},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{method} {path}: {error.code} {error.read()!r}") from error

    def agents(self) -> dict[str, dict[str, Any]]:
        return {a["name"]: a for a in self.request("GET", "agents")["data"]["agents"]}

    def agent_id(self, name: str) -> str:
        return self.agents()[name]["id"]

    def post(
        self,
        channel_id: str,
        text: str,
        author: str | None = None,
        metadata: dict[str, Any] | None = None,
        source_type: str = "user",
    ) -> str:
        body = {
            "author_id": author or str(uuid.uuid4()),
            "content": text,
            "message_server_id": SERVER,
            "source_type": source_type,
            "metadata": metadata or {},
        }
        answer = self.request("POST", f"messaging/channels/{channel_id}/messages", body)
        return answer["data"]["id"]

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        answer = self.request("GET", f"messaging/channels/{channel_id}/messages?limit=100")
        return answer["data"]["messages"]

    def replies_to(self, channel_id: str, message_id: str) -> list[dict[str, Any]]:
        return [
            m for m in self.messages(channel_id) if m.get("inReplyToRootMessageId") == message_id
        ]

    def runs(self, agent_id: str) -> list[dict[str, Any]]:
        return self.request("GET", f"agents/{agent_id}/runs")["data"]["runs"]


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bus]:
    host_script = elizaos_host()
    root = tmp_path_factory.mktemp("elizaos-host")
    model = FakeModel().start()
    deployed = Bus(root, host_script, model)
    migrated = deployed.server.processes.manage("migrate", "--noinput", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr.decode(errors="replace")
    deployed.server.start()
    try:
        # Ada, the runtime most tests talk to; the others get host processes of their own.
        deployed.start_host("host-ada", "Ada")
        yield deployed
    finally:
        deployed.hosts.stop_all()
        deployed.server.stop()
        model.stop()


class Listener:
    """A Socket.IO client in a channel, as the elizaOS web client joins it: records events."""

    def __init__(self, url: str, channel_id: str, entity_id: str | None = None) -> None:
        self.entity_id = entity_id or str(uuid.uuid4())
        self.events: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self.client = socketio.Client(reconnection=False)
        for name in (
            "messageBroadcast",
            "messageStreamChunk",
            "messageStreamError",
            "room_joined",
            "messageError",
        ):
            self.client.on(name, self._recorder(name))
        self.client.connect(url, auth={"entityId": self.entity_id, "apiKey": KEY}, wait_timeout=10)
        self.client.emit("message", {"type": 1, "payload": {"channelId": channel_id}})
        _wait(lambda: self.seen("room_joined") or self.seen("messageError"), "no join", 10)
        assert not self.seen("messageError"), self.seen("messageError")

    def _recorder(self, name: str) -> Callable[[Any], None]:
        def record(data: Any) -> None:
            with self._lock:
                self.events.append((name, data))

        return record

    def say(self, channel_id: str, text: str) -> str:
        """Sends ``text`` as the web client does; the stored message's id."""
        payload = {
            "senderId": self.entity_id,
            "senderName": "Tester",
            "message": text,
            "channelId": channel_id,
            "serverId": SERVER,
            "messageId": f"client-{uuid.uuid4()}",
            "source": "client_chat",
        }
        self.client.emit("message", {"type": 2, "payload": payload})
        own = _wait(
            lambda: [
                m
                for m in self.seen("messageBroadcast")
                if m["senderId"] == self.entity_id and m["text"] == text
            ],
            "the message was not stored",
            10,
        )
        return own[0]["id"]

    def seen(self, name: str) -> list[Any]:
        with self._lock:
            return [data for event, data in self.events if event == name]

    def close(self) -> None:
        self.client.disconnect()


def test_the_characters_are_listed_as_agents_hosted_outside(bus: Bus) -> None:
    ada = bus.agents()["Ada"]
    assert ada["hostedOutside"] is True and ada["status"] == "active"
    # The id elizaOS gives a character without one, so its memories and the bus agree.
    assert ada["id"] == str(string_to_uuid("Ada"))
    # The character is stored without the secrets the host keeps.
    assert "secrets" not in ada["character"].get("settings", {})


def test_a_message_in_the_central_channel_is_answered_and_streamed(bus: Bus) -> None:
    ada = bus.agent_id("Ada")
    listener = Listener(bus.url, CENTRAL)
    try:
        said = listener.say(CENTRAL, "Hello, Ada")
        replies = _wait(lambda: bus.replies_to(CENTRAL, said), "Ada did not answer")
        assert [(r["authorId"], r["content"]) for r in replies] == [(ada, "Ada heard you.")]
        reply_id = replies[0]["id"]
        broadcast = _wait(
            lambda: [m for m in listener.seen("messageBroadcast") if m["id"] == reply_id],
            "the reply was not broadcast",
            10,
        )
        assert broadcast[0]["text"] == "Ada heard you."

        def streamed() -> str:
            chunks = listener.seen("messageStreamChunk")
            return "".join(c["chunk"] for c in chunks if c["messageId"] == reply_id)

        _wait(lambda: streamed() == "Ada heard you.", f"not streamed: {streamed()!r}", 10)
        indexes = [c["index"] for c in listener.seen("messageStreamChunk")]
        assert indexes == list(range(len(indexes)))
    finally:
        listener.close()
    # Stored once: the reply is in the channel once, and once in the agent's runs.
    assert [m["id"] for m in bus.messages(CENTRAL)].count(reply_id) == 1
    runs = _wait(lambda: [r for r in bus.runs(ada) if r["messageId"] == said], "no run", 10)
    assert [(r["metadata"]["outcome"], r["metadata"].get("replyId")) for r in runs] == [
        ("replied", reply_id)
    ]


def test_a_dm_to_the_agent_is_answered(bus: Bus) -> None:
    ada, user = bus.agent_id("Ada"), str(uuid.uuid4())
    dm = bus.request("GET", f"messaging/dm-channel?currentUserId={user}&targetUserId={ada}")
    channel = dm["data"]["id"]
    said = bus.post(channel, "Just between us", author=user, metadata={"channelType": "DM"})
    replies = _wait(lambda: bus.replies_to(channel, said), "Ada did not answer the DM")
    assert [(r["authorId"], r["content"]) for r in replies] == [(ada, "Ada heard you.")]
    assert replies[0]["metadata"]["isDm"] is True


def test_two_elizaos_agents_in_a_group_stop_at_the_hop_limit(bus: Bus) -> None:
    # Bob runs in a host process of his own: two runtimes that answer each other over the bus.
    bus.start_host("host-bob", "Bob")
    try:
        ada, bob, user = bus.agent_id("Ada"), bus.agent_id("Bob"), str(uuid.uuid4())
        group = bus.request(
            "POST",
            "messaging/central-channels",
            {
                "name": "Ada and Bob",
                "message_server_id": SERVER,
                "participantCentralUserIds": [user, ada, bob],
                "type": "GROUP",
            },
        )["data"]["id"]
        said = bus.post(group, "Talk to each other", author=user)
        limit = 3  # AGENT_HOP_LIMIT

        def replies() -> list[tuple[str, int]]:
            return sorted(
                (m["authorId"], m["metadata"]["agentHops"])
                for m in bus.messages(group)
                if m["id"] != said
            )

        # Each answers the person (hop 1), then each answers the other's replies below the
        # limit (hops 2 and 3); the replies at the limit reach neither.
        expected = sorted((agent, hops) for agent in (ada, bob) for hops in (1, 2, limit))
        _wait(lambda: replies() == expected, f"not the expected replies: {replies()}")
        at_limit = {
            m["id"]: m["authorId"]
            for m in bus.messages(group)
            if m["metadata"].get("agentHops") == limit
        }
        for agent, other in ((ada, bob), (bob, ada)):
            heard = next(i for i, author in at_limit.items() if author == other)
            run = _wait(
                lambda a=agent, h=heard: [r for r in bus.runs(a) if r["messageId"] == h],
                "no run for the message at the limit",
                10,
            )
            assert run[0]["metadata"]["skipReason"] == "hop_limit"
        time.sleep(2)  # nothing more comes: no reply past the limit
        assert replies() == expected
    finally:
        bus.hosts.stop("host-bob")


def test_a_second_host_takes_over_from_one_killed_mid_answer(bus: Bus) -> None:
    # Kit is run by two host processes started at once (two replicas of one deployment), each
    # with its own PGLite; one of them holds the deliveries.
    hosts = ("host-kit-1", "host-kit-2")
    for name in hosts:
        bus.spawn_host(name, "Kit")
    for name in hosts:
        bus.wait_attached(name)
    listener: Listener | None = None
    try:
        kit, user = bus.agent_id("Kit"), str(uuid.uuid4())
        dm = bus.request("GET", f"messaging/dm-channel?currentUserId={user}&targetUserId={kit}")
        channel = dm["data"]["id"]
        listener = Listener(bus.url, channel, entity_id=user)
        # [[slow]] makes the fake model stream the reply over seconds.
        said = bus.post(channel, "Take your time [[slow]]", author=user)

        def mine() -> list[dict[str, Any]]:
            return bus.replies_to(channel, said)

        _wait(lambda: listener.seen("messageStreamChunk"), "the first host did not stream")
        assert mine() == []
        holding = [name for name in hosts if said in bus.hosts.log(name).read_text()]
        assert len(holding) == 1, holding
        bus.hosts.kill(holding[0])
        answered = _wait(mine, "the second host did not answer")
        assert [(r["authorId"], r["content"]) for r in answered] == [(kit, "Kit heard you.")]
        # The second host streamed the answer it stored; the first one's stream, under another
        # id, ended with messageStreamError, so the client drops its partial bubble.
        reply_id = answered[0]["id"]
        _wait(
            lambda: [m for m in listener.seen("messageBroadcast") if m["id"] == reply_id],
            "the answer was not broadcast",
            10,
        )
        pieces: dict[str, str] = {}
        for chunk in listener.seen("messageStreamChunk"):
            pieces[chunk["messageId"]] = pieces.get(chunk["messageId"], "") + chunk["chunk"]
        assert pieces.pop(reply_id) == "Kit heard you."
        ended = _wait(
            lambda: listener.seen("messageStreamError"), "the first stream never ended", 5
        )
        assert [(e["messageId"], e["partialText"]) for e in ended] == list(pieces.items())
        time.sleep(2)  # a second answer, if one were to come
        assert len(mine()) == 1
        runs = [r for r in bus.runs(kit) if r["messageId"] == said]
        assert [r["metadata"]["outcome"] for r in runs] == ["replied"]
    finally:
        if listener is not None:
            listener.close()
        for name in hosts:
            if name in bus.hosts.running:
                bus.hosts.stop(name)


def test_the_sdk_sees_the_agent_and_its_reply(bus: Bus) -> None:
    sdk = npm_package(Path(settings.VAR_DIR) / "node", API_CLIENT)
    module = sdk / "@elizaos" / "api-client" / "dist" / "index.js"
    ada, user = bus.agent_id("Ada"), str(uuid.uuid4())
    said = bus.post(CENTRAL, "Ada, are you there?", author=user)
    _wait(
        lambda: [r for r in bus.replies_to(CENTRAL, said) if r["authorId"] == ada],
        "Ada did not answer",
    )
    script = bus.root / "sdk.mjs"
    script.write_text(
        SCRIPT.replace("__SDK__", module.as_uri()).replace(
            "__BODY__",
            """
            const { agents } = await client.agents.listAgents();
            const agent = await client.agents.getAgent(context.agentId);
            const { messages } = await client.messaging.getChannelMessages(context.channelId, {
              limit: 50,
            });
            return {
              listed: agents.map((a) => a.id),
              name: agent.name,
              replies: messages
                .filter((m) => m.inReplyToRootMessageId === context.said)
                .map((m) => [m.authorId, m.content]),
            };
            """,
        )
    )
    context = {"baseUrl": bus.url, "apiKey": KEY, "agentId": ada, "channelId": CENTRAL}
    finished = subprocess.run(
        [need_tool("node"), str(script), json.dumps({**context, "said": said})],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert finished.returncode == 0, finished.stderr or finished.stdout
    seen = json.loads(finished.stdout.rsplit("\n", 1)[-1])
    assert ada in seen["listed"] and seen["name"] == "Ada"
    assert [ada, "Ada heard you."] in seen["replies"]
