#!/usr/bin/env python3
"""B5: scale-out. The REST ingest and the agent round trip on the embedded default and on two
servers plus an agent worker over PostgreSQL and Redis, in the same run.

    .venv/bin/python bench/scaleout.py                          # 3 runs, topologies alternating
    .venv/bin/python bench/scaleout.py --requests 200 --runs 1  # a quick check
    .venv/bin/python bench/scaleout.py --ingest-channels 1,16   # also posts over 16 channels

Topologies, each started fresh for every run (its own ELIZABUS_VAR_DIR under /tmp/b5-*, the
demo ELIZA agent registered before anything serves: ``manage.py ensure_demo_agent``):

- **embedded**: one ``manage.py serve`` on SQLite, in-memory channel layer, database bus
  transport, the agent in the server process (what ``make run`` runs);
- **scaleout**: a private PostgreSQL (``initdb``, defaults) and a private Redis (AOF on, no
  snapshots), two ``manage.py serve`` (``--servers``; ``ELIZABUS_RUN_AGENTS=0``) and one
  ``manage.py runagents`` worker, Redis bus transport; the client's connections are spread
  evenly over the servers, no proxy.

Phases, closed loop at ``--concurrency`` (16) over keep-alive connections (bench/rest.py's
client): **ingest**, bench/rest.py's workload (a first post creates the channel, warm-up,
``--requests`` POSTs of 200 bytes with ``transport: websocket``), into one channel or spread
over several (``--ingest-channels``); **round trip**, ``--round-trips`` POSTs to the agent's
channel with ``transport: http`` (answered once the agent's reply was committed).

Per phase: throughput, p50/p99, and the CPU of every process of the topology (servers, worker,
PostgreSQL's postmaster and backends, Redis) from /proc, hence messages (or round trips) per
CPU-second, and each process's share. For the scale-out also what PostgreSQL and Redis did per
message (transactions, WAL flushes, Redis commands) and what PostgreSQL's client backends were
waiting on (pg_stat_activity sampled at 20 Hz). The API throttle's rate is raised
(``ELIZABUS_API_RATE``) so that it counts but never refuses. See bench/README.md, "B5".
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rest
import servers
from agents_latency import PROMPTS
from fanout import CENTRAL_CHANNEL_ID, SERVER_ID, add_machine_args, apply_machine_args, await_quiet

REDIS_TRANSPORT = "elizabus.bus.transports.redis.RedisStreamTransport"
COMMON_ENV = {
    "ELIZABUS_API_RATE": "1000000/min",  # every connection comes from 127.0.0.1
    "DJANGO_SECRET_KEY": "bench-b5-" + "k" * 50,
    "LOG_LEVEL": "WARNING",
    "ELIZABUS_LOG_LEVEL": "WARNING",
    "PYTHONUNBUFFERED": "1",
}
STATS_FLUSH_S = 1.2  # PostgreSQL backends publish their statistics at most once a second


@dataclass
class Topology(servers.Server):
    """A deployment measured as one server: ``cpu_seconds`` is every member process's CPU
    (with their exited children); ``urls`` are the servers the client spreads over."""

    urls: list[str] = field(default_factory=list)
    members: dict[str, servers.Server] = field(default_factory=dict)

    def add(self, name: str, member: servers.Server) -> servers.Server:
        member.name = name
        self.members[name] = member
        return member

    def cpu_by_process(self) -> dict[str, float]:
        return {
            name: servers.proc_cpu_seconds(member.pid, reaped=True) or 0.0
            for name, member in self.members.items()
        }

    def cpu_seconds(self) -> float | None:
        return sum(self.cpu_by_process().values()) if self.members else None

    def stop(self) -> None:
        """Stops the members, last started first (PostgreSQL after its clients), then removes
        the topology's directory."""
        for member in reversed(list(self.members.values())):
            try:
                member.stop()
            except Exception as exc:  # the others must still be stopped
                print(f"  stopping {member.name} failed: {exc}", file=sys.stderr)
        super().stop()


