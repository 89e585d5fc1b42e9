#!/usr/bin/env python3
"""Socket.IO fan-out of elizabus against the reference elizaOS server, same workload, same client.

    .venv/bin/python bench/fanout.py                       # both servers, one run each
    .venv/bin/python bench/fanout.py --runs 3              # medians of three runs (fresh servers)
    .venv/bin/python bench/fanout.py --only elizabus --profile /tmp/fanout-prof   # py-spy
    .venv/bin/python bench/fanout.py --channel participants   # a created channel, not central

Workload: ``--clients`` (100) Socket.IO clients (npm socket.io-client 4.8, websocket transport,
all driven by one Node process, bench/js/fanout.cjs) join one channel; one more socket sends
``--messages`` (200) messages at ``--rate`` (50) per second on a fixed schedule through the
socket ``message {type: 2}`` event (``--send-via 2`` for the literal ``"2"`` event). A latency is
from the send to one client's ``messageBroadcast`` receipt, for each (message, client). An
untimed warm-up of ``--warmup`` messages goes first. elizabus runs with agents off
(``ELIZABUS_RUN_AGENTS=0``), DJANGO_DEBUG unset, on a fresh database; the reference runs with no
agents on a fresh PGlite. The servers run one after the other, never at the same time.

Also the shared helpers of bench/idle_memory.py and bench/agents_latency.py (Node client,
HTTP, reporting). See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import servers

JS_DIR = servers.BENCH_DIR / "js"
SERVER_ID = "00000000-0000-0000-0000-000000000000"
CENTRAL_CHANNEL_ID = "00000000-0000-0000-0000-000000000000"
# The reference on this machine before these benchmarks existed, medians of six runs (the
# runs since, side by side with elizabus: bench/README.md).
REFERENCE_NOTE = "the reference's first figures: p50 ~8 ms, p99 ~14 ms, none lost"

# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def ensure_node_client() -> str:
    """The ``node`` executable, with bench/js's dependencies installed (``npm ci`` once)."""
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node is not on PATH (Node 20 is needed for the socket clients)")
    if not (JS_DIR / "node_modules" / "socket.io-client").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm is not on PATH: cannot install bench/js's socket.io-client")
        lock = (JS_DIR / "package-lock.json").exists()
        subprocess.run(
            [npm, "ci" if lock else "install", "--no-audit", "--no-fund"],
            cwd=JS_DIR,
            check=True,
            stdout=sys.stderr,
        )
    return node


def http_json(method: str, url: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def elizabus_metrics(server: servers.Server) -> dict[str, Any] | None:
    status, body = http_json("GET", server.api + "/metrics")
    if status != 200 or not isinstance(body, dict):
        return None
    return body.get("data", body)


def machine() -> str:
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, Node {node_version()}"
    )


def node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return "?"
    return subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def ratio(a: Any, b: Any) -> float | None:
    if isinstance(a, int | float) and isinstance(b, int | float) and b:
        return a / b
    return None


def print_table(rows: list[tuple[Any, ...]], names: list[str]) -> None:
    """Rows of (label, elizabus value, reference value, [more columns...], digits); the ratio
    elizabus / reference after the first two columns."""
    header = f"{'':34} {names[0]:>12} {names[1]:>12} {'eb/ref':>8}"
    header += "".join(f" {name:>16}" for name in names[2:])
    print(header)
    for label, a, b, *more, digits in rows:
        r = ratio(a, b)
        line = f"{label:34} {fmt(a, digits):>12} {fmt(b, digits):>12} {fmt(r, 2):>8}"
        line += "".join(f" {fmt(v, digits):>16}" for v in more)
        print(line)


def median_of(values: list[Any]) -> Any:
    numbers = [v for v in values if isinstance(v, int | float)]
    if not numbers:
        return None
    return statistics.median(numbers)


def dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def start_elizabus(
    args: argparse.Namespace, agents: bool, app: str = "project.asgi:application"
) -> servers.Server:
    env = dict(item.split("=", 1) for item in getattr(args, "elizabus_env", []) or [])
    env.setdefault("ELIZABUS_RUN_AGENTS", "1" if agents else "0")
    return servers.start_elizabus(
        src_dir=getattr(args, "src_dir", servers.ROOT),
        extra_env=env,
        daphne_args=getattr(args, "daphne_arg", None),
        app=app,
        asgi_server=getattr(args, "asgi_server", "serve"),
        server_args=getattr(args, "server_arg", None),
    )


