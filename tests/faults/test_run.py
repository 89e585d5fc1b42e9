"""The fault-injection run: users post over REST and over sockets into two channels, each with
an ELIZA agent, through HAProxy to two servers, with two ``runagents`` workers serving the
agents, on a private PostgreSQL and Redis, while the run, in turn and over again until
``CHAOS_SECONDS`` have passed (one round at least):

- kills the worker holding an agent with SIGKILL, in the middle of its replies, and restarts it;
- kills a server with SIGKILL while sockets are connected to it and posts are in flight (the
  sockets reconnect through the proxy and resume with ``lastSeq``), and restarts it;
- runs a writer that exits right after its commit, before its event is sent;
- restarts Redis (AOF on); makes Redis unreachable for 20 s; restarts PostgreSQL.

Then it reconciles the database with what every user was told and every socket saw, prints one
line of figures (in the CI log, passing or not), and asserts that nothing was lost or done twice.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from elizabus.management.commands.ensure_demo_agent import DEMO_AGENT_ID
from elizabus.models import CENTRAL_CHANNEL_ID
from tests.live import REPO
from tests.realtime.conftest import node_modules  # noqa: F401 - the fixture, shared

from .topology import SERVERS, WORKERS, Topology

pytestmark = [pytest.mark.faults, pytest.mark.redis, pytest.mark.postgres, pytest.mark.node]

SECONDS = float(os.environ.get("CHAOS_SECONDS", "0"))
CENTRAL = str(CENTRAL_CHANNEL_ID)
DOCTOR_ID = "d0c70000-0000-4000-8000-000000000002"
DOCTOR_CHANNEL = "d0c70000-0000-4000-8000-0000000000c1"
CHANNELS = (CENTRAL, DOCTOR_CHANNEL)
MARKER = "[exit-after-commit]"
PAUSE_SECONDS = 20
GAP_SECONDS = 4  # between two faults: the load runs undisturbed meanwhile
REST_USERS = 3
# The socket users' entities: members of the consulting room, which only members may join.
SOCKET_USERS = [f"50c4e700-0000-4000-8000-{n:012d}" for n in range(8)]

SETUP = f"""
import uuid
from elizabus import services
from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID
doctor = services.agent_register(agent_id=uuid.UUID('{DOCTOR_ID}'), name='Doctor',
    responder='elizabus.agents.responders.eliza.ElizaResponder')
services.channel_create(server_id=DEFAULT_SERVER_ID, name='Consulting room',
    channel_id=uuid.UUID('{DOCTOR_CHANNEL}'),
    participant_ids=[doctor.entity_id, *map(uuid.UUID, {SOCKET_USERS!r})])
# One agent per channel: two agents in one channel would answer each other too.
services.channel_participant_remove(channel_id=CENTRAL_CHANNEL_ID, entity_id=doctor.entity_id)
"""

CHECK = """
import json
from elizabus.bus.models import OutboxEvent
from elizabus.models import Agent, Memory, Message, Participant
agents = set(Agent.objects.values_list('entity_id', flat=True))
seated = {}
for channel_id, entity_id in Participant.objects.filter(entity_id__in=agents).values_list(
        'channel_id', 'entity_id'):
    seated.setdefault(str(channel_id), []).append(str(entity_id))
messages = [
    {'id': str(m.id), 'channel': str(m.channel_id), 'at': m.created_at.timestamp(),
     'author': str(m.author_id), 'agent': m.author_id in agents,
     'reply_to': str(m.in_reply_to_id) if m.in_reply_to_id else None}
    for m in Message.objects.order_by('created_at')]
print(json.dumps({'seated': seated, 'messages': messages,
    'memories': [[str(a), str(m)] for a, m in Memory.objects.values_list('agent_id', 'message_id')],
    'unsent': OutboxEvent.objects.filter(sent_at__isnull=True).count()}))
