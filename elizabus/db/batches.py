"""The sync work of concurrent requests, run together in one trip to the shared sync thread, the
writes committed together on SQLite (group commit).

Every request's sync code runs on asgiref's one shared thread (``elizabus.asgi``), and each trip
there costs a thread hop both ways and a wake-up of the event loop; each SQLite transaction costs
its ``BEGIN IMMEDIATE``, its commit and a turn of the process's write queue. Requests that arrive
while a batch runs wait for the next one, which takes them all:

- a write runs in its own atomic block: a savepoint of the batch's one transaction on SQLite, so
  a write that fails rolls back alone, and its own transaction elsewhere (PostgreSQL takes row
  locks, and one transaction holding the locks of several channels could deadlock with another
  process's);
- a request gets its answer only after the commit that made its rows (and their outbox events)
  durable; a failed commit fails every write of the batch;
- reads run after the writes, outside any transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection, transaction

from elizabus import breakers
from elizabus.exceptions import ServiceUnavailable

# A batch's writes hold SQLite's write lock until their commit: the requests behind them wait.
MAX_BATCH = 64
# How long a request waits for its trip on PostgreSQL before it is refused (503) and the
# database's breaker opens. A query sent to a server that hangs waits for as long as it hangs
# (statement_timeout is the server's clock), and every request behind it on the one sync
# thread with it; the request is answered all the same (docs/deployment.md, "When a dependency
# is down"). SQLite, a file of this host, has no deadline.
DEADLINE_SECONDS = 1.5


@dataclass
class _Work:
    func: Callable[[], Any]
    write: bool
    future: asyncio.Future[Any]
    undo: Callable[[Any], None] | None
    # What ``func`` returned, or raised.
    result: Any = None
    error: BaseException | None = None
    # Its request was answered 503 at the deadline: not run if it has not started.
    abandoned: bool = False


@dataclass
class _Queue:
    waiting: list[_Work] = field(default_factory=list)
    drainer: asyncio.Task[None] | None = None


_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = weakref.WeakKeyDictionary()


async def run(
    func: Callable[[], Any], *, write: bool, undo: Callable[[Any], None] | None = None
) -> Any:
    """Runs ``func`` on the shared sync thread with the other requests' work that is waiting,
    and returns what it returned (or raises what it raised). With ``write`` it runs in an atomic
    block, and this returns only once that is committed; if the commit fails, ``undo`` gets
    what ``func`` returned, and this raises.

    On PostgreSQL it raises :class:`ServiceUnavailable` at once while the database's breaker
    is open, after :data:`DEADLINE_SECONDS` without an answer, and for a lost connection."""
    bounded = breakers.database.configured
    if bounded and not breakers.database.allow():
        raise ServiceUnavailable()
    loop = asyncio.get_running_loop()
    queue = _queues.get(loop)
    if queue is None:
        queue = _queues[loop] = _Queue()
    work = _Work(func, write, loop.create_future(), undo)
    queue.waiting.append(work)
    if queue.drainer is None or queue.drainer.done():
        queue.drainer = loop.create_task(_drain(queue))
    if not bounded:
        return await work.future
    try:
        with breakers.database.timed():
            return await asyncio.wait_for(asyncio.shield(work.future), DEADLINE_SECONDS)
    except TimeoutError:
        work.abandoned = True
        breakers.database.failed(f"no answer within {DEADLINE_SECONDS} s")
        raise ServiceUnavailable() from None
    except Exception as exc:
        if breakers.database_down(exc):
            breakers.database.failed(exc)
            raise ServiceUnavailable() from exc
        raise


async def _drain(queue: _Queue) -> None:
    while queue.waiting:
        batch, queue.waiting = queue.waiting[:MAX_BATCH], queue.waiting[MAX_BATCH:]
        try:
            await sync_to_async(_run_batch, thread_sensitive=True)(batch)
        except BaseException as exc:  # the thread hop itself failed (the loop is closing)
            for work in batch:
                work.error = work.error or exc
        for work in batch:
            if work.abandoned:
                # Answered 503 at the deadline, then done: nobody reads what it returned.
                if work.error is None and work.undo is not None:
                    work.undo(work.result)
                continue
            if work.future.done():  # its request was cancelled (the client went away)
                continue
            if work.error is not None:
                work.future.set_exception(work.error)
            else:
                work.future.set_result(work.result)


def _run_batch(batch: list[_Work]) -> None:
    writes = [work for work in batch if work.write]
    if len(writes) > 1 and connection.vendor == "sqlite" and not connection.in_atomic_block:
        try:
            with transaction.atomic():
                for work in writes:
                    _call(work, atomic=True)
        except Exception as exc:  # the commit failed: none of these is stored
            for work in writes:
                if work.error is None:
                    _fail(work, exc, returned=True)
    else:
        for work in writes:
            _call(work, atomic=True)
    for work in batch:
        if not work.write:
            _call(work, atomic=False)


def _call(work: _Work, *, atomic: bool) -> None:
    if work.abandoned:
        return  # answered 503 already: a write refused is not made behind its user's back
    returned = False
    try:
        with transaction.atomic() if atomic else contextlib.nullcontext():
            work.result = work.func()
            returned = True
    except Exception as exc:
        _fail(work, exc, returned=returned)


def _fail(work: _Work, error: Exception, *, returned: bool) -> None:
    """``work`` failed: in ``func``, or after it ``returned``, at its commit."""
    work.error = error
    if returned and work.undo is not None:
        work.undo(work.result)