def add_machine_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--asgi-server",
        choices=["serve", "daphne", "uvicorn", "granian"],
        default="serve",
        help="serve elizabus (and the baselines) with manage.py serve (the default), or for "
        "comparison daphne, uvicorn's command line or granian (see bench/servers.py)",
    )
    parser.add_argument(
        "--server-arg", action="append", default=[], help="extra argument to the server"
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=-10 if os.geteuid() == 0 else 0,
        help="niceness of the servers and the client (default -10 as root: other load on a "
        "shared machine then skews the figures less)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each timed run, wait up to this many seconds for the rest of the machine "
        "to use at most --quiet-cores",
    )
    parser.add_argument("--quiet-cores", type=float, default=0.3)


def apply_machine_args(args: argparse.Namespace) -> None:
    if args.nice:
        servers.set_nice(args.nice)


def await_quiet(args: argparse.Namespace) -> None:
    if args.quiet_wait > 0:
        other = servers.wait_for_quiet(args.quiet_cores, args.quiet_wait)
        if other is not None and other > args.quiet_cores:
            print(f"  (machine not quiet: other load {other:.2f} cores)", flush=True)


# --------------------------------------------------------------------------------------------
# Fan-out
# --------------------------------------------------------------------------------------------


# Floors for elizabus, served by the same server (bench/realtime_apps.py): the same Socket.IO
# exchange with nothing stored, rooms as Channels groups or as plain sets of sockets.
BASELINES = {
    "server+channels": "realtime_apps:channels_application",
    "server+raw": "realtime_apps:raw_application",
}


def prepare_channel(server: servers.Server, kind: str, clients: int) -> dict[str, Any]:
    """The channel to use and, for a participants channel, the entities that may join it."""
    if server.name != "elizabus":
        # The reference lets any socket join any room; the first (warm-up) send auto-creates
        # the channel on the default server.
        return {"channelId": str(uuid.uuid4())}
    if kind == "central":
        return {"channelId": CENTRAL_CHANNEL_ID}
    entity_ids = [str(uuid.uuid4()) for _ in range(clients)]
    sender_id = str(uuid.uuid4())
    status, body = http_json(
        "POST",
        server.api + "/channels",
        {
            "name": "fanout bench",
            "message_server_id": SERVER_ID,
            "participantCentralUserIds": [*entity_ids, sender_id],
            "type": "GROUP",
        },
    )
    if status not in (200, 201):
        raise RuntimeError(f"could not create the channel: {status} {body}")
    channel = body["data"] if isinstance(body, dict) and "data" in body else body
    return {"channelId": channel["id"], "entityIds": entity_ids, "senderId": sender_id}


