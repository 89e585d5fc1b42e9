"""The fault-injection run: users post over REST and over sockets into two channels, each with
an ELIZA agent, through HAProxy to two servers, with two ``runagents`` workers serving the
agents, on a private PostgreSQL and Redis, while the run, in turn and over again until
``CHAOS_SECONDS`` have passed (one round at least):

- kills the worker holding an agent with SIGKILL, in the middle of its replies, and restarts it;
- kills a server with SIGKILL while sockets are connected to it and posts are in flight (the
  sockets reconnect through the proxy and resume with ``lastSeq``), and restarts it;
- runs a writer that exits right after its commit, before its event is sent;
- restarts Redis (AOF on); makes Redis unreachable for 20 s; restarts PostgreSQL; makes
  PostgreSQL unreachable for 10 s (SIGSTOP: connections open, nothing answers).

Then it reconciles the database with what every user was told and every socket saw, prints one
line of figures (in the CI log, passing or not), and asserts that nothing was lost or done twice.

It also measures what users felt meanwhile (:func:`availability`): per fault, the p50 and p99
latency of REST posts and of socket sends begun while the fault lasted, the share of them
refused (no answer, or an error), and how long after the fault ended the last slow or refused
one was answered. REST posts that wait for an agent's answer (``transport: http``) are left out:
their time is the agent's. While Redis is paused a post must answer within 500 ms, and none be
refused (docs/deployment.md, "When a dependency is down").
"""

from __future__ import annotations

import bisect
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
POSTGRES_PAUSE_SECONDS = 10
# Answered slower than this, a post or send is not back to normal yet: the target a post must
# meet while Redis is paused (this loaded machine's quiet p99 is about 0.3 s).
NORMAL_SECONDS = 0.5
# The targets the run asserts, while Redis is paused.
REDIS_PAUSED_P99_SECONDS = 0.5
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
        self.windows: list[tuple[str, float, float]] = []

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

    def pause_postgres(self) -> None:
        self.topology.pause_postgres(POSTGRES_PAUSE_SECONDS)

    def run(self, until: float) -> None:
        """Every fault in turn, over again until ``until`` (one round at least); ``windows``
        holds when each one began and ended (epoch seconds)."""
        faults: list[Callable[[], None]] = [
            self.kill_worker_mid_reply,
            self.kill_server,
            self.exit_between_commit_and_send,
            self.restart_redis,
            self.pause_redis,
            self.restart_postgres,
            self.pause_postgres,
        ]
        for round_ in range(1000):
            if round_ and time.monotonic() > until:
                return
            for fault in faults:
                time.sleep(GAP_SECONDS)
                began = time.time()
                fault()
                self.windows.append((fault.__name__, began, time.time()))
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
    the id of every message a server answered for (stored, as far as its user knows).

    ``REST_USERS`` threads post and are timed; one more waits for the agent's answer to each
    of its posts (``transport: http``), which takes the agent's time, and is not timed."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.told: list[str] = []
        self.failed = 0
        # Each timed post (a :data:`Sample`).
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._post, args=(n, "websocket")) for n in range(REST_USERS)
        ]
        self._threads.append(threading.Thread(target=self._post, args=(REST_USERS, "http")))

    def __enter__(self) -> RestUsers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _post(self, user: int, transport: str) -> None:
        for n in range(100_000):
            if self._stop.is_set():
                return
            text = f"Men are all alike ({user}.{n})."
            began = time.time()
            message_id, status = self.topology.post_answer(
                CHANNELS[n % len(CHANNELS)], text, transport
            )
            if transport == "websocket":
                seconds = time.time() - began
                self.samples.append((began, seconds, message_id is not None, status != 0))
            if message_id is None:
                self.failed += 1
            else:
                self.told.append(message_id)
            time.sleep(0.1 if transport == "websocket" else 0.5)


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


# The faults by the names the summary line gives them.
FAULT_NAMES = {
    "kill_worker_mid_reply": "worker_kill",
    "kill_server": "server_kill",
    "exit_between_commit_and_send": "writer_exit",
    "restart_redis": "redis_restart",
    "pause_redis": "redis_paused",
    "restart_postgres": "postgres_restart",
    "pause_postgres": "postgres_paused",
}

# Began (epoch s), seconds to the answer, stored (201, messageAck), answered at all (a refusal
# such as a 503 is an answer; a timeout or a dropped connection is not).
Sample = tuple[float, float, bool, bool]


