"""Fixtures of the REST API tests: ``api`` (a JSON client), ``room`` (a channel with a user and an
agent), ``unchanged``, which proves that a rejected write left no row behind, and ``published``
(from the bus tests), which records the events delivered.

Rows come from :mod:`tests.factories`, that is through the services.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from django.test import Client

from elizabus.models import DEFAULT_SERVER_ID
from tests import factories
from tests.conftest import db_state

from .helpers import Api, Room


@pytest.fixture
def api(client: Client, db: None) -> Api:
    return Api(client)


@pytest.fixture
def unchanged(db: None) -> Callable[[], AbstractContextManager[None]]:
    """``with unchanged(): ...`` fails unless every domain row is the same afterwards."""

    @contextmanager
    def check() -> Iterator[None]:
        before = db_state()
        yield
        assert db_state() == before

    return check


@pytest.fixture
def room(db: None) -> Room:
    alice = factories.make_user(name="Alice").id
    agent = factories.make_agent(name="Eliza", server_ids=[DEFAULT_SERVER_ID])
    channel = factories.make_channel(name="general", participant_ids=[alice, agent.pk])
    return Room(channel=channel, alice=alice, agent=agent)
