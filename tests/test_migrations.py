"""The migrations: the rows the data migration creates, and no model change left unmigrated.

The suite's conftest recreates the default rows for every test, so these tests delete them and
run the data migration's own functions, on the historical models of that migration, to show what
the migration itself does. ``tests/test_entrypoint.py`` migrates a fresh database end to end.
"""

from __future__ import annotations

import datetime as dt
import importlib
from types import ModuleType, SimpleNamespace

import pytest
from django.apps.registry import Apps
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from elizabus.models import (
    CENTRAL_CHANNEL_ID,
    DEFAULT_SERVER_ID,
    Channel,
    ChannelType,
    Message,
    MessageServer,
)
from tests import factories

pytestmark = pytest.mark.django_db

DATA_MIGRATION = "0002_default_server_and_central_channel"


@pytest.fixture
def migration() -> ModuleType:
    return importlib.import_module(f"elizabus.migrations.{DATA_MIGRATION}")


@pytest.fixture
def historical_apps() -> Apps:
    """The models as they were when the data migration ran."""
    loader = MigrationExecutor(connection).loader
    return loader.project_state(("elizabus", DATA_MIGRATION)).apps


@pytest.fixture
def no_default_rows() -> None:
    Channel.objects.filter(id=CENTRAL_CHANNEL_ID).delete()
    MessageServer.objects.filter(id=DEFAULT_SERVER_ID).delete()


@pytest.mark.usefixtures("no_default_rows")
def test_it_creates_the_default_server(migration: ModuleType, historical_apps: Apps) -> None:
    migration.create_defaults(historical_apps, None)

    server = MessageServer.objects.get(id=DEFAULT_SERVER_ID)
    assert str(server.id) == "00000000-0000-0000-0000-000000000000"
    assert server.name == "Default Server"
    assert server.source_type == "eliza_default"


@pytest.mark.usefixtures("no_default_rows")
def test_it_creates_the_central_channel_as_a_world_on_the_default_server(
    migration: ModuleType, historical_apps: Apps
) -> None:
    migration.create_defaults(historical_apps, None)

    channel = Channel.objects.get(id=CENTRAL_CHANNEL_ID)
    assert str(channel.id) == "00000000-0000-0000-0000-000000000000"
    assert channel.type == ChannelType.WORLD
    assert channel.server_id == DEFAULT_SERVER_ID


@pytest.mark.usefixtures("no_default_rows")
def test_it_is_idempotent_and_reversible(migration: ModuleType, historical_apps: Apps) -> None:
    migration.create_defaults(historical_apps, None)
    migration.create_defaults(historical_apps, None)
    assert Channel.objects.filter(id=CENTRAL_CHANNEL_ID).count() == 1

    migration.remove_defaults(historical_apps, None)

    assert not Channel.objects.filter(id=CENTRAL_CHANNEL_ID).exists()
    assert not MessageServer.objects.filter(id=DEFAULT_SERVER_ID).exists()


def test_the_models_need_no_new_migration() -> None:
    # --check exits with status 1 when a model change has no migration yet.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


# --- 0009: the messages already stored get their seqs ---------------------------------------------


def test_the_stored_messages_are_numbered_per_channel_in_listing_order() -> None:
    migration = importlib.import_module("elizabus.migrations.0009_message_seq")
    apps = MigrationExecutor(connection).loader.project_state(("elizabus", "0009_message_seq")).apps
    author = factories.make_user()
    first, second, empty = (factories.make_channel() for _ in range(3))
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    # Stored before there were seqs: numbered by nothing, their times out of insertion order,
    # two of them in one millisecond (the id decides, as in a listing).
    at = {first.id: [5, 1, 3, 3], second.id: [2, 0]}
    for channel_id, times in at.items():
        for n, offset in enumerate(times):
            message = factories.make_message(channel_id=channel_id, author_id=author.id)
            Message.objects.filter(id=message.id).update(
                created_at=base + dt.timedelta(milliseconds=offset), seq=-1000 - n
            )
    Channel.objects.update(last_seq=0)

    migration.number_messages(apps, SimpleNamespace(connection=connection))

    for channel in (first, second):
        listed = Message.objects.filter(channel_id=channel.id).order_by("created_at", "id")
        assert [m.seq for m in listed] == list(range(1, len(at[channel.id]) + 1))
    assert {c.id: c.last_seq for c in Channel.objects.filter(id__in=at.keys() | {empty.id})} == {
        first.id: 4,
        second.id: 2,
        empty.id: 0,
    }
