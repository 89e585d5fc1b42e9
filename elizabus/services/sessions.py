"""Sessions: a user's conversation with one agent, expiring unless kept alive.

The reference keeps sessions in one process's memory (docs/compatibility.md, "Sessions and
jobs"); here they are rows, so every write locks its row (``select_for_update``) and two
processes renewing one session take turns. Expiry is enforced where a session is touched
(:func:`session_require_active` deletes an expired one and raises
:class:`~elizabus.exceptions.Gone`) and by :func:`sessions_prune`, run from ``manage.py
sessions_prune``, instead of a timer in every process.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from elizabus import js, selectors
from elizabus.conf import app_settings
from elizabus.exceptions import (
    AgentNotFound,
    InvalidInput,
    SessionExpired,
    SessionNotFound,
    SessionRenewalFailed,
)
from elizabus.models import DEFAULT_SERVER_ID, Agent, ChannelType, Message, Session

from .channels import channel_create
from .messages import message_create


@dataclass(frozen=True)
class TimeoutConfig:
    """The timeouts in force for a session, in minutes (the reference's ``timeoutConfig``)."""

    timeout_minutes: float
    auto_renew: bool
    max_duration_minutes: float
    warning_threshold_minutes: float

    def as_wire(self) -> dict[str, Any]:
        return {
            "timeoutMinutes": js.wire_number(self.timeout_minutes),
            "autoRenew": self.auto_renew,
            "maxDurationMinutes": js.wire_number(self.max_duration_minutes),
            "warningThresholdMinutes": js.wire_number(self.warning_threshold_minutes),
        }


@dataclass(frozen=True)
class TimeoutRequest:
    """What a client asked for; None means not given. A number that is not finite (the client
    sent ``"NaN"`` or ``"Infinity"``) falls back to the default, as in the reference."""

    timeout_minutes: float | None = None
    auto_renew: bool | None = None
    max_duration_minutes: float | None = None
    warning_threshold_minutes: float | None = None


@dataclass(frozen=True)
class SessionStatus:
    """The ``sessionStatus`` a message send answers with."""

    expires_at: dt.datetime
    renewal_count: int
    was_renewed: bool
    is_near_expiration: bool


def _minutes(value: float) -> dt.timedelta:
    return dt.timedelta(minutes=value)


def _defaults() -> TimeoutConfig:
    return TimeoutConfig(
        timeout_minutes=float(app_settings.SESSION_DEFAULT_TIMEOUT_MINUTES),
        auto_renew=True,
        max_duration_minutes=float(app_settings.SESSION_MAX_DURATION_MINUTES),
        warning_threshold_minutes=float(app_settings.SESSION_WARNING_THRESHOLD_MINUTES),
    )


def _clamp(value: float, low: float, high: float) -> float:
    return float(max(low, min(high, value)))


def _setting_minutes(raw: Any, default: float, low: float, high: float) -> float:
    """An agent setting read as the reference reads it: ``parseInt``, clamped; junk is default."""
    try:
        value = float(int(float(str(raw).strip())))
    except (ValueError, OverflowError):
        return default
    return _clamp(value, low, high)


def agent_timeout_config(agent: Agent) -> TimeoutConfig:
    """The agent's own session settings (``SESSION_TIMEOUT_MINUTES``, ``SESSION_AUTO_RENEW``,
    ``SESSION_MAX_DURATION_MINUTES``, ``SESSION_WARNING_THRESHOLD_MINUTES``) over the defaults,
    read from its character's ``settings`` (or ``secrets``), as ``runtime.getSetting`` does."""
    character = agent.character if isinstance(agent.character, dict) else {}
    settings: dict[str, Any] = {}
    for key in ("secrets", "settings"):
        if isinstance(character.get(key), dict):
            settings.update(character[key])
    defaults = _defaults()
    low = float(app_settings.SESSION_MIN_TIMEOUT_MINUTES)
    high = float(app_settings.SESSION_MAX_TIMEOUT_MINUTES)

    def read(key: str, default: float, low: float, high: float) -> float:
        raw = settings.get(key)
        return default if raw in (None, "") else _setting_minutes(raw, default, low, high)

    auto_renew = settings.get("SESSION_AUTO_RENEW")
    return TimeoutConfig(
        timeout_minutes=read("SESSION_TIMEOUT_MINUTES", defaults.timeout_minutes, low, high),
        auto_renew=defaults.auto_renew if auto_renew in (None, "") else str(auto_renew) == "true",
        max_duration_minutes=read(
            "SESSION_MAX_DURATION_MINUTES", defaults.max_duration_minutes, low, high * 2
        ),
        warning_threshold_minutes=read(
            "SESSION_WARNING_THRESHOLD_MINUTES", defaults.warning_threshold_minutes, 1, high
        ),
    )


def merge_timeout_config(base: TimeoutConfig, request: TimeoutRequest) -> TimeoutConfig:
    """``request`` over ``base`` with the reference's bounds: the timeout within
    [min, max], the maximum duration within [timeout, twice max], the warning at least a minute."""
    defaults = _defaults()
    low = float(app_settings.SESSION_MIN_TIMEOUT_MINUTES)
    high = float(app_settings.SESSION_MAX_TIMEOUT_MINUTES)
    timeout = base.timeout_minutes
    if request.timeout_minutes is not None:
        value = request.timeout_minutes
        timeout = _clamp(value, low, high) if math.isfinite(value) else defaults.timeout_minutes
    max_duration = base.max_duration_minutes
    if request.max_duration_minutes is not None:
        value = request.max_duration_minutes
        max_duration = (
            float(max(timeout, min(high * 2, value)))
            if math.isfinite(value)
            else defaults.max_duration_minutes
        )
    warning = base.warning_threshold_minutes
    if request.warning_threshold_minutes is not None:
        value = request.warning_threshold_minutes
        warning = (
            float(max(1.0, value)) if math.isfinite(value) else defaults.warning_threshold_minutes
        )
    auto_renew = base.auto_renew if request.auto_renew is None else request.auto_renew
    return TimeoutConfig(timeout, auto_renew, max_duration, warning)


def session_timeout_config(session: Session) -> TimeoutConfig:
    return TimeoutConfig(
        timeout_minutes=session.timeout_minutes,
        auto_renew=session.auto_renew,
        max_duration_minutes=session.max_duration_minutes,
        warning_threshold_minutes=session.warning_threshold_minutes,
    )


def _apply_config(session: Session, config: TimeoutConfig) -> None:
    session.timeout_minutes = config.timeout_minutes
    session.auto_renew = config.auto_renew
    session.max_duration_minutes = config.max_duration_minutes
    session.warning_threshold_minutes = config.warning_threshold_minutes


def expiration(
    *, created_at: dt.datetime, last_activity: dt.datetime, config: TimeoutConfig, now: dt.datetime
) -> dt.datetime:
    """The reference's ``calculateExpirationDate``: a timeout after the last activity (after the
    creation without auto-renewal), never past the maximum duration from the creation."""
    timeout = _minutes(config.timeout_minutes)
    max_duration = _minutes(config.max_duration_minutes)
    if (now - created_at) + timeout > max_duration:
        return created_at + max_duration
    return (last_activity if config.auto_renew else created_at) + timeout


def time_remaining(session: Session, now: dt.datetime) -> dt.timedelta:
    return max(dt.timedelta(0), session.expires_at - now)


def is_near_expiration(session: Session, now: dt.datetime) -> bool:
    remaining = session.expires_at - now
    return dt.timedelta(0) < remaining <= _minutes(session.warning_threshold_minutes)


def _renew(session: Session, now: dt.datetime, *, force: bool = False) -> bool:
    """Slides the session's expiry from now (``renewSession``): only with auto-renewal (unless
    ``force``) and before the maximum duration is reached. Returns whether it renewed."""
    if not (session.auto_renew or force):
        return False
    if now - session.created_at >= _minutes(session.max_duration_minutes):
        return False
    session.last_activity = now
    session.renewal_count += 1
    config = session_timeout_config(session)
    if force:
        config = TimeoutConfig(
            config.timeout_minutes,
            True,
            config.max_duration_minutes,
            config.warning_threshold_minutes,
        )
    session.expires_at = expiration(
        created_at=session.created_at, last_activity=now, config=config, now=now
    )
    return True


def _locked(session_id: uuid.UUID) -> Session:
    """The session, locked until commit; NotFound or Gone (the expired session is deleted by
    :func:`session_require_active`, which callers run first)."""
    session = Session.objects.select_for_update().filter(id=session_id).first()
    if session is None:
        raise SessionNotFound(f"Session with ID '{session_id}' not found")
    if session.expires_at <= timezone.now():
        raise SessionExpired(_expired_message(session))
    return session


def _expired_message(session: Session) -> str:
    return f"Session '{session.id}' expired at {js.iso(session.expires_at)}"


def session_require_active(*, session_id: uuid.UUID) -> Session:
    """The session if it exists and has not expired. An expired one is deleted now (the
    reference's 410 and delete), then :class:`Gone` is raised: outside any transaction, so the
    deletion stands."""
    session = selectors.session_get(session_id)
    if session is None:
        raise SessionNotFound(f"Session with ID '{session_id}' not found")
    if session.expires_at <= timezone.now():
        Session.objects.filter(id=session_id, expires_at__lte=timezone.now()).delete()
        raise SessionExpired(_expired_message(session))
    return session


@transaction.atomic
def session_create(
    *,
    agent_id: uuid.UUID,
    user_id: uuid.UUID,
    metadata: dict[str, Any] | None = None,
    timeout: TimeoutRequest | None = None,
) -> Session:
    """A session of ``user_id`` with an enabled agent, in a new DM channel on the default server
    named ``session-<id>`` whose metadata carries the session's ids, timeouts and ``metadata``.

    Both the agent and the user are participants (the reference seats only the agent): a
    socket may join only a channel its entity is in (docs/realtime.md, "Access rules"), and the
    user's client joins this one to hear the agent's answers.
    """
    agent = selectors.agent_get(agent_id)
    if agent is None or not agent.enabled:
        raise AgentNotFound(f"Agent with ID '{agent_id}' not found")
    config = merge_timeout_config(agent_timeout_config(agent), timeout or TimeoutRequest())
    session_id = uuid.uuid4()
    metadata = metadata or {}
    channel = channel_create(
        server_id=DEFAULT_SERVER_ID,
        name=f"session-{session_id}",
        type=ChannelType.DM,
        participant_ids=[agent_id, user_id],
        metadata={
            "sessionId": str(session_id),
            "agentId": str(agent_id),
            "userId": str(user_id),
            "timeoutConfig": config.as_wire(),
            **metadata,
        },
    )
    now = timezone.now()
    session = Session(
        id=session_id,
        agent=agent,
        user_id=user_id,
        channel=channel,
        metadata=metadata,
        created_at=now,
        last_activity=now,
        expires_at=expiration(created_at=now, last_activity=now, config=config, now=now),
    )
    _apply_config(session, config)
    session.save(force_insert=True)
    return session


@transaction.atomic
def session_message_send(
    *,
    session_id: uuid.UUID,
    content: str,
    attachments: list[Any] | None = None,
    metadata: dict[str, Any] | None = None,
    message_id: uuid.UUID | None = None,
) -> tuple[Message, SessionStatus]:
    """The user's message in the session's channel, through ``message_create`` (so on the bus as
    ``new_message``, to the agent and the channel's sockets), after renewing the session.

    The message is the reference's: ``sourceType`` ``user``, ``rawMessage {content,
    attachments}``, metadata ``{...channel metadata, sessionId, ...metadata}``.
    """
    session = _locked(session_id)
    now = timezone.now()
    was_renewed = _renew(session, now)
    if not session.auto_renew:
        session.last_activity = now
    session.save(update_fields=["last_activity", "renewal_count", "expires_at"])
    raw_message: dict[str, Any] = {"content": content}
    if attachments is not None:
        raw_message["attachments"] = attachments
    channel_metadata = selectors.channel_metadata(session.channel_id)
    message = message_create(
        channel_id=session.channel_id,
        author_id=session.user_id,
        content=content,
        message_id=message_id,
        raw_message=raw_message,
        metadata={**channel_metadata, "sessionId": str(session.id), **(metadata or {})},
        source_type="user",
    )
    status = SessionStatus(
        expires_at=session.expires_at,
        renewal_count=session.renewal_count,
        was_renewed=was_renewed,
        is_near_expiration=is_near_expiration(session, now),
    )
    return message, status


@transaction.atomic
def session_renew(*, session_id: uuid.UUID) -> Session:
    """Renews the session now, with or without auto-renewal; past its maximum duration it
    cannot be (``SESSION_RENEWAL_FAILED``)."""
    session = _locked(session_id)
    if not _renew(session, timezone.now(), force=True):
        raise SessionRenewalFailed(
            f"Cannot renew session '{session_id}': Maximum duration reached",
            details={"maxDuration": js.wire_number(session.max_duration_minutes)},
        )
    session.save(update_fields=["last_activity", "renewal_count", "expires_at"])
    return session


@transaction.atomic
def session_timeout_update(*, session_id: uuid.UUID, timeout: TimeoutRequest) -> Session:
    """Changes the session's timeouts and recomputes its expiry. A timeout outside the bounds
    is refused (the reference clamps only at creation); the fields not given keep their value
    (the reference resets them to the agent's or the defaults)."""
    session = _locked(session_id)
    low = app_settings.SESSION_MIN_TIMEOUT_MINUTES
    high = app_settings.SESSION_MAX_TIMEOUT_MINUTES
    value = timeout.timeout_minutes
    if value is not None and math.isfinite(value) and not low <= value <= high:
        raise InvalidInput(
            f"Invalid timeout configuration: Timeout must be between {low} and {high} minutes"
        )
    config = merge_timeout_config(session_timeout_config(session), timeout)
    _apply_config(session, config)
    now = timezone.now()
    session.expires_at = expiration(
        created_at=session.created_at, last_activity=session.last_activity, config=config, now=now
    )
    session.save()
    return session


@transaction.atomic
def session_heartbeat(*, session_id: uuid.UUID) -> Session:
    """The client is still there: touches ``lastActivity`` and renews with auto-renewal."""
    session = _locked(session_id)
    now = timezone.now()
    session.last_activity = now
    _renew(session, now)
    session.save(update_fields=["last_activity", "renewal_count", "expires_at"])
    return session


@transaction.atomic
def session_delete(*, session_id: uuid.UUID) -> None:
    """Ends the session; its channel and messages stay, as in the reference."""
    deleted, _ = Session.objects.filter(id=session_id).delete()
    if not deleted:
        raise SessionNotFound(f"Session with ID '{session_id}' not found")


@transaction.atomic
def sessions_prune(*, now: dt.datetime | None = None) -> int:
    """Deletes the expired sessions (their channels stay); returns how many."""
    deleted, _ = Session.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
