"""The outbox table's statements: writing an event with its transaction, marking it sent,
finding what a crash or an outage left unsent, following other processes' events, pruning.

Only :mod:`.publish` writes events and only :mod:`.relay` reads them; both run these.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from .events import EVENT_TYPES, BusEvent
from .models import OutboxEvent

_origin: tuple[int, str] | None = None


def process_origin() -> str:
    """This process's name in the outbox (host:pid:nonce), made anew after a fork."""
    global _origin
    pid = os.getpid()
    if _origin is None or _origin[0] != pid:
        _origin = (pid, f"{socket.gethostname()}:{pid}:{secrets.token_hex(3)}")
    return _origin[1]


@dataclass(frozen=True)
class OutboxRecord:
    """An event with its outbox id, as the transports carry it."""

    id: int
    event: BusEvent
    origin: str


_WRITTEN = ("name", "data", "channel_id", "agent_id", "origin", "created_at")


@cache
def _insert_sql(vendor: str) -> tuple[str, bool]:
    """The outbox's INSERT, built once per backend (every bus event runs it, most inside a
    message post, where the ORM's compiling was a noticeable part of the post's CPU); whether it
    returns the id (else the cursor's lastrowid has it)."""
    quote = connection.ops.quote_name
    meta = OutboxEvent._meta
    columns = ", ".join(quote(meta.get_field(name).column) for name in _WRITTEN)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) "
        f"VALUES ({', '.join(['%s'] * len(_WRITTEN))})"
    )
    returning = vendor != "sqlite" and connection.features.can_return_columns_from_insert
    return (sql + f" RETURNING {quote(meta.pk.column)}" if returning else sql), returning


def write(event: BusEvent) -> OutboxRecord:
    """Stores ``event`` in the current transaction (or at once, under autocommit); each value
    is prepared by its model field, as ``OutboxEvent.objects.create`` would."""
    origin = process_origin()
    values = (
        event.name,
        event.to_dict(),
        getattr(event, "channel_id", "") or "",
        getattr(event, "agent_id", "") or "",
        origin,
        timezone.now(),
    )
    meta = OutboxEvent._meta
    params = [
        meta.get_field(name).get_db_prep_save(value, connection)
        for name, value in zip(_WRITTEN, values, strict=True)
    ]
    sql, returning = _insert_sql(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row_id = cursor.fetchone()[0] if returning else cursor.lastrowid
    return OutboxRecord(row_id, event, origin)


def record_of(row: OutboxEvent) -> OutboxRecord | None:
    """The record of a stored row; None for an event this version does not know."""
    event_type = EVENT_TYPES.get(row.name)
    if event_type is None or not isinstance(row.data, dict):
        return None
    return OutboxRecord(row.id, event_type.from_dict(row.data), row.origin)


def mark_sent(ids: Iterable[int]) -> None:
    ids = list(ids)
    if not ids:
        return
    # In a transaction: on SQLite that queues the write behind the process's other writers
    # (elizabus/db/sqlite3) instead of making them wait in SQLite's busy handler.
    with transaction.atomic():
        OutboxEvent.objects.filter(id__in=ids, sent_at__isnull=True).update(sent_at=timezone.now())


def claim_unsent(*, older_than: dt.timedelta, hold: dt.timedelta, limit: int) -> list[OutboxRecord]:
    """Claims the oldest unsent events committed more than ``older_than`` ago, that no relay
    holds, for ``hold``: what a writer that died or lost its transport left behind."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            OutboxEvent.objects.filter(sent_at__isnull=True, created_at__lt=now - older_than)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("id")
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return []
        OutboxEvent.objects.filter(id__in=ids).update(claimed_until=now + hold)
    rows = OutboxEvent.objects.filter(id__in=ids).order_by("id")
    return [record for row in rows if (record := record_of(row)) is not None]


def newest_id() -> int:
    return OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def read_after(
    after: int, also: Iterable[int], *, limit: int, origin: str
) -> tuple[list[int], list[OutboxEvent]]:
    """The ids past ``after`` (and those in ``also``, the gaps a reader waits for), by id, and
    the rows among them that another process than ``origin`` wrote: a process's own events,
    most of them on a single server, are not read back."""
    condition = Q(id__gt=after)
    also = list(also)
    if also:
        condition |= Q(id__in=also)
    found = list(
        OutboxEvent.objects.filter(condition).order_by("id").values_list("id", "origin")[:limit]
    )
    others = [row_id for row_id, row_origin in found if row_origin != origin]
    rows = list(OutboxEvent.objects.filter(id__in=others).order_by("id")) if others else []
    return [row_id for row_id, _ in found], rows


def prune(*, older_than: dt.timedelta) -> int:
    """Deletes the sent events committed more than ``older_than`` ago; returns how many.

    The newest row always stays: SQLite numbers a row after the highest id left, and ids must
    not be used twice (receivers drop an id they have seen)."""
    deleted, _ = (
        OutboxEvent.objects.filter(
            sent_at__isnull=False, created_at__lt=timezone.now() - older_than
        )
        .exclude(id=newest_id())
        .delete()
    )
    return deleted
