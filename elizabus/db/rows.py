"""Hand-built SQL for the statements every message post runs.

The ORM compiles a query on every call, and for the few statements of a post that compiling
was a large part of the request's CPU (bench/README.md). These build their SQL once per
database backend from the models' own metadata, and adapt each value through its model field as
the ORM would, so they store exactly what ``Model.objects.create`` stores, on SQLite and
PostgreSQL alike.

Only the services layer calls the writes (it is the only writer); they run inside its
transaction. The reads are the selectors' for the checks every post costs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from functools import cache
from typing import Any

from django.db import connection, models
from django.db.models import Model
from django.utils import timezone

from elizabus.models import Channel, Job, Message


@cache
def _insert_sql(model: type[Model], vendor: str, ignore_conflicts: bool) -> str:
    quote = connection.ops.quote_name
    fields = model._meta.concrete_fields
    columns = ", ".join(quote(field.column) for field in fields)
    values = ", ".join(["%s"] * len(fields))
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({values}){conflict}"


def insert(instance: Model, *, ignore_conflicts: bool = False) -> None:
    """Inserts ``instance`` as a new row, every field's value prepared by the field itself
    (``auto_now`` stamps included). With ``ignore_conflicts`` an existing key wins silently."""
    fields = type(instance)._meta.concrete_fields
    params = [
        field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields
    ]
    sql = _insert_sql(type(instance), connection.vendor, ignore_conflicts)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    instance._state.adding = False
    instance._state.db = connection.alias


@cache
def _channel_server_sql(vendor: str, lock: bool) -> str:
    quote = connection.ops.quote_name
    server = Channel._meta.get_field("server")
    sql = (
        f"SELECT {quote(server.column)} FROM {quote(Channel._meta.db_table)} "
        f"WHERE {quote(Channel._meta.pk.column)} = %s"
    )
    # SQLite has no row locks: its write transaction already holds the whole database.
    return sql + " FOR UPDATE" if lock and connection.features.has_select_for_update else sql


def channel_server(channel_id: uuid.UUID, *, lock: bool = False) -> uuid.UUID | None:
    """The id of the server channel ``channel_id`` is on, or None if there is no such channel.
    With ``lock`` the channel's row stays locked until the transaction ends, so concurrent posts
    to one channel take turns."""
    sql = _channel_server_sql(connection.vendor, lock)
    params = [Channel._meta.pk.get_db_prep_value(channel_id, connection)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else Channel._meta.get_field("server").to_python(row[0])


@cache
def _take_seq_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    channel = quote(Channel._meta.db_table)
    last_seq = quote(Channel._meta.get_field("last_seq").column)
    created_at = quote(Message._meta.get_field("created_at").column)
    newest = (
        f"SELECT {created_at} FROM {quote(Message._meta.db_table)} "
        f"WHERE {quote(Message._meta.get_field('channel').column)} = %s "
        f"ORDER BY {created_at} DESC LIMIT 1"
    )
    return (
        f"UPDATE {channel} SET {last_seq} = {last_seq} + 1 "
        f"WHERE {quote(Channel._meta.pk.column)} = %s "
        f"RETURNING {quote(Channel._meta.get_field('server').column)}, {last_seq}, ({newest})"
    )


def channel_take_seq(channel_id: uuid.UUID) -> tuple[uuid.UUID, int, dt.datetime | None] | None:
    """Takes the channel's next seq for a message stored in this transaction: returns the
    channel's server, the seq, and when its newest message was stored (None for an empty
    channel); None if there is no such channel.

    One statement. Its UPDATE locks the channel's row until the transaction ends (SQLite's
    write transaction holds the whole database), so concurrent posts to one channel take turns
    and their seqs follow their commits; a transaction that rolls back gives its seq back."""
    value = Channel._meta.pk.get_db_prep_value(channel_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(_take_seq_sql(connection.vendor), [value, value])
        row = cursor.fetchone()
    if row is None:
        return None
    server_id = Channel._meta.get_field("server").to_python(row[0])
    return server_id, row[1], None if row[2] is None else _aware(row[2])


def channel_give_back_seq(channel_id: uuid.UUID) -> None:
    """Undoes :func:`channel_take_seq` in the same transaction (its lock still held), for a
    post that turned out to store nothing."""
    Channel.objects.filter(id=channel_id).update(last_seq=models.F("last_seq") - 1)


def _aware(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return timezone.make_aware(value, dt.UTC) if timezone.is_naive(value) else value


@cache
def _job_in_channel_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    meta = Job._meta
    columns = ", ".join(quote(meta.get_field(name).column) for name in ("id", "agent_id", "status"))
    return (
        f"SELECT {columns} FROM {quote(meta.db_table)} "
        f"WHERE {quote(meta.get_field('channel_id').column)} = %s"
    )


def job_in_channel(channel_id: uuid.UUID | str) -> tuple[uuid.UUID, uuid.UUID, str] | None:
    """The job whose channel this is (a job has a channel of its own), as its id, agent id and
    status; None for the channels of no job, which are nearly all of them."""
    field = Job._meta.get_field("channel_id")
    sql = _job_in_channel_sql(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [field.get_db_prep_value(field.to_python(channel_id), connection)])
        row = cursor.fetchone()
    if row is None:
        return None
    to_uuid = Job._meta.get_field("agent_id").to_python
    return to_uuid(row[0]), to_uuid(row[1]), row[2]


# What a page of messages holds for each message (``api.representations.message_data``).
MESSAGE_COLUMNS = (
    "id",
    "channel_id",
    "author_id",
    "content",
    "raw_message",
    "metadata",
    "in_reply_to_id",
    "source_type",
    "source_id",
    "created_at",
    "updated_at",
    "seq",
)


# A message's version as the database holds it, unconverted: its id and ``updated_at``. Every
# change to a message goes through the ORM's save, whose ``auto_now`` gives it a new version.
MessageVersion = tuple[Any, Any]


@cache
def _versions_sql(vendor: str, with_before: bool) -> str:
    quote = connection.ops.quote_name
    created_at = quote(Message._meta.get_field("created_at").column)
    pk = quote(Message._meta.pk.column)
    return (
        f"SELECT {pk}, {quote(Message._meta.get_field('updated_at').column)} "
        f"FROM {quote(Message._meta.db_table)} "
        f"WHERE {quote(Message._meta.get_field('channel').column)} = %s"
        f"{f' AND {created_at} < %s' if with_before else ''} "
        f"ORDER BY {created_at} DESC, {pk} DESC LIMIT %s"
    )


def message_page_versions(
    channel_id: uuid.UUID, *, limit: int, before: dt.datetime | None = None
) -> list[MessageVersion]:
    """The versions of the newest ``limit`` messages of a channel (``before`` exclusive),
    newest first: a page's contents, read from the index without converting anything."""
    params: list[Any] = [
        Message._meta.get_field("channel").get_db_prep_value(channel_id, connection)
    ]
    if before is not None:
        params.append(Message._meta.get_field("created_at").get_db_prep_value(before, connection))
    params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(_versions_sql(connection.vendor, before is not None), params)
        return [tuple(row) for row in cursor.fetchall()]


