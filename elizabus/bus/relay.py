"""The relay: what happens to an outbox event after its commit, in every process.

- :meth:`Relay.committed` is the fast path, in the thread that committed: this process's
  receivers get the event at once (every scope under a local transport; only ``ONCE`` when the
  transport carries events to the processes, this one included), and the transport takes it.
- The relay's thread (:meth:`Relay.start`, in every server and worker process) marks what the
  transport took as sent, in batches; sends again what was committed but not sent after
  ``BUS_RELAY_GRACE_SECONDS`` (a writer that died between commit and send, a Redis that did
  not take it), oldest first; and, under the database transport, follows the events that the
  other processes commit and hands them to this process's receivers.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from django.db import close_old_connections, connections

from elizabus.conf import app_settings

from . import dispatch, outbox
from .events import NewMessage
from .outbox import OutboxRecord
from .transports import get_transport
from .transports.base import Taken

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.1
# Marking sent is one write transaction however many events it marks: at every tick it cost
# a share of a busy server's ingest that a few tenths of a second of delay does not buy back.
MARK_EVERY_SECONDS = 0.5
MARK_BATCH = 1000
REPAIR_EVERY_SECONDS = 1.0
MAINTAIN_EVERY_SECONDS = 10.0
REPAIR_BATCH = 200
FOLLOW_BATCH = 500
# How long a relay holds the events it repairs before another may try them.
CLAIM_HOLD = dt.timedelta(seconds=30)
# How long a follower waits for a missing id (PostgreSQL takes ids before commit) to commit.
GAP_WAIT_SECONDS = 30.0
MAX_GAPS = 10_000
# The exit status of the fault-injection hook (BUS_FAULT_EXIT_AFTER_COMMIT).
FAULT_EXIT_STATUS = 70


class Relay:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: list[int] = []
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._cursor: int | None = None
        self._gaps: dict[int, float] = {}

    @property
    def running(self) -> bool:
        return self._thread is not None

    # --- the fast path: the committing thread ----------------------------------------------
    def committed(self, record: OutboxRecord) -> None:
        """Called once the transaction that wrote ``record`` committed."""
        marker = app_settings.BUS_FAULT_EXIT_AFTER_COMMIT
        if marker and isinstance(record.event, NewMessage) and marker in record.event.content:
            # Fault injection (tests/faults): die between the commit and the send.
            os._exit(FAULT_EXIT_STATUS)
        transport = get_transport()
        scopes = (dispatch.ONCE,) if transport.shares_events else None
        results = dispatch.dispatch_local(record.event, scopes=scopes, event_id=record.id)
        # A ONCE receiver that failed (a broadcast while Redis is away), or whose work this
        # process dies before finishing, gets another try: the event stays unsent, and a relay
        # repairs it, receivers and all (each drops a repeat).
        failed = dispatch.FAILED in results
        transport.send([record], _ignore if failed else self._taken_when_done(results, self._taken))

    def _taken(self, ids: Sequence[int]) -> None:
        """The transport took these: they are marked sent at the next tick of the relay."""
        if self._thread is None:
            return  # no relay here (a management command): a running one repairs them later
        self._queue_sent(ids)

    def _queue_sent(self, ids: Sequence[int]) -> None:
        with self._lock:
            self._sent.extend(ids)

    # --- the relay's thread ------------------------------------------------------------------
    def start(self) -> None:
        """Starts the relay's thread (idempotent)."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._cursor = None  # follow from the newest event on
        self._gaps.clear()
        self._thread = threading.Thread(target=self._run, name="bus-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        thread.join(timeout)
        self._flush()

    def _run(self) -> None:
        next_mark = next_repair = next_maintenance = 0.0
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    close_old_connections()
                    now = time.monotonic()
                    if now >= next_mark or len(self._sent) >= MARK_BATCH:
                        next_mark = now + MARK_EVERY_SECONDS
                        self._flush()
                    if get_transport().follows_outbox:
                        self.follow()
                    if now >= next_repair:
                        next_repair = now + REPAIR_EVERY_SECONDS
                        self.repair()
                    if now >= next_maintenance:
                        next_maintenance = now + MAINTAIN_EVERY_SECONDS
                        get_transport().maintain()
                    failures = 0
                except Exception:
                    failures += 1
                    if failures == 1 or failures % 100 == 0:
                        logger.exception("bus relay: a round failed (%d in a row)", failures)
                    connections.close_all()
                    self._stopping.wait(min(5.0, 0.2 * failures))
                    continue
                self._stopping.wait(TICK_SECONDS)
        finally:
            connections.close_all()

    def _flush(self) -> None:
        with self._lock:
            ids, self._sent = self._sent, []
        try:
            outbox.mark_sent(ids)
        except Exception:
            with self._lock:
                self._sent[:0] = ids
            raise

    def repair(self) -> int:
        """Sends what was committed but not sent in time; returns how many events."""
        grace = dt.timedelta(seconds=app_settings.BUS_RELAY_GRACE_SECONDS)
        records = outbox.claim_unsent(older_than=grace, hold=CLAIM_HOLD, limit=REPAIR_BATCH)
        if not records:
            return 0
        logger.warning("bus relay: sending %d events left unsent", len(records))
        transport = get_transport()
        # Marked by the relay's thread, like the writers' (the transport's thread must not
        # depend on the database being there); a failed one is tried again once its claim
        # runs out.
        marks: dict[int, Taken] = {}
        for record in records:
            # The writer ran these before it died, or not at all; sockets drop a repeat.
            results = dispatch.dispatch_local(
                record.event, scopes=(dispatch.ONCE,), event_id=record.id
            )
            if dispatch.FAILED not in results:
                marks[record.id] = self._taken_when_done(results, self._queue_sent)

        def taken(ids: Sequence[int]) -> None:
            for event_id in ids:
                if event_id in marks:
                    marks[event_id]([event_id])

        transport.send(records, taken)
        self._flush()  # what a transport took at once
        return len(records)

    @staticmethod
    def _taken_when_done(results: list[Any], mark: Taken) -> Taken:
        """``mark``, once the ONCE receivers' pending work among ``results`` is done, and
        only if it went well."""
        pending = [result.future for result in results if isinstance(result, dispatch.Pending)]
        if not pending:
            return mark

        def taken(ids: Sequence[int]) -> None:
            left = [len(pending)]
            lock = threading.Lock()

            def one_done(_: Future[Any]) -> None:
                with lock:
                    left[0] -= 1
                    if left[0]:
                        return
                if not any(future.exception() for future in pending):
                    mark(ids)

            for future in pending:
                future.add_done_callback(one_done)

        return taken

    def follow(self) -> int:
        """Hands the events other processes committed since the last call to this process's
        receivers (every scope but ONCE, which their writers ran); returns how many."""
        if self._cursor is None:
            self._cursor = outbox.newest_id()
            return 0
        now = time.monotonic()
        ids, rows = outbox.read_after(
            self._cursor, self._gaps, limit=FOLLOW_BATCH, origin=outbox.process_origin()
        )
        others = {row.id: row for row in rows}
        delivered = 0
        for row_id in ids:
            if self._gaps.pop(row_id, None) is None:
                if row_id > self._cursor + 1 and len(self._gaps) < MAX_GAPS:
                    # The ids just below it (at most a thousand) may still commit.
                    for missing in range(max(self._cursor + 1, row_id - 1000), row_id):
                        self._gaps[missing] = now + GAP_WAIT_SECONDS
                self._cursor = max(self._cursor, row_id)
            row = others.get(row_id)
            if row is None or (record := outbox.record_of(row)) is None:
                continue
            dispatch.dispatch_local(record.event, once=False, event_id=record.id)
            delivered += 1
        for missing, deadline in list(self._gaps.items()):
            if deadline < now:
                del self._gaps[missing]
        return delivered


def _ignore(ids: Sequence[int]) -> None:
    """What the transport took stays unsent all the same."""


relay = Relay()
