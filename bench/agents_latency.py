#!/usr/bin/env python3
"""End-to-end agent latency in elizabus: a REST post answered by the in-process ELIZA agent.

    .venv/bin/python bench/agents_latency.py                     # 10, 50, 100 msg/s, 20 s each
    .venv/bin/python bench/agents_latency.py --rates 50 --duration 30 --runs 3
    .venv/bin/python bench/agents_latency.py --rates 50 --profile /tmp/agents-prof   # py-spy

elizabus only: the reference runs no agents here. Each rate gets a fresh server (fresh SQLite
database, fresh metrics) with the demo agent (``manage.py ensure_demo_agent``; agents on,
DJANGO_DEBUG unset). The client posts ``POST /api/messaging/channels/<central>/messages`` with
``transport: "http"``, whose response returns once the agent's reply was committed and
published, at a fixed rate on an open-loop schedule (request i is due at t0 + i/rate whether or
not earlier ones have answered; each goes out on an idle keep-alive connection, or a new one).

Reported per rate: latency from the due time (so client-side queueing is not hidden) and from
the actual send, p50/p90/p99/max; the server-side part from the response (the reply's
``createdAt`` minus the user message's ``created_at``, both server clock, ms resolution); the
agent's stages (queue, memory, respond, reply) and the bus receivers' latencies from
``GET /api/messaging/metrics`` (counts and means are the timed phase's exactly: the warm-up's are
subtracted; quantiles are over the server's last 1000 samples, mostly the timed phase).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import servers
from fanout import (
    CENTRAL_CHANNEL_ID,
    SERVER_ID,
    add_machine_args,
    apply_machine_args,
    await_quiet,
    elizabus_metrics,
    fmt,
    machine,
    start_elizabus,
)

TARGET_P99_MS_AT_50 = 20.0
PROMPTS = [
    "Men are all alike.",
    "They're always bugging us about something or other.",
    "Well, my boyfriend made me come here.",
    "He says I'm depressed much of the time.",
    "It's true. I am unhappy.",
    "I need some help, that much seems certain.",
    "Perhaps I could learn to get along with my mother.",
    "My mother takes care of me.",
]


class Connection:
    """A minimal asyncio HTTP/1.1 keep-alive client for JSON POSTs."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, target: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(
            b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s"
            % (target.encode(), self.host.encode(), self.port, len(body), body)
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at >= 0:
            end = lower.find(b"\r\n", at + 2)
            payload = await self.reader.readexactly(int(lower[at + 17 : end]))
        elif b"\r\ntransfer-encoding: chunked" in lower:
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")  # no trailers expected
                    break
                chunks.append((await self.reader.readexactly(size + 2))[:-2])
            payload = b"".join(chunks)
        else:
            payload = await self.reader.read()
            await self.close()
            return status, payload
        if b"\r\nconnection: close" in lower:
            await self.close()
        return status, payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))]