@cache
def _message_converters(vendor: str) -> list[tuple[int, list, Any]]:
    """The converters the ORM applies to :data:`MESSAGE_COLUMNS` on this backend."""
    table = Message._meta.db_table
    converters = []
    for index, name in enumerate(MESSAGE_COLUMNS):
        field = Message._meta.get_field(name)
        column = field.get_col(table)
        found = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        if found:
            converters.append((index, found, column))
    return converters


def messages_by_id(raw_ids: list[Any]) -> dict[Any, tuple[MessageVersion, dict[str, Any]]]:
    """The messages of ``raw_ids`` (ids as :func:`message_page_versions` gives them), each with
    its version and its row of :data:`MESSAGE_COLUMNS` holding what the ORM's ``values()``
    would. A message deleted meanwhile is missing."""
    if not raw_ids:
        return {}
    quote = connection.ops.quote_name
    fields = [Message._meta.get_field(name) for name in MESSAGE_COLUMNS]
    sql = (
        f"SELECT {', '.join(quote(field.column) for field in fields)} "
        f"FROM {quote(Message._meta.db_table)} "
        f"WHERE {quote(Message._meta.pk.column)} IN ({', '.join(['%s'] * len(raw_ids))})"
    )
    converters = _message_converters(connection.vendor)
    updated_at = MESSAGE_COLUMNS.index("updated_at")
    with connection.cursor() as cursor:
        cursor.execute(sql, raw_ids)
        fetched = cursor.fetchall()
    found = {}
    for row in fetched:
        values = list(row)
        version = (values[0], values[updated_at])
        for index, functions, column in converters:
            value = values[index]
            for function in functions:
                value = function(value, column, connection)
            values[index] = value
        found[version[0]] = (version, dict(zip(MESSAGE_COLUMNS, values, strict=True)))
    return found
