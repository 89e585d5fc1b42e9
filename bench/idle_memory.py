#!/usr/bin/env python3
"""Server memory per idle Socket.IO connection: elizabus against the reference elizaOS server.

    .venv/bin/python bench/idle_memory.py                   # both servers + the baselines
    .venv/bin/python bench/idle_memory.py --connections 1000 --runs 3
    .venv/bin/python bench/idle_memory.py --only elizabus --no-baselines

For each server: warm it up (``--warmup`` sockets connect, join and leave), read its memory, open
``--connections`` (500) idle sockets (npm socket.io-client 4.8, websocket transport, one Node
process, bench/js/idle.cjs; each with its own entity id) that connect and join one channel,
wait ``--settle`` seconds, read its memory again; the difference divided by the number of sockets
is the cost of one idle connection. Memory is VmRSS from /proc/PID/status and PSS from
/proc/PID/smaps_rollup (the server and its children). Then the sockets close, the memory is
read once more (what is given back), and a second round reopens as many: its figure is the cost
once the allocator has warm free lists (``--rounds``).

Where elizabus's cost goes: the same measurement on two baselines served by the same server
(``manage.py serve`` unless ``--asgi-server`` says otherwise; bench/realtime_apps.py):
``server+raw`` (a bare ASGI app speaking just enough Socket.IO) and
``server+channels`` (a Channels consumer that joins a group on the in-memory layer, no Django
models). elizabus runs with agents off (``ELIZABUS_RUN_AGENTS=0``), DJANGO_DEBUG unset.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import servers
from fanout import (
    CENTRAL_CHANNEL_ID,
    JS_DIR,
    SERVER_ID,
    add_machine_args,
    apply_machine_args,
    await_quiet,
    ensure_node_client,
    fmt,
    machine,
    ratio,
    start_elizabus,
)

VARIANTS = {
    "elizabus": "project.asgi:application",
    "server+channels": "realtime_apps:channels_application",
    "server+raw": "realtime_apps:raw_application",
}


def memory_kib(pid: int | None) -> dict[str, int | None]:
    """VmRSS and PSS (KiB) of ``pid`` and its descendants."""
    rss = pss = 0
    seen_pss = False
    for member in servers.process_tree(pid) if pid is not None else []:
        with contextlib.suppress(OSError), open(f"/proc/{member}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
        with contextlib.suppress(OSError), open(f"/proc/{member}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
                    seen_pss = True
    return {"rss": rss or None, "pss": pss if seen_pss else None}


def node_gc(inspect_port: int) -> dict[str, int] | None:
    """Forces a full GC in the node server (its inspector on ``inspect_port``); returns its
    ``process.memoryUsage()`` after (bytes)."""
    node = ensure_node_client()
    done = subprocess.run(
        [node, str(JS_DIR / "inspect_gc.cjs"), str(inspect_port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        return json.loads(done.stdout)
    except ValueError:
        print(f"  (forced GC failed: {done.stderr.strip()[:200]})", flush=True)
        return None


def settled_memory(
    pid: int | None, samples: int = 3, gap: float = 0.5, inspect_port: int | None = None
) -> dict[str, int | None]:
    """The median of a few readings, ``gap`` seconds apart; with ``inspect_port`` (node), each
    reading follows a forced full GC and also gives V8's heap (``heapUsed`` + ``external``)."""
    readings = []
    for index in range(samples):
        if index:
            time.sleep(gap)
        heap = node_gc(inspect_port) if inspect_port else None
        reading: dict[str, int | None] = dict(memory_kib(pid))
        reading["jsheap"] = (heap["heapUsed"] + heap["external"]) // 1024 if heap else None
        readings.append(reading)
    return {
        key: (
            int(statistics.median([r[key] for r in readings if r[key] is not None]))
            if any(r[key] is not None for r in readings)
            else None
        )
        for key in ("rss", "pss", "jsheap")
    }