async def open_loop(
    url: str, rate: float, count: int, max_connections: int = 256, transport: str = "http"
) -> dict[str, Any]:
    """Posts ``count`` messages at ``rate`` per second on a fixed schedule; ``transport`` ""
    posts without waiting for the agent (the REST part alone)."""
    host_port = url.split("//", 1)[1]
    host, port = host_port.split(":")[0], int(host_port.split(":")[1])
    target = f"/api/messaging/channels/{CENTRAL_CHANNEL_ID}/messages"
    idle: list[Connection] = []
    opened = 0
    records: list[dict[str, Any]] = []
    errors: list[str] = []
    author = str(uuid.uuid4())
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.05

    async def one(index: int, due: float) -> None:
        nonlocal opened
        if idle:
            conn = idle.pop()
        else:
            if opened >= max_connections:
                errors.append(f"client: all {max_connections} connections busy (server overloaded)")
                return
            opened += 1
            conn = Connection(host, port)
        body = json.dumps(
            {
                "author_id": author,
                "content": f"{PROMPTS[index % len(PROMPTS)]} ({index})",
                "message_server_id": SERVER_ID,
                **({"transport": transport} if transport else {}),
            }
        ).encode()
        sent = loop.time()
        try:
            status, payload = await conn.post(target, body)
        except Exception as exc:  # counted and reported
            errors.append(f"{type(exc).__name__}: {exc}")
            await conn.close()
            return
        done = loop.time()
        idle.append(conn)
        record: dict[str, Any] = {
            "fromDue": (done - due) * 1000,
            "fromSend": (done - sent) * 1000,
            "sendLag": (sent - due) * 1000,
            "status": status,
        }
        if status == 201 and not transport:
            record["replied"] = True  # nothing to wait for
        elif status == 201:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                answer = json.loads(payload)
                record["server"] = (
                    answer["agentResponse"]["createdAt"] - answer["userMessage"]["created_at"]
                )
                record["replied"] = answer["agentResponse"] is not None
        elif len(errors) < 5:
            errors.append(f"{status}: {payload[:200].decode(errors='replace')}")
        records.append(record)

    tasks = []
    for index in range(count):
        due = t0 + index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, due)))
    _done, late = await asyncio.wait(tasks, timeout=120)
    for task in late:
        task.cancel()
    if late:
        errors.append(f"client: {len(late)} requests unanswered after 120 s")
    for conn in idle:
        await conn.close()
    ok = [r for r in records if r["status"] == 201 and r.get("replied")]
    return {
        "rate": rate,
        "transport": transport or "none",
        "requests": count,
        "ok": len(ok),
        "errors": count - len(ok),
        "errorSamples": errors[:5],
        "connections": opened,
        "fromDue": summary([r["fromDue"] for r in ok]),
        "fromSend": summary([r["fromSend"] for r in ok]),
        "sendLag": summary([r["sendLag"] for r in records]),
        "serverSide": summary([r["server"] for r in ok if "server" in r]),
    }


def summary(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": percentile(values, 0.5),
        "p90": percentile(values, 0.9),
        "p99": percentile(values, 0.99),
        "max": max(values) if values else None,
        "mean": sum(values) / len(values) if values else None,
    }