"""


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    deployed = Topology(tmp_path)
    try:
        deployed.postgres.start()
        deployed.redis.start()
        for step in (("migrate", "--noinput", "-v", "0"), ("ensure_demo_agent",)):
            done = deployed.manage(*step)
            assert done.returncode == 0, done.stderr.decode()
        done = deployed.shell(SETUP)
        assert done.returncode == 0, done.stderr.decode()
        for name in SERVERS:
            deployed.start_server(name)
        for name in WORKERS:
            deployed.start_worker(name)
        deployed.start_proxy()
        yield deployed
    finally:
        deployed.cleanup()


class Faults:
    """The faults, injected one after another; each returns the ids of messages it stored."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.injected: Counter[str] = Counter()
        self.stored: list[str] = []

    def kill_worker_mid_reply(self) -> None:
        name = self._holder_of(DEMO_AGENT_ID)
        self.topology.kill(name)
        self.topology.start_worker(name)

    def kill_server(self) -> None:
        name = SERVERS[self.injected["kill_server"] % len(SERVERS)]
        self.topology.kill(name)
        time.sleep(2)  # clients reconnect to the other, posts to this one fail meanwhile
        self.topology.start_server(name)

    def exit_between_commit_and_send(self) -> None:
        message_id = str(uuid.uuid4())
        script = (
            "import uuid; from elizabus import services; "
            f"services.message_create(channel_id=uuid.UUID('{CENTRAL}'), "
            f"author_id=uuid.uuid4(), content='Dying {MARKER}', "
            f"message_id=uuid.UUID('{message_id}'))"
        )
        died = self.topology.shell(script, ELIZABUS_BUS_FAULT_EXIT_AFTER_COMMIT=MARKER)
        assert died.returncode == 70, died.stderr.decode()
        self.stored.append(message_id)

    def restart_redis(self) -> None:
        self.topology.restart_redis()

    def pause_redis(self) -> None:
        self.topology.pause_redis(PAUSE_SECONDS)

    def restart_postgres(self) -> None:
        self.topology.restart_postgres()

    def run(self, until: float) -> None:
        """Every fault in turn, over again until ``until`` (one round at least)."""
        faults: list[Callable[[], None]] = [
            self.kill_worker_mid_reply,
            self.kill_server,
            self.exit_between_commit_and_send,
            self.restart_redis,
            self.pause_redis,
            self.restart_postgres,
        ]
        for round_ in range(1000):
            if round_ and time.monotonic() > until:
                return
            for fault in faults:
                time.sleep(GAP_SECONDS)
                fault()
                self.injected[fault.__name__] += 1

    def _holder_of(self, agent_id: uuid.UUID) -> str:
        """The worker whose lease holds the agent's group now."""
        client = redis.Redis.from_url(self.topology.env["REDIS_URL"])
        try:
            holder = client.get(f"elizabus:bus:lease:agent:{agent_id}")
        finally:
            client.close()
        pid = int(holder.decode().split(":")[1]) if holder else None
        by_pid = {self.topology.running[name].pid: name for name in WORKERS}
        return by_pid.get(pid, WORKERS[0])