class IdleClients:
    """One bench/js/idle.cjs process holding ``count`` sockets open."""

    def __init__(self, url: str, count: int, channel_id: str) -> None:
        node = ensure_node_client()
        config = {
            "url": url,
            "clients": count,
            "channelId": channel_id,
            "serverId": SERVER_ID,
        }
        self.proc = subprocess.Popen(
            [node, str(JS_DIR / "idle.cjs"), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._killer = threading.Timer(300 + count / 5, self.kill)
        self._killer.start()

    def read(self, wanted: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if message.get("event") in (wanted, "error"):
                    return message
        stderr = self.proc.stderr.read() if self.proc.stderr else ""
        raise RuntimeError(f"idle client ended before {wanted!r}: {stderr[-2000:]}")

    def command(self, text: str, wanted: str | None = None) -> dict[str, Any] | None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.read(wanted) if wanted else None

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.command("exit")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait(timeout=10)
        self._killer.cancel()


def open_clients(server: servers.Server, count: int, channel_id: str) -> IdleClients:
    clients = IdleClients(server.url, count, channel_id)
    ready = clients.read("ready")
    if ready.get("event") != "ready" or ready.get("joined") != count:
        clients.close()
        raise RuntimeError(
            f"{server.name}: only {ready.get('joined')} of {count} sockets joined: "
            f"{ready.get('errors') or ready.get('error')}\n{server.log_tail()}"
        )
    clients.ready = ready  # type: ignore[attr-defined]
    return clients


def measure(server: servers.Server, args: argparse.Namespace) -> dict[str, Any]:
    channel_id = str(uuid.uuid4()) if server.name == "reference" else CENTRAL_CHANNEL_ID
    n = args.connections
    result: dict[str, Any] = {"connections": n}
    port = getattr(server, "inspect_port", None)

    def read() -> dict[str, int | None]:
        return settled_memory(server.pid, inspect_port=port)

    if args.warmup:
        warm = open_clients(server, args.warmup, channel_id)
        warm.command("close", "closed")
        warm.close()
    time.sleep(args.settle)
    result["start"] = read()
    rounds = []
    for round_index in range(args.rounds):
        before = read()
        clients = open_clients(server, n, channel_id)
        time.sleep(args.settle)
        status = clients.command("status", "status")
        after = read()
        clients.command("close", "closed")
        clients.close()
        time.sleep(args.settle)
        closed = read()
        rounds.append(
            {
                "round": round_index + 1,
                "before": before,
                "after": after,
                "closed": closed,
                "connectMs": clients.ready["connectMs"],  # type: ignore[attr-defined]
                "stillConnected": status.get("connected") if status else None,
                "perConnRssKiB": _per(after["rss"], before["rss"], n),
                "perConnPssKiB": _per(after["pss"], before["pss"], n),
                "perConnJsHeapKiB": _per(after["jsheap"], before["jsheap"], n),
                "retainedAfterCloseKiB": _per(closed["rss"], before["rss"], 1),
            }
        )
    result["rounds"] = rounds
    return result


def tracemalloc_breakdown(server: servers.Server, args: argparse.Namespace) -> dict[str, Any]:
    """Python allocations per connection in a baseline served with BENCH_TRACEMALLOC=1, by file:
    snapshot, open the sockets, snapshot again (while they are open)."""
    from fanout import http_json

    channel_id = CENTRAL_CHANNEL_ID
    if args.warmup:
        warm = open_clients(server, args.warmup, channel_id)
        warm.command("close", "closed")
        warm.close()
    http_json("GET", server.url + "/__bench_tm_mark")
    clients = open_clients(server, args.connections, channel_id)
    time.sleep(args.settle)
    _status, diff = http_json("GET", server.url + "/__bench_tm_diff", timeout=120)
    clients.command("close", "closed")
    clients.close()
    return diff if isinstance(diff, dict) else {}


def _per(after: int | None, before: int | None, n: int) -> float | None:
    if after is None or before is None:
        return None
    return (after - before) / n


def start(name: str, args: argparse.Namespace) -> servers.Server:
    if name == "reference":
        if args.reference_gc:
            # The inspector lets each reading follow a forced full GC (bench/js/inspect_gc.cjs).
            port = servers.free_port()
            previous = os.environ.get("NODE_OPTIONS")
            os.environ["NODE_OPTIONS"] = f"--inspect=127.0.0.1:{port}"
            try:
                server = servers.start_reference()
            finally:
                if previous is None:
                    os.environ.pop("NODE_OPTIONS", None)
                else:
                    os.environ["NODE_OPTIONS"] = previous
            server.inspect_port = port  # type: ignore[attr-defined]
            return server
        return servers.start_reference()
    server = start_elizabus(args, agents=False, app=VARIANTS[name])
    server.name = name
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["elizabus", "reference"])
    parser.add_argument("--no-baselines", action="store_true", help="skip server+raw/channels")
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1, help="fresh servers each run; medians")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before a reading")
    parser.add_argument("--elizabus-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--no-reference-gc",
        dest="reference_gc",
        action="store_false",
        help="read the reference's memory as it is, without forcing a full V8 GC first",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="instead: where the baselines' per-connection Python memory goes (tracemalloc by "
        "file; server+raw and server+channels only, as they are bench code)",
    )
    parser.add_argument("--json", type=Path)
    add_machine_args(parser)
    args = parser.parse_args(argv)
    args.quiet_wait = min(args.quiet_wait, 20.0)  # memory does not depend on CPU load much
    apply_machine_args(args)
    args.src_dir = servers.ROOT
    args.daphne_arg = []

    if args.tracemalloc:
        args.elizabus_env = [*args.elizabus_env, "BENCH_TRACEMALLOC=1"]
        for name in ("server+raw", "server+channels"):
            server = start(name, args)
            try:
                time.sleep(1.0)
                diff = tracemalloc_breakdown(server, args)
            finally:
                server.stop()
            n = args.connections
            print(
                f"{name}: Python allocations per connection (tracemalloc): "
                f"{diff.get('total', 0) / n / 1024:.1f} KiB"
            )
            for row in diff.get("top", [])[:15]:
                if row["bytes"] > 0:
                    short = "/".join(row["file"].split("/")[-3:])
                    print(
                        f"  {row['bytes'] / n:8.0f} B/conn {row['blocks'] / n:6.1f} blocks  {short}"
                    )
        return 0

    names = [args.only] if args.only else ["elizabus", "reference"]
    if not args.no_baselines and args.only != "reference":
        names += ["server+channels", "server+raw"]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    started = dt.datetime.now().astimezone()
    for run in range(args.runs):
        for name in names:
            server = start(name, args)
            try:
                time.sleep(1.0)
                await_quiet(args)
                result = measure(server, args)
            finally:
                server.stop()
            results[name].append(result)
            first = result["rounds"][0]
            print(
                f"run {run + 1} {name:16}: {fmt(first['perConnRssKiB'])} KiB RSS, "
                f"{fmt(first['perConnPssKiB'])} KiB PSS per idle connection "
                f"(RSS {first['before']['rss'] / 1024:.1f} → "
                f"{first['after']['rss'] / 1024:.1f} MiB)",
                flush=True,
            )

    print()
    print(
        f"Idle Socket.IO connections: {args.connections} sockets (connected + joined), "
        f"settle {args.settle:g}s, medians of {args.runs} run(s)"
    )
    print(f"{started:%Y-%m-%d %H:%M %Z}; {machine()}; code {servers.code_version()}")
    if args.asgi_server != "serve":
        print(f"(elizabus and the server+ baselines served by {args.asgi_server}, not serve)")

    def med(name: str, round_index: int, key: str) -> float | None:
        values = [
            r["rounds"][round_index][key]
            for r in results[name]
            if len(r["rounds"]) > round_index and r["rounds"][round_index][key] is not None
        ]
        return statistics.median(values) if values else None

    def med_mem(name: str, round_index: int, stage: str, kind: str) -> float | None:
        values = [
            r["rounds"][round_index][stage][kind] / 1024
            for r in results[name]
            if len(r["rounds"]) > round_index and r["rounds"][round_index][stage][kind]
        ]
        return statistics.median(values) if values else None

    header = f"{'':40}" + "".join(f"{name:>17}" for name in names)
    print(header)
    rows = [
        ("per connection, RSS (KiB), round 1", 0, "perConnRssKiB"),
        ("per connection, PSS (KiB), round 1", 0, "perConnPssKiB"),
        ("per connection, RSS (KiB), round 2", 1, "perConnRssKiB"),
        ("per connection, PSS (KiB), round 2", 1, "perConnPssKiB"),
        ("per connection, V8 heap+external (KiB)", 0, "perConnJsHeapKiB"),
        ("kept after close, RSS (KiB), round 1", 0, "retainedAfterCloseKiB"),
        ("connect+join all (ms), round 1", 0, "connectMs"),
    ]
    for label, round_index, key in rows:
        if round_index >= args.rounds:
            continue
        print(f"{label:40}" + "".join(f"{fmt(med(n, round_index, key)):>17}" for n in names))
    for label, stage in (("RSS before (MiB)", "before"), ("RSS with sockets (MiB)", "after")):
        print(f"{label:40}" + "".join(f"{fmt(med_mem(n, 0, stage, 'rss')):>17}" for n in names))
    if "elizabus" in names and "reference" in names:
        per_conn = ratio(med("elizabus", 0, "perConnRssKiB"), med("reference", 0, "perConnRssKiB"))
        print(f"elizabus / reference per connection (RSS, round 1): {fmt(per_conn, 2)}")
    print("the reference's first figure: about 8 KiB of server memory per idle socket")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