def start_with_agent(args: argparse.Namespace) -> tuple[servers.Server, Path]:
    """elizabus with the demo agent: a var dir migrated and seeded by ``ensure_demo_agent``
    before the server starts."""
    var_dir = Path(tempfile.mkdtemp(prefix="elizabus-bench-agents-"))
    env_items = [f"ELIZABUS_VAR_DIR={var_dir}", *args.elizabus_env]
    python = str(servers.VENV_BIN / "python")
    env = {**os.environ, **dict(i.split("=", 1) for i in env_items)}
    env.pop("DJANGO_DEBUG", None)
    for command in (["migrate", "--noinput", "-v", "0"], ["ensure_demo_agent"]):
        done = subprocess.run(
            [python, "manage.py", *command],
            cwd=args.src_dir,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            shutil.rmtree(var_dir, ignore_errors=True)
            raise RuntimeError(f"manage.py {command[0]} failed:\n{done.stdout}\n{done.stderr}")
    saved, args.elizabus_env = args.elizabus_env, env_items
    try:
        server = start_elizabus(args, agents=True)
    finally:
        args.elizabus_env = saved
    return server, var_dir


def metric_delta(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """Per receiver and per stage: count and mean of the timed phase (after minus before), and
    the server's windowed p50/p99."""
    out: dict[str, Any] = {"receivers": {}, "stages": {}}
    if not after:
        return out

    def diff(section: str, outer: str, inner: str, now: dict[str, Any]) -> dict[str, Any]:
        old = ((before or {}).get(section, {}).get(outer, {}) or {}).get(inner) or {}
        count = now["count"] - old.get("count", 0)
        total = now["averageMs"] * now["count"] - old.get("averageMs", 0) * old.get("count", 0)
        return {
            "count": count,
            "meanMs": total / count if count else None,
            "p50Ms": now["p50Ms"],
            "p99Ms": now["p99Ms"],
        }

    for section in ("receivers", "stages"):
        for outer, inners in (after.get(section) or {}).items():
            for inner, now in inners.items():
                out[section][f"{outer} / {inner}"] = diff(section, outer, inner, now)
    return out


def run_rate(
    args: argparse.Namespace, rate: float, run: int, transport: str = "http"
) -> dict[str, Any]:
    server, var_dir = start_with_agent(args)
    try:
        time.sleep(1.0)
        await_quiet(args)
        asyncio.run(open_loop(server.url, min(rate, 20.0), args.warmup))
        before = elizabus_metrics(server)
        spy = servers.PySpy(args.profile, server.pid) if args.profile else None
        if spy:
            spy.start(f"agents-{rate:g}-run{run}", ["--threads"])
        cpu0, busy0, t0 = server.cpu_seconds(), servers.machine_busy(), time.monotonic()
        count = max(1, round(rate * args.duration))
        result = asyncio.run(open_loop(server.url, rate, count, transport=transport))
        cpu1, busy1, t1 = server.cpu_seconds(), servers.machine_busy(), time.monotonic()
        if spy:
            spy.stop()
        after = elizabus_metrics(server)
    finally:
        server.stop()
        shutil.rmtree(var_dir, ignore_errors=True)
    wall = t1 - t0
    if cpu0 is not None and cpu1 is not None:
        result["serverCpuUtil"] = (cpu1 - cpu0) / wall
        result["serverCpuMsPerRequest"] = (cpu1 - cpu0) * 1000 / count
    if busy0 is not None and busy1 is not None and cpu0 is not None and cpu1 is not None:
        result["otherCpuUtil"] = ((busy1 - busy0) - (cpu1 - cpu0)) / wall  # client included
    result["metrics"] = metric_delta(before, after)
    return result


def reply_broadcast_check(args: argparse.Namespace) -> dict[str, Any]:
    """One socket in the central channel; plain REST posts 1.2 s apart; how long until the
    user's message and the agent's reply reach the socket (bench/js/reply_broadcast.cjs)."""
    from fanout import JS_DIR, ensure_node_client

    node = ensure_node_client()
    server, var_dir = start_with_agent(args)
    try:
        time.sleep(1.0)
        done = subprocess.run(
            [
                node,
                str(JS_DIR / "reply_broadcast.cjs"),
                json.dumps({"url": server.url, "posts": args.reply_broadcast}),
            ],
            capture_output=True,
            text=True,
            timeout=args.reply_broadcast * 7 + 60,
        )
    finally:
        server.stop()
        shutil.rmtree(var_dir, ignore_errors=True)
    try:
        return json.loads(done.stdout)
    except ValueError:
        return {"error": done.stderr[-1000:]}


def print_rate(result: dict[str, Any]) -> None:
    rate = result["rate"]
    plain = (
        " (plain posts: transport unset, no waiting for the agent)"
        if result["transport"] == "none"
        else ""
    )
    print(
        f"\n-- {rate:g} msg/s offered{plain}, {result['requests']} requests, ok {result['ok']}, "
        f"errors {result['errors']}, connections {result['connections']}, server CPU "
        f"{fmt(result.get('serverCpuUtil'), 2)} cores "
        f"({fmt(result.get('serverCpuMsPerRequest'), 2)} ms/request), rest of machine "
        f"{fmt(result.get('otherCpuUtil'), 2)} cores (client included)"
    )
    print(f"   {'':38} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8} {'mean':>8}")
    for label, key in (
        ("end to end, from due time (ms)", "fromDue"),
        ("end to end, from send (ms)", "fromSend"),
        ("server: reply createdAt - user (ms)", "serverSide"),
        ("client send lag behind schedule (ms)", "sendLag"),
    ):
        s = result[key]
        print(
            f"   {label:38} {fmt(s['p50'], 2):>8} {fmt(s['p90'], 2):>8} "
            f"{fmt(s['p99'], 2):>8} {fmt(s['max'], 2):>8} {fmt(s['mean'], 2):>8}"
        )
    if result["errorSamples"]:
        print(f"   errors: {result['errorSamples']}")
    metrics = result.get("metrics") or {}
    print(f"   {'server metrics (timed phase)':60} {'n':>6} {'mean':>7} {'p50':>7} {'p99':>7}")
    for section in ("stages", "receivers"):
        for name, m in sorted((metrics.get(section) or {}).items()):
            if not m["count"]:
                continue
            label = ("stage " if section == "stages" else "recv ") + name
            print(
                f"   {label[-60:]:60} {m['count']:>6} {fmt(m['meanMs'], 2):>7} "
                f"{fmt(m['p50Ms'], 2):>7} {fmt(m['p99Ms'], 2):>7}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="10,50,100", help="messages per second, comma-separated")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per rate")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests first")
    parser.add_argument("--runs", type=int, default=1, help="fresh servers each; all printed")
    parser.add_argument("--elizabus-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--daphne-arg", action="append", default=[])
    parser.add_argument("--profile", type=Path, help="py-spy the server (all threads)")
    parser.add_argument(
        "--plain-rate",
        type=float,
        default=10.0,
        help="also post at this rate without transport=http (the REST part alone, for the "
        "server/client split); 0 to skip",
    )
    parser.add_argument(
        "--reply-broadcast",
        type=int,
        default=0,
        metavar="N",
        help="also: N plain posts 1.2 s apart with one socket in the channel; prints when the "
        "user's message and the agent's reply reached the socket",
    )
    parser.add_argument("--json", type=Path)
    add_machine_args(parser)
    args = parser.parse_args(argv)
    apply_machine_args(args)
    args.src_dir = servers.ROOT
    rates = [float(r) for r in args.rates.split(",")]
    started = dt.datetime.now().astimezone()
    results = []
    for run in range(args.runs):
        for rate in rates:
            result = run_rate(args, rate, run + 1)
            result["run"] = run + 1
            results.append(result)
            print(
                f"run {run + 1} {rate:g} msg/s: p50 {fmt(result['fromDue']['p50'], 2)} ms, "
                f"p99 {fmt(result['fromDue']['p99'], 2)} ms, errors {result['errors']}",
                flush=True,
            )
        if args.plain_rate:
            result = run_rate(args, args.plain_rate, run + 1, transport="")
            result["run"] = run + 1
            results.append(result)
            print(
                f"run {run + 1} {args.plain_rate:g} msg/s plain posts: "
                f"p50 {fmt(result['fromDue']['p50'], 2)} ms, "
                f"p99 {fmt(result['fromDue']['p99'], 2)} ms",
                flush=True,
            )
    print()
    print(
        f"Agent latency (elizabus, demo ELIZA agent in-process, REST transport=http, open loop, "
        f"{args.duration:g} s per rate)"
    )
    print(f"{started:%Y-%m-%d %H:%M %Z}; {machine()}; code {servers.code_version()}")
    for result in results:
        if args.runs > 1:
            print(f"\n== run {result['run']}", end="")
        print_rate(result)
    at50 = [
        r["fromDue"]["p99"]
        for r in results
        if r["rate"] == 50 and r["transport"] == "http" and r["fromDue"]["p99"]
    ]
    if at50:
        verdict = "met" if max(at50) < TARGET_P99_MS_AT_50 else "NOT met"
        print(
            f"\ntarget p99 < {TARGET_P99_MS_AT_50:g} ms at 50 msg/s: {verdict} "
            f"(p99 {', '.join(fmt(v, 1) for v in at50)} ms)"
        )
    if args.reply_broadcast:
        check = reply_broadcast_check(args)
        print(
            f"\nmessageBroadcast to one socket after a plain post ({args.reply_broadcast} posts):"
        )
        if "error" in check:
            print(f"   failed: {check['error']}")
        for key in ("user", "agent"):
            values = check.get(key) or []
            late = sum(1 for v in values if v > 30)
            print(
                f"   {key:5} p50 {fmt(percentile(values, 0.5), 1)} ms, max "
                f"{fmt(max(values) if values else None, 1)} ms, over 30 ms: {late} of {len(values)}"
            )
        results.append({"replyBroadcast": check})
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
