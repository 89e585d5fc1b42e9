"""Work queued together runs in one trip to the sync thread: on SQLite the writes commit
together, each in its own savepoint, so one that fails fails alone and every caller hears back
only after its rows are committed; a commit that fails fails them all and undoes what each had
promised; reads run outside the transaction."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections, transaction

from elizabus.db import batches
from elizabus.models import DEFAULT_SERVER_ID, Channel, Entity, Message
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def close_the_sync_threads_connection() -> AsyncIterator[None]:
    yield
    await sync_to_async(connections.close_all)()


def _entity_write(name: str, seen: list[str]) -> Any:
    def write() -> dict[str, Any]:
        factories.make_user(name=name)
        transaction.on_commit(lambda: seen.append(name))
        return {"name": name, "depth": len(connection.atomic_blocks)}

    return write


async def _together(*works: tuple[Any, bool]) -> list[Any]:
    """Queues every work before the first runs, as requests arriving together do."""
    return await asyncio.gather(
        *(batches.run(func, write=write) for func, write in works), return_exceptions=True
    )


def _names() -> set[str]:
    return {name for names in Entity.objects.values_list("names", flat=True) for name in names}


async def test_writes_queued_together_commit_together_and_answer_after_the_commit() -> None:
    committed: list[str] = []
    answers = await _together(*((_entity_write(f"user {n}", committed), True) for n in range(5)))
    # Each ran in a savepoint of one transaction; each answer came after the commit's hooks.
    expected_depth = 2 if connection.vendor == "sqlite" else 1
    assert [answer["depth"] for answer in answers] == [expected_depth] * 5
    assert sorted(committed) == [f"user {n}" for n in range(5)]
    assert {f"user {n}" for n in range(5)} <= await sync_to_async(_names)()


async def test_a_write_that_fails_fails_alone() -> None:
    committed: list[str] = []

    def fails() -> None:
        factories.make_user(name="half done")
        raise ValueError("refused")

    answers = await _together(
        (_entity_write("before", committed), True),
        (fails, True),
        (_entity_write("after", committed), True),
    )
    assert isinstance(answers[1], ValueError)
    assert [answers[0]["name"], answers[2]["name"]] == ["before", "after"]
    names = await sync_to_async(_names)()
    assert {"before", "after"} <= names and "half done" not in names


async def test_a_commit_that_fails_fails_the_writes_it_held_and_undoes_each() -> None:
    author = await sync_to_async(factories.make_user)(name="author")
    undone: list[Any] = []

    def orphan() -> str:
        # Foreign keys are checked at the commit: this one fails it.
        Message.objects.create(
            channel_id=uuid.uuid4(), author_id=author.id, content="nowhere", metadata={}, seq=1
        )
        return "orphan"

    def fine() -> str:
        factories.make_user(name="fine")
        return "fine"

    answers = await asyncio.gather(
        batches.run(fine, write=True, undo=undone.append),
        batches.run(orphan, write=True, undo=undone.append),
        return_exceptions=True,
    )
    assert isinstance(answers[1], Exception)
    if connection.vendor == "sqlite":  # one commit for both
        assert isinstance(answers[0], Exception)
        assert sorted(undone) == ["fine", "orphan"]
        assert "fine" not in await sync_to_async(_names)()
    else:  # each its own
        assert (answers[0], undone) == ("fine", ["orphan"])
        assert "fine" in await sync_to_async(_names)()


async def test_reads_run_outside_the_transaction_after_the_writes() -> None:
    channel_id = uuid.uuid4()

    def write() -> None:
        Channel.objects.create(id=channel_id, server_id=DEFAULT_SERVER_ID, name="new")

    def read() -> tuple[bool, bool]:
        return connection.in_atomic_block, Channel.objects.filter(id=channel_id).exists()

    answers = await _together((read, False), (write, True))
    assert answers[0] == (False, True)


async def test_posts_committed_together_take_gapless_seqs_when_one_fails() -> None:
    channel = await sync_to_async(factories.make_channel)()

    def post(n: int) -> Any:
        def write() -> int:
            message = factories.make_message(channel_id=channel.id, content=f"post {n}")
            if n == 2:
                raise ValueError("refused after its seq was taken")
            return message.seq

        return write

    answers = await _together(*((post(n), True) for n in range(6)))
    assert isinstance(answers[2], ValueError)
    # The failed one's savepoint gave its seq back to the one after it.
    assert [a for a in answers if not isinstance(a, Exception)] == [1, 2, 3, 4, 5]
    stored = await sync_to_async(
        lambda: list(Message.objects.filter(channel_id=channel.id).values_list("seq", flat=True))
    )()
    assert sorted(stored) == [1, 2, 3, 4, 5]