def environ(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment with ``extra`` on top (``""`` removes a variable), debug off."""
    env = {**os.environ, **extra}
    env.pop("DJANGO_DEBUG", None)
    return {key: value for key, value in env.items() if value != ""}


def prepare(args: argparse.Namespace, env: dict[str, str]) -> None:
    """Migrates the topology's database and registers the demo agent in the central channel."""
    python = str(servers.VENV_BIN / "python")
    for command in (["migrate", "--noinput", "-v", "0"], ["ensure_demo_agent"]):
        done = subprocess.run(
            [python, "manage.py", *command],
            cwd=args.src_dir,
            env=environ(env),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {command[0]} failed:\n{done.stdout}\n{done.stderr}")


def start_server(args: argparse.Namespace, env: dict[str, str]) -> servers.Server:
    return servers.start_elizabus(
        src_dir=args.src_dir,
        extra_env=env,
        asgi_server=args.asgi_server,
        server_args=args.server_arg,
    )


def start_embedded(args: argparse.Namespace) -> Topology:
    root = Path(tempfile.mkdtemp(prefix="b5-embedded-"))
    top = Topology(name="embedded", url="", cleanup_dirs=[root])
    try:
        env = {
            **COMMON_ENV,
            "ELIZABUS_VAR_DIR": str(root / "var"),
            "ELIZABUS_RUN_AGENTS": "1",
            **dict.fromkeys(("DATABASE_URL", "REDIS_URL", "ELIZABUS_BUS_TRANSPORT"), ""),
        }
        prepare(args, env)
        top.urls = [top.add("server", start_server(args, env)).url]
    except BaseException:
        top.stop()
        raise
    return top


def start_scaleout(args: argparse.Namespace) -> Topology:
    root = Path(tempfile.mkdtemp(prefix="b5-scaleout-"))
    top = Topology(name="scaleout", url="", cleanup_dirs=[root])
    try:
        postgres = top.add("postgres", servers.start_postgres())
        redis = top.add("redis", servers.start_redis())
        env = {
            **COMMON_ENV,
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis.url,
            "ELIZABUS_BUS_TRANSPORT": REDIS_TRANSPORT,
            "ELIZABUS_RUN_AGENTS": "0",
        }
        prepare(args, {**env, "ELIZABUS_VAR_DIR": str(root / "prepare")})
        for name in (f"server-{n}" for n in range(1, args.servers + 1)):
            server = start_server(args, {**env, "ELIZABUS_VAR_DIR": str(root / name)})
            top.urls.append(top.add(name, server).url)
        python = str(servers.VENV_BIN / "python")
        worker = servers.spawn(
            "worker",
            [python, "manage.py", "runagents"],
            url="",
            workdir=root,
            env=environ({**env, "ELIZABUS_VAR_DIR": str(root / "worker")}),
            cwd=args.src_dir,
        )
        top.add("worker", worker)
        wait_for_log(worker, "Running agents", timeout=60)
    except BaseException:
        top.stop()
        raise
    return top


START: dict[str, Callable[[argparse.Namespace], Topology]] = {
    "embedded": start_embedded,
    "scaleout": start_scaleout,
}


def wait_for_log(process: servers.Server, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.log_path and text in process.log_path.read_text(errors="replace"):
            return
        if process.proc is not None and process.proc.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"{process.name} did not log {text!r}:\n{process.log_tail()}")


# --------------------------------------------------------------------------------------------
# What the processes did during a phase
# --------------------------------------------------------------------------------------------


class WaitSampler(threading.Thread):
    """Samples what PostgreSQL's client backends are doing, ``hz`` times a second: waiting
    (``Lock:transactionid``: a row lock; ``IO:WALSync``, ``LWLock:WALWrite``: the WAL flush),
    running (``CPU``) or idle in a transaction (waiting on Django, locks held)."""

    QUERY = (
        "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
        "WHERE datname = 'elizabus' AND backend_type = 'client backend' "
        "AND pid <> pg_backend_pid() AND state <> 'idle'"
    )

    def __init__(self, url: str, hz: float = 20) -> None:
        super().__init__(daemon=True)
        import psycopg

        self.connection = psycopg.connect(stats_url(url), autocommit=True)
        self.interval, self.samples, self.counts = 1 / hz, 0, Counter[str]()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            rows = self.connection.execute(self.QUERY).fetchall()
            self.samples += 1
            for state, kind, event in rows:
                if state != "active":
                    self.counts[state] += 1
                else:
                    self.counts[f"{kind}:{event}" if kind else "CPU"] += 1

    def finish(self) -> dict[str, float]:
        """Average number of backends in each state over the phase."""
        self.done.set()
        self.join()
        self.connection.close()
        return {key: n / max(1, self.samples) for key, n in self.counts.most_common()}


def stats_url(url: str) -> str:
    """The server's maintenance database: the probes' own queries stay out of ``elizabus``'s
    transaction count."""
    return url.rsplit("/", 1)[0] + "/postgres"


def database_counters(url: str) -> dict[str, float]:
    import psycopg

    with psycopg.connect(stats_url(url), autocommit=True) as connection:
        wal = connection.execute(
            "SELECT wal_records, wal_bytes, wal_write, wal_sync, wal_sync_time FROM pg_stat_wal"
        ).fetchone()
        (commits,) = connection.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = 'elizabus'"
        ).fetchone()
    names = ("pg WAL records", "pg WAL bytes", "pg WAL writes", "pg WAL flushes")
    counters = dict(zip(names, map(float, wal[:4]), strict=True))
    # xact_commit counts read-only transactions too (each autocommit SELECT).
    return {**counters, "pg WAL flush ms": float(wal[4]), "pg transactions": float(commits)}


def redis_counters(url: str) -> dict[str, float]:
    import redis

    with redis.Redis.from_url(url) as client:
        stats = client.info("commandstats")
    calls = {key.removeprefix("cmdstat_"): float(value["calls"]) for key, value in stats.items()}
    return {"redis commands": sum(calls.values()), **{f"redis {k}": v for k, v in calls.items()}}


class Probe:
    """``rest.timed_phase``'s hooks: CPU per process, and PostgreSQL's and Redis's counters,
    read right around the timed requests (statistics flushed first, outside the timing)."""

    def __init__(self, top: Topology, profile: Path | None = None, label: str = "") -> None:
        self.top, self.label = top, label
        self.postgres = top.members.get("postgres")
        self.redis = top.members.get("redis")
        self.result: dict[str, Any] = {}
        # py-spy on each elizabus process (all threads), for bench/profile_summary.py.
        self.spies = [
            (name, servers.PySpy(profile, member.pid))
            for name, member in top.members.items()
            if profile and name not in ("postgres", "redis")
        ]

    def counters(self) -> dict[str, float]:
        counters: dict[str, float] = {}
        if self.postgres:
            time.sleep(STATS_FLUSH_S)
            counters |= database_counters(self.postgres.url)
        if self.redis:
            counters |= redis_counters(self.redis.url)
        return counters

    def start(self) -> None:
        self.before = self.counters()
        self.sampler = WaitSampler(self.postgres.url) if self.postgres else None
        if self.sampler:
            self.sampler.start()
        for name, spy in self.spies:
            spy.start(f"{self.top.name}-{name}-{self.label}", ["--threads"])
        self.cpu0 = self.top.cpu_by_process()

    def end(self) -> None:
        cpu1 = self.top.cpu_by_process()
        for _name, spy in self.spies:
            spy.stop()
        waits = self.sampler.finish() if self.sampler else {}
        after = self.counters()
        self.result = {
            "cpu": {name: cpu1[name] - self.cpu0[name] for name in cpu1},
            "counters": {k: v - self.before.get(k, 0.0) for k, v in after.items()},
            "waits": waits,
        }


# --------------------------------------------------------------------------------------------
# Phases
# --------------------------------------------------------------------------------------------


async def measure(
    top: Topology, args: argparse.Namespace, name: str, requests: list[rest.Request], warmup: int
) -> dict[str, Any]:
    """``warmup`` untimed requests, then the rest timed, over connections spread evenly over
    the topology's servers."""
    conns: list[Any] = []
    for index, url in enumerate(top.urls):
        count = len(range(index, args.concurrency, len(top.urls)))
        conns += await rest.open_connections(rest.RawConnection, url, count, None)
    try:
        await rest.drive(conns, requests[:warmup], 201)
        probe = Probe(top, args.profile, name.replace(" ", "-"))
        result = await rest.timed_phase(
            name, top, conns, requests[warmup:], 201, probe.start, probe.end
        )
    finally:
        for conn in conns:
            await conn.close()
    return {"result": result, **probe.result}


async def ingest(top: Topology, args: argparse.Namespace, channels: int) -> dict[str, Any]:
    """bench/rest.py's ingest, posts going round-robin to ``channels`` new channels."""
    ids = [str(uuid.uuid4()) for _ in range(channels)]
    author, agent = str(uuid.uuid4()), str(uuid.uuid4())

    def post(index: int) -> rest.Request:
        channel = ids[index % channels]
        body = json.loads(rest.message_body(index, channel, author, agent, args.size))
        body["transport"] = "websocket"
        target = f"{servers.API}/channels/{channel}/messages".encode()
        return b"POST", target, json.dumps(body, separators=(",", ":")).encode()

    (setup,) = await rest.open_connections(rest.RawConnection, top.urls[0], 1, None)
    for index in range(channels):  # each channel's first post creates it, alone
        status, payload = await setup.request(*post(index))
        if status != 201:
            raise RuntimeError(f"{top.name}: first post answered {status}: {payload[:300]!r}")
    await setup.close()
    requests = [post(index) for index in range(channels, channels + args.warmup + args.requests)]
    return await measure(top, args, f"ingest x{channels}", requests, args.warmup)


async def round_trip(top: Topology, args: argparse.Namespace) -> dict[str, Any]:
    """Posts to the demo agent's channel with ``transport: http``: each answered with the
    agent's reply."""
    author = str(uuid.uuid4())
    target = f"{servers.API}/channels/{CENTRAL_CHANNEL_ID}/messages".encode()
    requests = [
        (
            b"POST",
            target,
            json.dumps(
                {
                    "author_id": author,
                    "content": f"{PROMPTS[index % len(PROMPTS)]} ({index})",
                    "message_server_id": SERVER_ID,
                    "transport": "http",
                }
            ).encode(),
        )
        for index in range(args.rt_warmup + args.round_trips)
    ]
    return await measure(top, args, "round trip", requests, args.rt_warmup)


def run_topology(args: argparse.Namespace, name: str) -> dict[str, dict[str, Any]]:
    await_quiet(args)
    top = START[name](args)
    try:
        phases = {}
        for channels in args.ingest_channels:
            phases[f"ingest x{channels}"] = asyncio.run(ingest(top, args, channels))
        phases["round trip"] = asyncio.run(round_trip(top, args))
    finally:
        top.stop()
    return phases


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the runs of one phase on one topology."""
    out = rest.median_result([run["result"] for run in runs])
    out["msgs_per_cpu_s"] = median(
        [
            1000 / r.server_cpu_ms_per_req
            for run in runs
            if (r := run["result"]).server_cpu_ms_per_req
        ]
    )
    shares: dict[str, list[float]] = {}
    for run in runs:
        total = sum(run["cpu"].values()) or 1.0
        for process, seconds in run["cpu"].items():
            shares.setdefault(process, []).append(seconds / total)
    out["cpu_share"] = {process: median(values) for process, values in shares.items()}
    per_message: dict[str, list[float]] = {}
    for run in runs:
        for key, value in run["counters"].items():
            per_message.setdefault(key, []).append(value / run["result"].requests)
    out["per_message"] = {key: median(values) for key, values in per_message.items()}
    waits: dict[str, list[float]] = {}
    for run in runs:
        for key, value in run["waits"].items():
            waits.setdefault(key, []).append(value)
    # A state seen in some runs only counts 0 in the others.
    out["pg_backends"] = {
        key: median(values + [0.0] * (len(runs) - len(values))) for key, values in waits.items()
    }
    out["per_run"] = [
        [round(run["result"].throughput, 1), round(run["result"].p99_ms, 1)] for run in runs
    ]
    return out


ROWS = [
    ("msgs/s", "throughput", 0),
    ("p50 ms", "p50_ms", 1),
    ("p99 ms", "p99_ms", 1),
    ("errors", "errors", 0),
    ("CPU ms per msg, all processes", "server_cpu_ms_per_req", 2),
    ("msgs per CPU-second", "msgs_per_cpu_s", 0),
    ("cores busy, all processes", "server_cpu_util", 2),
    ("client CPU ms per msg", "client_cpu_ms_per_req", 3),
    ("other cores busy (noise)", "other_cpu_util", 2),
]


def report(summary: dict[str, Any]) -> None:
    names = list(START)
    print(
        f"\nB5 scale-out: {summary['requests']} ingest posts, {summary['round_trips']} round "
        f"trips, concurrency {summary['concurrency']}, {summary['servers']} scale-out servers, "
        f"median of {summary['runs']} run(s); "
        f"{summary['machine']}; code {summary['code']}"
    )
    for phase in summary["phases"]:
        unit = "round trips" if phase == "round trip" else "msgs"
        print(f"\n{phase:34}" + "".join(f"{n:>12}" for n in names) + f"{'s/e':>8}")
        for label, key, digits in ROWS:
            values = [summary[n][phase][key] for n in names]
            line = f"  {label.replace('msgs', unit):32}"
            line += "".join(f"{rest.fmt(v, digits):>12}" for v in values)
            if key in ("throughput", "p99_ms", "msgs_per_cpu_s"):
                line += f"{rest.fmt(rest.ratio(values[1], values[0]), 2):>8}"
            print(line)
        for name in names:
            shares = summary[name][phase]["cpu_share"]
            print(
                f"  CPU share, {name}: "
                + ", ".join(f"{p} {s:.0%}" for p, s in sorted(shares.items(), key=lambda i: -i[1]))
            )
        scaleout = summary["scaleout"][phase]
        per = scaleout["per_message"]
        if per:
            top_redis = sorted(
                (
                    (k, v)
                    for k, v in per.items()
                    if k.startswith("redis ") and k != "redis commands"
                ),
                key=lambda item: -item[1],
            )[:6]
            print(
                f"  per {unit[:-1]}, scaleout: PostgreSQL {per['pg transactions']:.2f} "
                "transactions, "
                f"{per['pg WAL flushes']:.2f} WAL flushes ({per['pg WAL flush ms']:.2f} ms), "
                f"{per['pg WAL bytes'] / 1024:.1f} KiB WAL; Redis {per['redis commands']:.1f} "
                "commands ("
                + ", ".join(f"{k.removeprefix('redis ')} {v:.1f}" for k, v in top_redis)
                + ")"
            )
        if scaleout["pg_backends"]:
            print(
                "  PostgreSQL client backends (average number): "
                + ", ".join(f"{k} {v:.2f}" for k, v in scaleout["pg_backends"].items() if v >= 0.01)
            )
    print("JSON " + json.dumps(summary, separators=(",", ":")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="topologies alternate; medians")
    parser.add_argument("--requests", type=int, default=2000, help="timed ingest posts")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--round-trips", type=int, default=500, help="timed round trips")
    parser.add_argument("--rt-warmup", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--servers", type=int, default=2, help="serve processes in the scale-out")
    parser.add_argument("--size", type=int, default=200, help="ingest message content bytes")
    parser.add_argument(
        "--ingest-channels",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1],
        metavar="N[,N...]",
        help="an ingest phase for each: posts spread over N channels (default 1)",
    )
    parser.add_argument(
        "--snapshot",
        choices=["worktree", "head"],
        help="serve a copy of the working tree (or HEAD) taken at start",
    )
    parser.add_argument("--json-out", type=Path, help="also append the JSON line to this file")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy every elizabus process during each timed phase into DIR "
        "(its CPU then counts as other load)",
    )
    add_machine_args(parser)
    args = parser.parse_args(argv)
    apply_machine_args(args)
    # A SIGTERM unwinds like Ctrl-C, so every process started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with servers.source_tree(args.snapshot) as args.src_dir:
        return run(args)


def run(args: argparse.Namespace) -> int:
    started = dt.datetime.now(dt.UTC)
    per_run: dict[str, list[dict[str, dict[str, Any]]]] = {name: [] for name in START}
    for index in range(args.runs):
        order = list(START) if index % 2 == 0 else list(reversed(START))
        for name in order:
            phases = run_topology(args, name)
            per_run[name].append(phases)
            line = ", ".join(
                f"{phase} {r.throughput:,.0f}/s p50 {r.p50_ms:.1f} p99 {r.p99_ms:.1f} ms "
                f"CPU {r.server_cpu_ms_per_req or 0:.2f} ms err {r.errors}"
                for phase, one in phases.items()
                if (r := one["result"])
            )
            print(f"run {index + 1}/{args.runs} {name}: {line}", flush=True)
            for one in phases.values():
                for sample in one["result"].error_samples:
                    print(f"    {one['result'].name} error sample: {sample}")
    phases = list(per_run["embedded"][0])
    summary: dict[str, Any] = {
        "bench": "scaleout",
        "date": started.isoformat(timespec="seconds"),
        "machine": rest.machine(),
        "code": servers.code_version(args.src_dir),
        "runs": args.runs,
        "requests": args.requests,
        "round_trips": args.round_trips,
        "concurrency": args.concurrency,
        "servers": args.servers,
        "nice": args.nice,
        "phases": phases,
        **{
            name: {phase: summarise([one[phase] for one in runs]) for phase in phases}
            for name, runs in per_run.items()
        },
    }
    report(summary)
    if args.json_out:
        with open(args.json_out, "a") as out:
            out.write(json.dumps(summary, separators=(",", ":")) + "\n")
    failed = any(summary[n][p]["errors"] for n in START for p in phases)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
