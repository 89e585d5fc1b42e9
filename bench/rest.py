#!/usr/bin/env python3
"""REST speed of elizabus against the reference elizaOS server, same workload, same client.

    .venv/bin/python bench/rest.py                      # both servers, one run
    .venv/bin/python bench/rest.py --runs 6             # medians of six runs (fresh servers)
    .venv/bin/python bench/rest.py --only elizabus      # one server
    .venv/bin/python bench/rest.py --elizabus-url http://127.0.0.1:8000   # a running server
    .venv/bin/python bench/rest.py --only elizabus --elizabus-env ASGI_THREADS=4 \
        --daphne-arg=--http-timeout=60 --profile /tmp/prof      # experiments, py-spy profile

Workload (that of the reference's first figures): REST ingest = N POSTs of a 200-byte message to
one channel at concurrency C; REST read = N GETs of that channel's newest 50 at concurrency C.
Each phase is preceded by an untimed warm-up on the same connections. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import platform
import random
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import servers

SERVER_ID = "00000000-0000-0000-0000-000000000000"
TARGET = {"throughput_ratio": 3.0, "p99_ratio": 1 / 3}

# --------------------------------------------------------------------------------------------
# HTTP clients. Both keep one persistent HTTP/1.1 connection per worker, bound to its own
# loopback source address: the reference rate-limits /api to 1000 requests per 15 minutes per
# IP, and 127.0.0.0/8 gives each connection an address of its own.
# --------------------------------------------------------------------------------------------


class HttpError(Exception):
    pass


class RawConnection:
    """A minimal asyncio HTTP/1.1 keep-alive client: just enough for JSON APIs."""

    def __init__(self, host: str, port: int, local_host: str | None) -> None:
        self.host, self.port, self.local_host = host, port, local_host
        self.host_header = f"Host: {host}:{port}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        local = (self.local_host, 0) if self.local_host else None
        self.reader, self.writer = await asyncio.open_connection(
            self.host, self.port, local_addr=local
        )

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(self, method: bytes, target: bytes, body: bytes | None) -> tuple[int, bytes]:
        if self.writer is None:
            await self.connect()
        assert self.reader is not None and self.writer is not None
        if body is None:
            self.writer.write(b"%s %s HTTP/1.1\r\n%s\r\n" % (method, target, self.host_header))
        else:
            self.writer.write(
                b"%s %s HTTP/1.1\r\n%sContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s"
                % (method, target, self.host_header, len(body), body)
            )
        reader = self.reader
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            await self.close()
            raise HttpError("connection closed before a response") from exc
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at >= 0:
            end = lower.find(b"\r\n", at + 2)
            payload = await reader.readexactly(int(lower[at + 17 : end]))
        elif b"\r\ntransfer-encoding: chunked" in lower:
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")  # no trailers expected
                    break
                chunks.append((await reader.readexactly(size + 2))[:-2])
            payload = b"".join(chunks)
        elif status in (204, 304) or status < 200:
            payload = b""
        else:
            payload = await reader.read()
            await self.close()
            return status, payload
        if b"\r\nconnection: close" in lower:
            await self.close()
        return status, payload


# --------------------------------------------------------------------------------------------
# Phases
# --------------------------------------------------------------------------------------------

Request = tuple[bytes, bytes, bytes | None]  # method, target, body


@dataclass
class PhaseResult:
    name: str
    requests: int
    wall_s: float
    throughput: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    server_cpu_ms_per_req: float | None
    server_cpu_util: float | None  # cores busy, 0..nproc
    client_cpu_ms_per_req: float
    other_cpu_util: float | None  # cores busy with everything else on the machine (noise)
    error_samples: list[str] = field(default_factory=list)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


async def open_connections(
    connection_class: type, url: str, count: int, local_prefix: str | None
) -> list[Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    conns = []
    for worker in range(count):
        local = f"{local_prefix}.{worker + 1}" if local_prefix and host.startswith("127.") else None
        conn = connection_class(host, port, local)
        await conn.connect()
        conns.append(conn)
    return conns


async def drive(
    conns: list[Any], requests: list[Request], expect: int
) -> tuple[list[float], int, list[str]]:
    """Sends ``requests`` over ``conns``, each connection one request at a time (closed loop)."""
    latencies: list[float] = []
    errors = 0
    samples: list[str] = []
    queue = iter(requests)

    async def worker(conn: Any) -> None:
        nonlocal errors
        clock = time.perf_counter
        for method, target, body in queue:
            started = clock()
            try:
                status, payload = await conn.request(method, target, body)
            except Exception as exc:  # counted and reported
                errors += 1
                if len(samples) < 5:
                    samples.append(f"{type(exc).__name__}: {exc}")
                await conn.close()
                continue
            latencies.append(clock() - started)
            if status != expect:
                errors += 1
                if len(samples) < 5:
                    samples.append(f"{status}: {payload[:200].decode(errors='replace')}")

    await asyncio.gather(*(worker(conn) for conn in conns))
    return latencies, errors, samples


async def timed_phase(
    name: str,
    server: servers.Server,
    conns: list[Any],
    requests: list[Request],
    expect: int,
    on_start: Callable[[], None] | None = None,
    on_end: Callable[[], None] | None = None,
) -> PhaseResult:
    if on_start:
        on_start()
    cpu0, client0, machine0 = server.cpu_seconds(), time.process_time(), servers.machine_busy()
    started = time.perf_counter()
    latencies, errors, samples = await drive(conns, requests, expect)
    wall = time.perf_counter() - started
    cpu1, client1, machine1 = server.cpu_seconds(), time.process_time(), servers.machine_busy()
    if on_end:
        on_end()
    latencies.sort()
    n = len(requests)
    server_cpu = (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None
    return PhaseResult(
        name=name,
        requests=n,
        wall_s=wall,
        throughput=n / wall,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p90_ms=percentile(latencies, 0.90) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        max_ms=(latencies[-1] if latencies else float("nan")) * 1000,
        errors=errors,
        server_cpu_ms_per_req=server_cpu / n * 1000 if server_cpu is not None else None,
        server_cpu_util=server_cpu / wall if server_cpu is not None else None,
        client_cpu_ms_per_req=(client1 - client0) / n * 1000,
        other_cpu_util=(
            (machine1 - machine0 - (server_cpu or 0) - (client1 - client0)) / wall
            if machine0 is not None and machine1 is not None
            else None
        ),
        error_samples=samples,
    )


# --------------------------------------------------------------------------------------------
# Profiling (elizabus only): py-spy attached to the server during a timed phase.
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# One run against one server
# --------------------------------------------------------------------------------------------


def message_body(index: int, channel_id: str, author_id: str, agent_id: str, size: int) -> bytes:
    text = f"bench message {index:07d} "
    text += "x" * (size - len(text))
    return json.dumps(
        {
            "author_id": author_id,
            "content": text,
            "message_server_id": SERVER_ID,
            # The reference needs a participant other than the author or this, else 400.
            "metadata": {"targetAgentId": agent_id},
        },
        separators=(",", ":"),
    ).encode()


async def run_workload(
    server: servers.Server, args: argparse.Namespace, run_index: int, profiler: servers.PySpy | None
) -> dict[str, PhaseResult]:
    channel_id, author_id, agent_id = (str(uuid.uuid4()) for _ in range(3))
    target = f"{servers.API}/channels/{channel_id}/messages".encode()
    octet = (args.ip_seed + run_index) % 250 + 1
    post = [
        (b"POST", target, message_body(i, channel_id, author_id, agent_id, args.size))
        for i in range(args.warmup + args.requests + 1)
    ]
    read_target = target + b"?limit=50"
    results: dict[str, PhaseResult] = {}

    # The first post creates the channel (both servers auto-create an unknown channel).
    (setup,) = await open_connections(RawConnection, server.url, 1, f"127.{octet}.0")
    status, payload = await setup.request(*post[0])
    await setup.close()
    if status != 201:
        raise RuntimeError(f"{server.name}: first post answered {status}: {payload[:300]!r}")

    conns = await open_connections(RawConnection, server.url, args.concurrency, f"127.{octet}.1")
    await drive(conns, post[1 : args.warmup + 1], 201)
    start, end = profiler.hooks(f"{server.name}-ingest") if profiler else (None, None)
    results["ingest"] = await timed_phase(
        "ingest", server, conns, post[args.warmup + 1 :], 201, start, end
    )
    for conn in conns:
        await conn.close()

    conns = await open_connections(RawConnection, server.url, args.concurrency, f"127.{octet}.2")
    reads = [(b"GET", read_target, None)] * args.requests
    await drive(conns, reads[: args.warmup], 200)
    start, end = profiler.hooks(f"{server.name}-read") if profiler else (None, None)
    results["read"] = await timed_phase("read", server, conns, reads, 200, start, end)
    status, payload = await conns[0].request(b"GET", read_target, None)
    for conn in conns:
        await conn.close()
    messages = json.loads(payload)["data"]["messages"] if status == 200 else []
    stamps = [message.get("created_at") for message in messages]
    if len(messages) != 50:
        results["read"].errors += 1
        results["read"].error_samples.append(f"read check: {len(messages)} messages, not 50")
    elif any(a is None or b is None or a < b for a, b in itertools.pairwise(stamps)):
        results["read"].errors += 1
        results["read"].error_samples.append("read check: not newest first by created_at")
    return results


async def client_ceiling(args: argparse.Namespace) -> PhaseResult:
    """The ingest workload against a server that costs nothing (a fixed answer)."""
    null = servers.start_null_server()
    try:
        conns = await open_connections(RawConnection, null.url, args.concurrency, None)
        body = message_body(0, str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()), args.size)
        requests = [(b"POST", b"/api/messaging/channels/x/messages", body)] * args.requests
        await drive(conns, requests[: args.warmup], 200)
        result = await timed_phase("ceiling", null, conns, requests, 200)
        for conn in conns:
            await conn.close()
        return result
    finally:
        null.stop()


# --------------------------------------------------------------------------------------------
# Orchestration and report
# --------------------------------------------------------------------------------------------


def start_server(name: str, args: argparse.Namespace) -> servers.Server:
    if name == "elizabus":
        if args.elizabus_url:
            return servers.external("elizabus", args.elizabus_url)
        env = dict(item.split("=", 1) for item in args.elizabus_env)
        return servers.start_elizabus(
            src_dir=args.src_dir,
            extra_env=env,
            daphne_args=args.daphne_arg,
            asgi_server=args.asgi_server,
            server_args=args.server_arg,
        )
    if args.reference_url:
        return servers.external("reference", args.reference_url)
    return servers.start_reference()


def median_result(results: list[PhaseResult]) -> dict[str, Any]:
    keys = [
        "throughput",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "max_ms",
        "server_cpu_ms_per_req",
        "server_cpu_util",
        "client_cpu_ms_per_req",
        "other_cpu_util",
    ]
    out: dict[str, Any] = {}
    for key in keys:
        values = [getattr(r, key) for r in results if getattr(r, key) is not None]
        out[key] = round(statistics.median(values), 2) if values else None
    out["errors"] = sum(r.errors for r in results)
    out["requests"] = sum(r.requests for r in results)
    return out


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def ratio(a: Any, b: Any) -> float | None:
    return a / b if a is not None and b not in (None, 0) else None


def report(summary: dict[str, Any], names: list[str], args: argparse.Namespace) -> None:
    rows = [
        ("ingest msgs/s", "ingest", "throughput"),
        ("ingest p50 ms", "ingest", "p50_ms"),
        ("ingest p99 ms", "ingest", "p99_ms"),
        ("ingest errors", "ingest", "errors"),
        ("ingest server CPU ms/msg", "ingest", "server_cpu_ms_per_req"),
        ("ingest server cores busy", "ingest", "server_cpu_util"),
        ("read req/s", "read", "throughput"),
        ("read p50 ms", "read", "p50_ms"),
        ("read p99 ms", "read", "p99_ms"),
        ("read errors", "read", "errors"),
        ("read server CPU ms/req", "read", "server_cpu_ms_per_req"),
        ("read server cores busy", "read", "server_cpu_util"),
        ("ingest other cores busy", "ingest", "other_cpu_util"),
        ("read other cores busy", "read", "other_cpu_util"),
    ]
    both = len(names) == 2
    header = (
        f"{'':28}" + "".join(f"{n:>12}" for n in names) + (f"{'ratio e/r':>12}" if both else "")
    )
    print()
    print(
        f"REST bench: {args.requests} requests at concurrency {args.concurrency}, "
        f"{args.size}-byte messages, warm-up {args.warmup}, "
        f"median of {args.runs} run(s)"
    )
    print(header)
    for label, phase, key in rows:
        values = [summary[n][phase][key] for n in names]
        line = f"{label:28}" + "".join(f"{fmt(v):>12}" for v in values)
        if both and key in ("throughput", "p50_ms", "p99_ms", "server_cpu_ms_per_req"):
            line += f"{fmt(ratio(values[0], values[1]), 2):>12}"
        print(line)
    ceiling = summary.get("client_ceiling")
    if ceiling:
        print(
            f"{'client ceiling req/s':28}{fmt(ceiling['throughput']):>12}   "
            f"(p99 {fmt(ceiling['p99_ms'])} ms, client CPU "
            f"{fmt(ceiling['client_cpu_ms_per_req'], 3)} ms/req, against a null server)"
        )
    for n in names:
        for phase in ("ingest", "read"):
            print(
                f"{n} {phase} client CPU {fmt(summary[n][phase]['client_cpu_ms_per_req'], 3)} "
                f"ms/req",
                end="; " if phase == "ingest" else "\n",
            )
    if both:
        ratios = summary["ratios"]
        # From the medians, not the rounded ratios: 0.3334 shows as 0.333 and is over a third.
        e, r = summary["elizabus"], summary["reference"]
        verdict = all(
            (throughput := ratio(e[p]["throughput"], r[p]["throughput"])) is not None
            and throughput >= TARGET["throughput_ratio"]
            and (p99 := ratio(e[p]["p99_ms"], r[p]["p99_ms"])) is not None
            and p99 <= TARGET["p99_ratio"]
            for p in ("ingest", "read")
        )
        for p in ("ingest", "read"):
            print(
                f"target {p}: throughput x{fmt(ratios[f'{p}_throughput'], 2)} (need >= 3), "
                f"p99 x{fmt(ratios[f'{p}_p99'], 3)} (need <= 1/3)"
            )
        met = "MET" if verdict else "NOT MET"
        print(f"target (>= 3x throughput at <= 1/3 p99, both phases): {met}")
    print("JSON " + json.dumps(summary, separators=(",", ":")))


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores, {cpu}, {system}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["elizabus", "reference"])
    parser.add_argument(
        "--runs", type=int, default=1, help="repeat, each on fresh servers; medians"
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--size", type=int, default=200, help="message content bytes")
    parser.add_argument("--elizabus-url", help="use this running elizabus instead of starting one")
    parser.add_argument(
        "--reference-url", help="use this running reference instead of starting one"
    )
    parser.add_argument(
        "--elizabus-dir",
        type=Path,
        default=servers.ROOT,
        help="serve elizabus from this source tree (default: this repository)",
    )
    parser.add_argument(
        "--snapshot",
        choices=["worktree", "head"],
        help="serve a copy of the working tree (or of HEAD) taken at start, "
        "so that concurrent edits cannot change the code mid-run",
    )
    parser.add_argument(
        "--elizabus-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the started server (KEY= removes KEY)",
    )
    parser.add_argument(
        "--daphne-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra daphne argument, e.g. --daphne-arg=-v1",
    )
    parser.add_argument(
        "--asgi-server",
        choices=["serve", "daphne", "uvicorn", "granian"],
        default="serve",
        help="manage.py serve (the default), or for comparison daphne, uvicorn or granian",
    )
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra server argument, e.g. --server-arg=--workers=2 (uvicorn)",
    )
    parser.add_argument("--no-ceiling", action="store_true", help="skip the client-ceiling check")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy the started elizabus during each timed phase into DIR",
    )
    parser.add_argument("--profile-rate", type=int, default=250)
    parser.add_argument(
        "--profile-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra py-spy record argument, e.g. --profile-arg=--gil",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each server's run, wait up to SECONDS for the rest of the "
        "machine to use at most --quiet-cores (shared machines)",
    )
    parser.add_argument("--quiet-cores", type=float, default=0.25)
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run the servers and the client at this niceness (e.g. -10 as root "
        "on a machine shared with other work)",
    )
    parser.add_argument("--json-out", type=Path, help="also append the JSON line to this file")
    args = parser.parse_args(argv)
    args.ip_seed = random.randrange(250)
    if args.nice:
        servers.set_nice(args.nice)
    args.src_dir = servers.snapshot(args.snapshot) if args.snapshot else args.elizabus_dir
    try:
        return run(args)
    finally:
        if args.snapshot:
            shutil.rmtree(args.src_dir, ignore_errors=True)


def run(args: argparse.Namespace) -> int:

    names = [args.only] if args.only else ["elizabus", "reference"]
    per_run: dict[str, list[dict[str, PhaseResult]]] = {n: [] for n in names}
    for index in range(args.runs):
        order = names if index % 2 == 0 else list(reversed(names))
        for name in order:
            if args.quiet_wait:
                other = servers.wait_for_quiet(args.quiet_cores, args.quiet_wait)
                if other is not None and other > args.quiet_cores:
                    print(f"  (machine still busy: {other:.2f} other cores)", flush=True)
            server = start_server(name, args)
            try:
                profiler = None
                if name == "elizabus" and args.profile and server.pid is not None:
                    profiler = servers.PySpy(
                        args.profile / f"run{index + 1}",
                        server.pid,
                        args.profile_rate,
                        args.profile_arg,
                    )
                results = asyncio.run(run_workload(server, args, index, profiler))
                rss = server.rss_kib()
            finally:
                server.stop()
            per_run[name].append(results)
            line = ", ".join(
                f"{p} {r.throughput:,.0f}/s p50 {r.p50_ms:.1f} p99 {r.p99_ms:.1f} ms err {r.errors}"
                for p, r in results.items()
            )
            print(
                f"run {index + 1}/{args.runs} {name}: {line}"
                + (f", RSS {rss / 1024:.0f} MiB" if rss else ""),
                flush=True,
            )
            for r in results.values():
                for sample in r.error_samples:
                    print(f"    {r.name} error sample: {sample}")

    summary: dict[str, Any] = {
        "bench": "rest",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "runs": args.runs,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "size": args.size,
        "code": servers.code_version(args.src_dir),
        "elizabus_env": args.elizabus_env,
        "daphne_args": args.daphne_arg,
        "asgi_server": args.asgi_server,
        "nice": args.nice,
        "server_args": args.server_arg,
    }
    for name in names:
        summary[name] = {
            phase: median_result([one[phase] for one in per_run[name]])
            for phase in ("ingest", "read")
        }
        summary[name]["per_run"] = [
            {p: [round(r.throughput, 1), round(r.p99_ms, 1)] for p, r in one.items()}
            for one in per_run[name]
        ]
    if len(names) == 2:
        e, r = summary["elizabus"], summary["reference"]
        summary["ratios"] = {
            f"{p}_{k}": (round(x, 3) if (x := ratio(e[p][m], r[p][m])) is not None else None)
            for p in ("ingest", "read")
            for k, m in (("throughput", "throughput"), ("p99", "p99_ms"), ("p50", "p50_ms"))
        }
    if not args.no_ceiling:
        summary["client_ceiling"] = median_result([asyncio.run(client_ceiling(args))])
    report(summary, names, args)
    if args.json_out:
        with open(args.json_out, "a") as out:
            out.write(json.dumps(summary, separators=(",", ":")) + "\n")
    failed = any(summary[n][p]["errors"] for n in names for p in ("ingest", "read"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