class RestUsers:
    """Threads posting over REST through the proxy, one message after another; ``told`` holds
    the id of every message a server answered for (stored, as far as its user knows)."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.told: list[str] = []
        self.failed = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._post, args=(n,)) for n in range(REST_USERS)]

    def __enter__(self) -> RestUsers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _post(self, user: int) -> None:
        for n in range(100_000):
            if self._stop.is_set():
                return
            # One post in ten waits for the agent's answer (``transport: http``).
            transport = "http" if n % 10 == 9 else "websocket"
            text = f"Men are all alike ({user}.{n})."
            message_id = self.topology.post(CHANNELS[n % len(CHANNELS)], text, transport)
            if message_id is None:
                self.failed += 1
            else:
                self.told.append(message_id)
            time.sleep(0.1)


def reconcile(state: dict[str, Any], told: set[str], sockets: list[dict[str, Any]]) -> dict:
    messages = {m["id"]: m for m in state["messages"]}
    users = [m for m in state["messages"] if not m["agent"]]
    expected = {(agent, m["id"]) for m in users for agent in state["seated"].get(m["channel"], [])}
    replies = Counter(
        (m["author"], m["reply_to"]) for m in state["messages"] if m["agent"] and m["reply_to"]
    )
    memories = Counter(tuple(pair) for pair in state["memories"])
    misses = []
    for number, socket in enumerate(sockets):
        for channel, received in socket["received"].items():
            # From a second after the first message it saw: it had joined by then.
            since = messages[socket["first"][channel]]["at"] + 1.0
            heard = set(received)
            misses += [
                _miss(number, socket, m)
                for m in state["messages"]
                if m["channel"] == channel and m["at"] > since and m["id"] not in heard
            ]
    return {
        "users": len(users),
        "expected": len(expected),
        "stored": len(expected & set(replies)),
        "duplicate_replies": sum(n - 1 for n in replies.values()),
        "duplicate_memories": sum(n - 1 for n in memories.values()),
        "missed": len(misses),
        "misses": misses,
        "unsent": state["unsent"],
        "lost": len(told - messages.keys()),
    }


def _miss(number: int, socket: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """A message a socket never got, with what that socket went through in the 15 s around it
    (its connects, upgrades and disconnects, in epoch ms)."""
    at_ms = message["at"] * 1000
    return {
        "socket": number,
        "entity": socket["entityId"],
        "message": message,
        "around": [entry for entry in socket.get("timeline", []) if abs(entry[0] - at_ms) < 15_000],
    }


def _run(
    topology: Topology, faults: Faults, sockets: subprocess.Popen[str]
) -> tuple[str, dict[str, int]]:
    try:
        with RestUsers(topology) as rest:
            faults.run(until=time.monotonic() + SECONDS)
            time.sleep(GAP_SECONDS)
    finally:
        sockets.stdin.write("stop sending\n")
        sockets.stdin.flush()
    deadline = time.monotonic() + 120
    while True:
        state = json.loads(topology.shell(CHECK).stdout.splitlines()[-1])
        report = reconcile(state, set(), [])
        if (report["stored"] >= report["expected"] and not report["unsent"]) or (
            time.monotonic() > deadline
        ):
            break
        time.sleep(1)
    seen = json.loads(sockets.communicate(timeout=120)[0])  # closes stdin: they report
    acked = {message_id for socket in seen for message_id in socket["acked"]}
    told = set(rest.told) | acked | set(faults.stored)
    report = reconcile(state, told, seen)
    # Everything the reconciliation read, beside the processes' logs, for a failure's reader.
    record = {"state": state, "told": sorted(told), "sockets": seen, "misses": report["misses"]}
    (topology.root / "reconciled.json").write_text(json.dumps(record))
    line = (
        f"faults: posted={len(told)} (rest={len(rest.told)} socket={len(acked)} "
        f"refused={rest.failed}) faults={sum(faults.injected.values())} "
        f"replies_expected={report['expected']} replies_stored={report['stored']} "
        f"duplicate_replies={report['duplicate_replies']} "
        f"duplicate_memories={report['duplicate_memories']} "
        f"missed_by_resumed_sockets={report['missed']} unsent_events={report['unsent']} "
        f"lost_posts={report['lost']} reconnects={sum(s['connects'] - 1 for s in seen)}"
    )
    return line, report


# Set-up and one round take about two minutes; the reconciliation waits up to two more.
@pytest.mark.timeout(600 + SECONDS)
def test_nothing_is_lost_or_done_twice(
    topology: Topology,
    node_modules: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    faults = Faults(topology)
    sockets = topology.socket_users(
        node_modules,
        channels=list(CHANNELS),
        entityIds=SOCKET_USERS,
        sendEveryMs=1000,
        settleMs=3000,
    )
    try:
        line, report = _run(topology, faults, sockets)
    finally:
        if sockets.poll() is None:
            sockets.kill()
            sockets.wait()
    with capsys.disabled():  # the figures belong in the CI log, passing or not
        print(f"\n{line}")
    losses = ("duplicate_replies", "duplicate_memories", "missed", "unsent", "lost")
    failed = any(report[key] for key in losses) or report["stored"] != report["expected"]
    if failed:
        line += f" (kept in {_keep(topology.root)})"
    assert {key: report[key] for key in losses} == dict.fromkeys(losses, 0), line
    assert report["stored"] == report["expected"], line


def _keep(root: Path) -> Path:
    """A failed run's reconciliation and logs, copied under var/ where pytest's rotation of its
    temporary directories does not delete them (it keeps the last three runs)."""
    kept = Path(REPO) / "var" / "faults" / time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    kept.mkdir(parents=True, exist_ok=True)
    for path in root.iterdir():
        if path.is_file() and path.suffix in {".json", ".log"}:
            shutil.copy2(path, kept / path.name)
    return kept
