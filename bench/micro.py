#!/usr/bin/env python3
"""In-process costs of the pieces of one REST request (no HTTP server, no network).

    .venv/bin/python bench/micro.py [--n 500]

Runs on a fresh SQLite database in a temporary ELIZABUS_VAR_DIR, with the project's settings.
Prints the CPU time (process_time) per operation, single-threaded, to compare the pieces with
the server's CPU per request measured by bench/rest.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ.setdefault("ELIZABUS_VAR_DIR", tempfile.mkdtemp(prefix="elizabus-micro-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.pop("DJANGO_DEBUG", None)
os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("ELIZABUS_LOG_LEVEL", "WARNING")
# Thousands of requests from one address in seconds: over the default limit of the API.
os.environ.setdefault("ELIZABUS_API_RATE", "1000000/min")

SERVER_ID = "00000000-0000-0000-0000-000000000000"


def timeit(label: str, fn: Callable[[], object], n: int, results: list[tuple[str, float]]) -> None:
    for _ in range(min(20, n)):
        fn()
    samples = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(n // 5):
            fn()
        samples.append((time.process_time() - started) / (n // 5))
    per = statistics.median(samples) * 1000
    results.append((label, per))
    print(f"  {per:8.3f} ms  {label}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    n = args.n

    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
        check=True,
        cwd=ROOT,
    )
    import django

    django.setup()
    from django.db import connection, connections
    from django.test import AsyncClient, Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.renderers import JSONRenderer

    from elizabus import selectors, services
    from elizabus.api.representations.channels import message_data
    from elizabus.api.serializers.channels import ChannelMessageIn

    results: list[tuple[str, float]] = []
    channel_id = uuid.uuid4()
    author_id = uuid.uuid4()
    agent_id = uuid.uuid4()
    body = {
        "author_id": str(author_id),
        "content": "bench message " + "x" * 186,
        "message_server_id": SERVER_ID,
        "metadata": {"targetAgentId": str(agent_id)},
    }
    raw_body = json.dumps(body).encode()
    path = f"/api/messaging/channels/{channel_id}/messages"
    print(f"settings {os.environ['DJANGO_SETTINGS_MODULE']}, n={n}")

    # Plumbing.
    def thread_per_request() -> None:
        executor = ThreadPoolExecutor(max_workers=1)
        executor.submit(lambda: None).result()
        executor.shutdown()

    timeit(
        "new thread + executor + shutdown (asgiref per-request context)",
        thread_per_request,
        n,
        results,
    )
    shared = ThreadPoolExecutor(max_workers=1)
    timeit(
        "hop to an existing thread and back",
        lambda: shared.submit(lambda: None).result(),
        n,
        results,
    )

    def new_connection() -> None:
        connections["default"].connect()
        connections["default"].close()

    timeit(
        "new SQLite connection (connect, functions, PRAGMAs) + close", new_connection, n, results
    )

    # The POST's pieces.
    timeit(
        "msgspec validation of ChannelMessageIn",
        lambda: ChannelMessageIn.from_body(body),
        n,
        results,
    )
    services.channel_message_post(
        channel_id=channel_id,
        server_id=uuid.UUID(SERVER_ID),
        author_id=author_id,
        content="first",
        metadata=body["metadata"],
        needs_agent=False,
    )

    def post_service() -> None:
        services.channel_message_post(
            channel_id=channel_id,
            server_id=uuid.UUID(SERVER_ID),
            author_id=author_id,
            content=body["content"],
            metadata=body["metadata"],
            needs_agent=False,
            message_id=uuid.uuid4(),
            source_type="eliza_gui",
        )

    with CaptureQueriesContext(connection) as queries:
        post_service()
    print(f"  queries per post: {len(queries)}")
    for query in queries.captured_queries:
        print(f"      {query['sql'][:110]}")
    timeit("services.channel_message_post (ORM + commit)", post_service, n, results)

    # The GET's pieces.
    messages = [selectors.message_row(m) for m in selectors.message_list(channel_id=channel_id)]
    timeit(
        "selectors.message_list(limit=50) fetched",
        lambda: list(selectors.message_list(channel_id=channel_id, limit=50)),
        n,
        results,
    )
    timeit("message_data x50", lambda: [message_data(m) for m in messages], n, results)
    payload = {"success": True, "data": {"messages": [message_data(m) for m in messages]}}
    timeit("JSONRenderer of the 50", lambda: JSONRenderer().render(payload), n, results)

    # Whole requests through Django, without an HTTP server.
    client = Client()

    def checked(response, expected: int):
        if response.status_code != expected:
            raise SystemExit(f"{response.status_code}: {response.content[:300]!r}")
        return response

    timeit(
        "POST via WSGI handler (Client: middleware+DRF+ORM, no hops)",
        lambda: checked(client.post(path, raw_body, content_type="application/json"), 201),
        n,
        results,
    )
    timeit(
        "GET 50 via WSGI handler",
        lambda: checked(client.get(path + "?limit=50"), 200),
        n,
        results,
    )

    async_client = AsyncClient()

    async def async_requests(count: int, method: str) -> float:
        started = time.process_time()
        for _ in range(count):
            if method == "post":
                checked(
                    await async_client.post(path, raw_body, content_type="application/json"), 201
                )
            else:
                checked(await async_client.get(path + "?limit=50"), 200)
        return (time.process_time() - started) / count * 1000

    for method in ("post", "get"):
        asyncio.run(async_requests(20, method))
        per = statistics.median(asyncio.run(async_requests(n // 5, method)) for _ in range(5))
        label = f"{method.upper()} via ASGI handler (AsyncClient: + thread/connection per request)"
        results.append((label, per))
        print(f"  {per:8.3f} ms  {label}", flush=True)
    print("JSON " + json.dumps({"bench": "micro", "ms": dict(results)}, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