def run_fanout(
    server: servers.Server, args: argparse.Namespace, spy: servers.PySpy | None = None
) -> dict[str, Any]:
    node = ensure_node_client()
    config = {
        "url": server.url,
        "serverId": SERVER_ID,
        "clients": args.clients,
        "messages": args.messages,
        "rate": args.rate,
        "warmup": args.warmup,
        "sendVia": args.send_via,
        "textPad": args.text_pad,
        "waitGo": True,
        **prepare_channel(server, args.channel, args.clients),
    }
    proc = subprocess.Popen(
        [node, str(JS_DIR / "fanout.cjs"), json.dumps(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    result: dict[str, Any] = {}
    cpu0 = cpu1 = busy0 = busy1 = t0 = t1 = node0 = node1 = None
    # Bound the whole exchange: connect + warm-up + timed phase + drain, with room to spare.
    budget = 120 + 3 * (args.messages + args.warmup) / args.rate
    killer = threading.Timer(budget, lambda: os.killpg(proc.pid, signal.SIGKILL))
    killer.start()
    try:
        assert proc.stdout is not None and proc.stdin is not None
        for line in proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            event = message.get("event")
            if event == "ready":
                if spy is not None:
                    spy.start(f"fanout-{server.name}")
                proc.stdin.write("go\n")
                proc.stdin.flush()
            elif event == "start":
                cpu0, busy0, t0 = server.cpu_seconds(), servers.machine_busy(), time.monotonic()
                node0 = servers.proc_cpu_seconds(proc.pid)
            elif event == "end":
                cpu1, busy1, t1 = server.cpu_seconds(), servers.machine_busy(), time.monotonic()
                node1 = servers.proc_cpu_seconds(proc.pid)
                if spy is not None:
                    spy.stop()
            elif event in ("result", "error"):
                result = message
        proc.wait(timeout=30)
    finally:
        killer.cancel()
        if spy is not None:
            spy.stop()
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    if result.get("event") != "result":
        stderr = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(
            f"fan-out client failed against {server.name}: {result.get('error')}\n{stderr[-2000:]}"
            f"\n--- server log ---\n{server.log_tail()}"
        )
    if None not in (cpu0, cpu1, t0, t1):
        wall = t1 - t0
        result["serverCpuUtil"] = (cpu1 - cpu0) / wall
        result["serverCpuMsPerMessage"] = (cpu1 - cpu0) * 1000 / args.messages
        result["serverCpuUsPerDelivery"] = (cpu1 - cpu0) * 1e6 / max(1, result["unique"])
        if busy0 is not None and busy1 is not None:
            result["machineCpuUtil"] = (busy1 - busy0) / wall
            if node0 is not None and node1 is not None:
                result["clientCpuUtil"] = (node1 - node0) / wall
                result["otherCpuUtil"] = ((busy1 - busy0) - (cpu1 - cpu0) - (node1 - node0)) / wall
    result["rssKiB"] = server.rss_kib()
    if server.name == "elizabus":
        result["metrics"] = elizabus_metrics(server)
    return result


ROWS = [
    ("latency p50 (ms)", ("latencyMs", "p50"), 1),
    ("latency p90 (ms)", ("latencyMs", "p90"), 1),
    ("latency p99 (ms)", ("latencyMs", "p99"), 1),
    ("latency max (ms)", ("latencyMs", "max"), 1),
    ("latency mean (ms)", ("latencyMs", "mean"), 1),
    ("first receiver p50 (ms)", ("firstReceiverMs", "p50"), 1),
    ("last receiver p50 (ms)", ("lastReceiverMs", "p50"), 1),
    ("spread first→last p50 (ms)", ("spreadMs", "p50"), 1),
    ("spread first→last p99 (ms)", ("spreadMs", "p99"), 1),
    ("sender ack p50 (ms)", ("senderAckMs", "p50"), 1),
    ("sender ack p99 (ms)", ("senderAckMs", "p99"), 1),
    ("deliveries/s", ("deliveriesPerSec",), 0),
    ("expected", ("expected",), 0),
    ("received (unique)", ("unique",), 0),
    ("lost", ("lost",), 0),
    ("duplicates", ("duplicates",), 0),
    ("server CPU (cores)", ("serverCpuUtil",), 2),
    ("server CPU µs / delivery", ("serverCpuUsPerDelivery",), 1),
    ("machine CPU (cores, all)", ("machineCpuUtil",), 2),
    ("client CPU (cores)", ("clientCpuUtil",), 2),
    ("other load on the machine (cores)", ("otherCpuUtil",), 2),
    ("client loop delay p99 (ms)", ("clientLoopDelayMs", "p99"), 1),
    ("send schedule lag p99 (ms)", ("scheduleLagMs", "p99"), 1),
    ("server RSS after (MiB)", ("rssMiB",), 1),
]


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    for run in runs:
        if run.get("rssKiB"):
            run["rssMiB"] = run["rssKiB"] / 1024
    return {label: median_of([dig(run, *path) for run in runs]) for label, path, _ in ROWS}


def print_metrics(metrics: dict[str, Any] | None) -> None:
    if not metrics:
        return
    print("elizabus bus metrics (GET /api/messaging/metrics, whole run incl. warm-up):")
    for event_name, receivers in (metrics.get("receivers") or {}).items():
        for receiver, summary in receivers.items():
            print(
                f"  {event_name:16} {receiver[-60:]:60} n={summary['count']:<6} "
                f"p50={summary['p50Ms']:.2f} p99={summary['p99Ms']:.2f} ms"
            )
    for scope, stages in (metrics.get("stages") or {}).items():
        for stage, summary in stages.items():
            print(
                f"  stage {scope}/{stage:10} n={summary['count']:<6} p50={summary['p50Ms']:.2f} "
                f"p99={summary['p99Ms']:.2f} ms"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["elizabus", "reference"])
    parser.add_argument("--runs", type=int, default=1, help="fresh servers each run; medians")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0, help="messages per second")
    parser.add_argument("--warmup", type=int, default=20, help="untimed messages first")
    parser.add_argument("--send-via", choices=["message", "2"], default="message")
    parser.add_argument("--text-pad", type=int, default=0, help="extra characters per message")
    parser.add_argument(
        "--channel",
        choices=["central", "participants"],
        default="central",
        help="elizabus: the central channel, or a new channel with every client as participant",
    )
    parser.add_argument("--elizabus-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--daphne-arg", action="append", default=[])
    parser.add_argument(
        "--snapshot",
        choices=["worktree", "head"],
        help="serve a copy of the code (concurrent edits cannot change it mid-run)",
    )
    parser.add_argument("--profile", type=Path, help="py-spy the elizabus server into this dir")
    parser.add_argument(
        "--baselines",
        action="store_true",
        help="also run the same workload on server+channels and server+raw "
        "(bench/realtime_apps.py: nothing stored; what the framework alone costs)",
    )
    parser.add_argument("--json", type=Path, help="write every run's raw results here")
    add_machine_args(parser)
    args = parser.parse_args(argv)
    apply_machine_args(args)

    names = ["elizabus", "reference"]
    todo = [args.only] if args.only else list(names)
    if args.baselines:
        names += list(BASELINES)
        todo += list(BASELINES)
    args.src_dir = servers.snapshot(args.snapshot) if args.snapshot else servers.ROOT
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    started = dt.datetime.now().astimezone()
    try:
        for run in range(args.runs):
            order = todo if run % 2 == 0 else list(reversed(todo))
            for name in order:
                if name == "reference":
                    server = servers.start_reference()
                else:
                    app = BASELINES.get(name, "project.asgi:application")
                    server = start_elizabus(args, agents=False, app=app)
                    server.name = name
                try:
                    time.sleep(1.0)  # let start-up work settle
                    await_quiet(args)
                    spy = servers.PySpy(args.profile, server.pid) if name == "elizabus" else None
                    result = run_fanout(server, args, spy)
                finally:
                    server.stop()
                results[name].append(result)
                print(
                    f"run {run + 1} {name:15}: p50 {fmt(dig(result, 'latencyMs', 'p50'))} ms, "
                    f"p99 {fmt(dig(result, 'latencyMs', 'p99'))} ms, lost {result['lost']}, "
                    f"dup {result['duplicates']}, server CPU {fmt(result.get('serverCpuUtil'), 2)}",
                    flush=True,
                )
    finally:
        if args.snapshot:
            shutil.rmtree(args.src_dir, ignore_errors=True)

    print()
    print(
        f"Socket.IO fan-out: {args.clients} clients, {args.messages} messages at {args.rate:g}/s "
        f"(send via {args.send_via!r}), warm-up {args.warmup}; "
        f"elizabus channel: {args.channel}; medians of {args.runs} run(s)"
    )
    print(f"{started:%Y-%m-%d %H:%M %Z}; {machine()}; code {servers.code_version()}")
    if args.asgi_server != "serve":
        print(f"(elizabus and the server+ baselines served by {args.asgi_server}, not serve)")
    summaries = {name: summarise(results[name]) for name in names}
    print_table(
        [(label, *(summaries[name][label] for name in names), d) for label, _, d in ROWS],
        names,
    )
    print(REFERENCE_NOTE)
    if results["elizabus"]:
        print_metrics(results["elizabus"][-1].get("metrics"))
    for name in names:
        for result in results[name]:
            if result.get("errors"):
                print(f"{name} client errors: {result['errors'][:5]}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    worst_lost = max((r["lost"] for rs in results.values() for r in rs), default=0)
    return 1 if worst_lost else 0


if __name__ == "__main__":
    sys.exit(main())