def socket_samples(sockets: list[dict[str, Any]]) -> list[Sample]:
    """Each socket send, with the time to its first answer: its ``messageAck``, or the socket's
    first ``messageError`` after it (which names no message) if that came first; stored if
    acknowledged, even late."""
    samples = []
    for socket in sockets:
        acked = socket.get("ackedAt", {})
        errors = sorted(socket.get("errorsAt", []))
        for message_id, sent_ms in socket.get("sends", []):
            index = bisect.bisect_left(errors, sent_ms)
            refused_ms = errors[index] if index < len(errors) else None
            answers = [at for at in (acked.get(message_id), refused_ms) if at is not None]
            seconds = (min(answers) - sent_ms) / 1000 if answers else 0.0
            samples.append((sent_ms / 1000, seconds, message_id in acked, bool(answers)))
    return samples


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def availability(
    windows: list[tuple[str, float, float]], rest: list[Sample], sockets: list[Sample]
) -> dict[str, dict[str, float]]:
    """Per fault (every round's windows together): ``{post,send}_{p50,p99}`` (seconds to the
    answer, a fast refusal included, of those begun during the fault), ``{post,send}_refused``
    (the share not stored: refused, or never answered), ``{post,send}_count``, and ``back``:
    seconds from the fault's end to the answer of the last post or send, begun from the fault's
    start and answered before the next fault's, that was not stored or slower than
    :data:`NORMAL_SECONDS`."""
    ordered = sorted(windows, key=lambda window: window[1])
    samples: dict[str, dict[str, list[Sample]]] = {}
    back: dict[str, float] = {}
    for index, (fault, began, ended) in enumerate(ordered):
        name = FAULT_NAMES.get(fault, fault)
        until = ordered[index + 1][1] if index + 1 < len(ordered) else float("inf")
        kinds = samples.setdefault(name, {"post": [], "send": []})
        back.setdefault(name, 0.0)
        for kind, taken in (("post", rest), ("send", sockets)):
            kinds[kind] += [sample for sample in taken if began <= sample[0] <= ended]
            # What was answered once the next fault began is that fault's.
            slow = [
                sample[0] + sample[1] - ended
                for sample in taken
                if began <= sample[0]
                and sample[0] + sample[1] < until
                and (not sample[2] or sample[1] > NORMAL_SECONDS)
            ]
            back[name] = max(back[name], *slow, 0.0)
    figures = {}
    for name, kinds in samples.items():
        figures[name] = {"back": back[name]}
        for kind, taken in kinds.items():
            answered = [sample[1] for sample in taken if sample[3]]
            stored = sum(1 for sample in taken if sample[2])
            figures[name][f"{kind}_count"] = len(taken)
            figures[name][f"{kind}_p50"] = _quantile(answered, 0.5)
            figures[name][f"{kind}_p99"] = _quantile(answered, 0.99)
            figures[name][f"{kind}_refused"] = (len(taken) - stored) / len(taken) if taken else 0.0
    return figures


def availability_line(figures: dict[str, dict[str, float]]) -> str:
    parts = []
    for name, f in figures.items():
        parts.append(
            f"{name}: post p50/p99={f['post_p50'] * 1000:.0f}/{f['post_p99'] * 1000:.0f}ms "
            f"refused={f['post_refused']:.0%} of {f['post_count']} "
            f"send p50/p99={f['send_p50'] * 1000:.0f}/{f['send_p99'] * 1000:.0f}ms "
            f"refused={f['send_refused']:.0%} of {f['send_count']} back={f['back']:.1f}s"
        )
    return "; ".join(parts)


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
) -> tuple[str, dict[str, Any]]:
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
    report["availability"] = availability(faults.windows, rest.samples, socket_samples(seen))
    record = {
        "state": state,
        "told": sorted(told),
        "sockets": seen,
        "misses": report["misses"],
        "windows": faults.windows,
        "rest": rest.samples,
        "availability": report["availability"],
    }
    (topology.root / "reconciled.json").write_text(json.dumps(record))
    line = (
        f"faults: posted={len(told)} (rest={len(rest.told)} socket={len(acked)} "
        f"refused={rest.failed}) faults={sum(faults.injected.values())} "
        f"replies_expected={report['expected']} replies_stored={report['stored']} "
        f"duplicate_replies={report['duplicate_replies']} "
        f"duplicate_memories={report['duplicate_memories']} "
        f"missed_by_resumed_sockets={report['missed']} unsent_events={report['unsent']} "
        f"lost_posts={report['lost']} reconnects={sum(s['connects'] - 1 for s in seen)} "
        f"availability: {availability_line(report['availability'])}"
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
    # Redis paused: the posts' durable part is the database's, and nothing waits on Redis.
    paused = report["availability"]["redis_paused"]
    assert paused["post_p99"] < REDIS_PAUSED_P99_SECONDS, line
    assert (paused["post_refused"], paused["send_refused"]) == (0, 0), line


def _keep(root: Path) -> Path:
    """A failed run's reconciliation and logs, copied under var/ where pytest's rotation of its
    temporary directories does not delete them (it keeps the last three runs)."""
    kept = Path(REPO) / "var" / "faults" / time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    kept.mkdir(parents=True, exist_ok=True)
    for path in root.iterdir():
        if path.is_file() and path.suffix in {".json", ".log"}:
            shutil.copy2(path, kept / path.name)
    return kept
