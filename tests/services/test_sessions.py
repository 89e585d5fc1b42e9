"""Sessions (``elizabus.services.sessions``): the reference's timeout precedence and bounds,
expiry sliding with activity up to the maximum duration, the events a send publishes, and
expired sessions deleted on access and by pruning.

Time passing is played by moving a session's timestamps back (:func:`age`).
"""

from __future__ import annotations

import datetime as dt
import math
import uuid

import pytest

from elizabus import services
from elizabus.bus.events import NewMessage, ParticipantUpdate
from elizabus.exceptions import Gone, InvalidInput, NotFound
from elizabus.models import DEFAULT_SERVER_ID, Channel, Message, Participant, Session
from elizabus.services.sessions import TimeoutRequest
from tests import factories
from tests.conftest import Published

pytestmark = pytest.mark.django_db


def age(session: Session, minutes: float) -> Session:
    """The session as it is ``minutes`` later: every timestamp moved back."""
    delta = dt.timedelta(minutes=minutes)
    Session.objects.filter(id=session.id).update(
        created_at=session.created_at - delta,
        last_activity=session.last_activity - delta,
        expires_at=session.expires_at - delta,
    )
    return Session.objects.get(id=session.id)


def minutes_between(start: dt.datetime, end: dt.datetime) -> float:
    return (end - start).total_seconds() / 60


@pytest.fixture
def agent() -> uuid.UUID:
    return factories.make_agent(name="Eliza").pk


def make(agent: uuid.UUID, **timeout: object) -> Session:
    return services.session_create(
        agent_id=agent, user_id=uuid.uuid4(), timeout=TimeoutRequest(**timeout)
    )


# --- timeouts: defaults, the agent's settings, the request --------------------------------------
def test_defaults_are_the_references(agent: uuid.UUID) -> None:
    session = make(agent)
    assert (session.timeout_minutes, session.auto_renew) == (30, True)
    assert (session.max_duration_minutes, session.warning_threshold_minutes) == (720, 5)
    assert minutes_between(session.created_at, session.expires_at) == pytest.approx(30)


def test_the_agents_settings_come_before_the_defaults_and_after_the_request() -> None:
    character = {
        "name": "Patient",
        "settings": {"SESSION_TIMEOUT_MINUTES": "60", "SESSION_AUTO_RENEW": "false"},
        "secrets": {"SESSION_MAX_DURATION_MINUTES": "120"},
    }
    agent = factories.make_agent(name="Patient", character=character).pk
    from_agent = make(agent)
    assert (from_agent.timeout_minutes, from_agent.auto_renew) == (60, False)
    assert from_agent.max_duration_minutes == 120
    from_request = make(agent, timeout_minutes=45, auto_renew=True)
    assert (from_request.timeout_minutes, from_request.auto_renew) == (45, True)


@pytest.mark.parametrize(
    ("asked", "expected"),
    [(1, 5), (4.5, 5), (90, 90), (5000, 1440), (math.nan, 30), (math.inf, 30)],
)
def test_a_requested_timeout_is_clamped_and_junk_is_the_default(
    agent: uuid.UUID, asked: float, expected: float
) -> None:
    assert make(agent, timeout_minutes=asked).timeout_minutes == expected


@pytest.mark.parametrize(
    ("asked", "expected"), [(10, 30), (100, 100), (10_000, 2880), (-math.inf, 720)]
)
def test_the_maximum_duration_is_at_least_the_timeout_and_at_most_twice_the_max(
    agent: uuid.UUID, asked: float, expected: float
) -> None:
    assert make(agent, max_duration_minutes=asked).max_duration_minutes == expected


def test_an_unknown_or_disabled_agent_is_not_found(agent: uuid.UUID) -> None:
    with pytest.raises(NotFound) as unknown:
        services.session_create(agent_id=uuid.uuid4(), user_id=uuid.uuid4())
    assert unknown.value.code == "AGENT_NOT_FOUND"
    services.agent_set_enabled(agent_id=agent, enabled=False)
    with pytest.raises(NotFound):
        services.session_create(agent_id=agent, user_id=uuid.uuid4())
    assert not Session.objects.exists()


# --- the channel and the message ----------------------------------------------------------------
def test_a_session_has_a_dm_channel_of_its_own_with_both_parties(agent: uuid.UUID) -> None:
    user = uuid.uuid4()
    session = services.session_create(agent_id=agent, user_id=user, metadata={"platform": "web"})
    channel = Channel.objects.get(id=session.channel_id)
    assert (channel.name, channel.type, channel.server_id) == (
        f"session-{session.id}",
        "DM",
        DEFAULT_SERVER_ID,
    )
    assert channel.metadata == {
        "sessionId": str(session.id),
        "agentId": str(agent),
        "userId": str(user),
        "timeoutConfig": {
            "timeoutMinutes": 30,
            "autoRenew": True,
            "maxDurationMinutes": 720,
            "warningThresholdMinutes": 5,
        },
        "platform": "web",
    }
    members = set(Participant.objects.filter(channel=channel).values_list("entity_id", flat=True))
    assert members == {agent, user}


