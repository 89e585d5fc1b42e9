"""Posts that arrive together at a live server (``manage.py serve`` on its SQLite default) are
committed together: each still gets its own answer, a bad one is refused alone, and every
stored message has its own place in the channel's pages."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID
from tests.live import REPO, LiveServer

POSTS = 40
BAD = {7, 19, 33}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    env = {  # the embedded default, whatever the suite runs on
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "ELIZABUS_VAR_DIR": str(tmp_path),
        "ELIZABUS_RUN_AGENTS": "0",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        check=True,
        timeout=120,
        capture_output=True,
    )
    live = LiveServer(tmp_path, env)
    live.start()
    try:
        yield live
    finally:
        live.stop()


async def test_posts_arriving_together_each_get_their_own_answer(server: LiveServer) -> None:
    url = f"{server.url}/api/messaging/channels/{CENTRAL_CHANNEL_ID}/messages"
    author = str(uuid.uuid4())

    def body(n: int) -> dict[str, str]:
        return {
            "author_id": "not-a-uuid" if n in BAD else author,
            "message_server_id": str(DEFAULT_SERVER_ID),
            "content": f"post {n}",
        }

    async with httpx.AsyncClient(timeout=30) as client:
        answers = await asyncio.gather(*(client.post(url, json=body(n)) for n in range(POSTS)))
        page = await client.get(url, params={"limit": POSTS})

    for n, answer in enumerate(answers):
        if n in BAD:
            assert answer.status_code == 400
            assert answer.json()["error"]["code"] == "VALIDATION_ERROR"
        else:
            assert answer.status_code == 201, answer.text
            assert answer.json()["data"]["content"] == f"post {n}"
    messages = page.json()["data"]["messages"]
    assert sorted(message["content"] for message in messages) == sorted(
        f"post {n}" for n in range(POSTS) if n not in BAD
    )
    assert len({message["createdAt"] for message in messages}) == len(messages)
