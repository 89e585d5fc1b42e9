"""``POST /channels/:id/generate-title {agentId}``: a title in the agent's words."""

from __future__ import annotations

import pytest
from django.test import Client

from elizabus import services
from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID
from tests.agents.helpers import ECHO
from tests.api.helpers import assert_error, assert_ok, new_id

pytestmark = pytest.mark.django_db


def _title(channel: object, agent_id: object) -> object:
    return Client().post(
        f"/api/messaging/channels/{channel}/generate-title",
        {"agentId": str(agent_id)},
        content_type="application/json",
    )


@pytest.fixture
def agent_id() -> str:
    return str(services.agent_register(name="Titler", responder=ECHO).entity_id)


def _say(*texts: str) -> None:
    author = new_id()
    for text in texts:
        services.message_create(
            channel_id=CENTRAL_CHANNEL_ID,
            server_id=DEFAULT_SERVER_ID,
            author_id=author,
            content=text,
        )


def test_fewer_than_four_messages_give_no_title_and_say_why(agent_id: str) -> None:
    _say("one", "two", "three")
    data = assert_ok(_title(CENTRAL_CHANNEL_ID, agent_id))
    assert data == {
        "title": None,
        "channelId": str(CENTRAL_CHANNEL_ID),
        "reason": "Not enough messages to generate a title",
    }


def test_a_title_comes_from_the_first_words_a_person_said(agent_id: str) -> None:
    _say("planning the spring garden this year, what to sow first", "b", "c", "d")
    data = assert_ok(_title(CENTRAL_CHANNEL_ID, agent_id))
    assert data == {
        "title": "Planning the spring garden this year",
        "channelId": str(CENTRAL_CHANNEL_ID),
    }


def test_an_unknown_or_stopped_agent_and_an_unknown_channel_are_not_found(agent_id: str) -> None:
    assert_error(_title(CENTRAL_CHANNEL_ID, new_id()), 404, "AGENT_NOT_FOUND")
    services.agent_set_enabled(agent_id=agent_id, enabled=False)
    assert_error(_title(CENTRAL_CHANNEL_ID, agent_id), 404, "AGENT_NOT_FOUND")
    services.agent_set_enabled(agent_id=agent_id, enabled=True)
    assert_error(_title(new_id(), agent_id), 404, "CHANNEL_NOT_FOUND")


@pytest.mark.parametrize("body", [{}, {"agentId": "nope"}, {"agentId": 3}])
def test_a_bad_agent_id_is_refused(body: dict[str, object]) -> None:
    response = Client().post(
        f"/api/messaging/channels/{CENTRAL_CHANNEL_ID}/generate-title",
        body,
        content_type="application/json",
    )
    assert_error(response, 400)