def test_a_sent_message_is_the_references_and_goes_on_the_bus(
    agent: uuid.UUID, published: Published, django_capture_on_commit_callbacks
) -> None:
    session = services.session_create(
        agent_id=agent, user_id=uuid.uuid4(), metadata={"ethAddress": "0xabc"}
    )
    with django_capture_on_commit_callbacks(execute=True):
        message, status = services.session_message_send(
            session_id=session.id,
            content="I am sad.",
            attachments=[{"type": "image", "url": "https://example.com/a.png"}],
            metadata={"tag": "x"},
        )
    expected_metadata = {
        **Channel.objects.get(id=session.channel_id).metadata,
        "sessionId": str(session.id),
        "tag": "x",
    }
    assert published.events == [
        NewMessage(
            id=str(message.id),
            channel_id=str(session.channel_id),
            message_server_id=str(DEFAULT_SERVER_ID),
            author_id=str(session.user_id),
            content="I am sad.",
            raw_message={
                "content": "I am sad.",
                "attachments": [{"type": "image", "url": "https://example.com/a.png"}],
            },
            source_type="user",
            created_at=int(message.created_at.timestamp() * 1000),
            metadata=expected_metadata,
            seq=1,
        )
    ]
    assert expected_metadata["ethAddress"] == "0xabc"
    assert status.renewal_count == 1 and status.was_renewed


def test_session_creation_publishes_its_channels_members(
    agent: uuid.UUID, published: Published, django_capture_on_commit_callbacks
) -> None:
    user = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        session = services.session_create(agent_id=agent, user_id=user)
    channel = str(session.channel_id)
    assert published.events == [
        ParticipantUpdate(type="added", channel_id=channel, entity_id=str(agent)),
        ParticipantUpdate(type="added", channel_id=channel, entity_id=str(user)),
    ]


# --- expiry and renewal -------------------------------------------------------------------------
def test_activity_slides_the_expiry(agent: uuid.UUID) -> None:
    session = age(make(agent), 20)
    services.session_message_send(session_id=session.id, content="still here")
    renewed = Session.objects.get(id=session.id)
    assert renewed.renewal_count == 1
    assert renewed.expires_at > session.expires_at
    assert minutes_between(renewed.last_activity, renewed.expires_at) == pytest.approx(30)


def test_without_auto_renew_activity_does_not_move_the_expiry(agent: uuid.UUID) -> None:
    session = age(make(agent, auto_renew=False), 20)
    _, status = services.session_message_send(session_id=session.id, content="hello")
    after = Session.objects.get(id=session.id)
    assert not status.was_renewed
    assert after.expires_at == session.expires_at
    assert after.last_activity > session.last_activity


def test_the_expiry_never_passes_the_maximum_duration(agent: uuid.UUID) -> None:
    session = age(make(agent, timeout_minutes=30, max_duration_minutes=60), 25)
    session = age(services.session_heartbeat(session_id=session.id), 25)
    renewed = services.session_heartbeat(session_id=session.id)
    assert renewed.renewal_count == 2
    assert renewed.expires_at == session.created_at + dt.timedelta(minutes=60)


def test_renewal_fails_past_the_maximum_duration(agent: uuid.UUID) -> None:
    session = make(agent, timeout_minutes=60, max_duration_minutes=60)
    Session.objects.filter(id=session.id).update(
        created_at=session.created_at - dt.timedelta(minutes=61)
    )
    with pytest.raises(InvalidInput) as refused:
        services.session_renew(session_id=session.id)
    assert refused.value.code == "SESSION_RENEWAL_FAILED"


def test_a_forced_renewal_works_without_auto_renew(agent: uuid.UUID) -> None:
    session = age(make(agent, auto_renew=False), 10)
    renewed = services.session_renew(session_id=session.id)
    assert renewed.renewal_count == 1
    assert renewed.expires_at > session.expires_at


def test_touching_an_expired_session_deletes_it(agent: uuid.UUID) -> None:
    session = age(make(agent), 31)
    with pytest.raises(Gone) as gone:
        services.session_require_active(session_id=session.id)
    assert gone.value.code == "SESSION_EXPIRED"
    assert not Session.objects.filter(id=session.id).exists()
    # Its conversation stays.
    assert Channel.objects.filter(id=session.channel_id).exists()
    with pytest.raises(NotFound):
        services.session_require_active(session_id=session.id)


def test_prune_deletes_only_the_expired(agent: uuid.UUID) -> None:
    live = make(agent)
    expired = age(make(agent), 31)
    Message.objects.all().delete()
    assert services.sessions_prune() == 1
    assert set(Session.objects.values_list("id", flat=True)) == {live.id}
    assert Channel.objects.filter(id=expired.channel_id).exists()


# --- the timeout route's service ----------------------------------------------------------------
def test_a_timeout_change_outside_the_bounds_is_refused(agent: uuid.UUID) -> None:
    session = make(agent)
    for minutes in (1, 4.9, 1441):
        with pytest.raises(InvalidInput):
            services.session_timeout_update(
                session_id=session.id, timeout=TimeoutRequest(timeout_minutes=minutes)
            )


def test_a_timeout_change_keeps_what_it_does_not_name(agent: uuid.UUID) -> None:
    session = make(agent, timeout_minutes=60, max_duration_minutes=600)
    changed = services.session_timeout_update(
        session_id=session.id, timeout=TimeoutRequest(auto_renew=False)
    )
    assert (changed.timeout_minutes, changed.auto_renew, changed.max_duration_minutes) == (
        60,
        False,
        600,
    )
    longer = services.session_timeout_update(
        session_id=session.id, timeout=TimeoutRequest(timeout_minutes=90)
    )
    assert minutes_between(longer.created_at, longer.expires_at) == pytest.approx(90)


def test_deleting_an_unknown_session_is_not_found() -> None:
    with pytest.raises(NotFound):
        services.session_delete(session_id=uuid.uuid4())
