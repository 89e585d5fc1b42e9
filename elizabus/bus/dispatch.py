"""Delivery inside one process: connecting receivers and sending an event to them.

Every receiver is connected through :func:`connect`, which wraps it so that a failure is logged
and counted but never reaches the writer or the other receivers, and so that its time is
measured. ``dispatch_uid`` makes connecting idempotent and lets :func:`disconnect` find it again.

A receiver is connected in a **scope**, which says where and how often it runs once more than one
process shares the bus (docs/bus.md, "Delivery"):

- :data:`EACH`: in every process, for every event (caches, waiting requests, the agent runtime);
- :data:`ONCE`: in one process per event, the one that put it on the bus: its writer right after
  the commit, or the relay that repaired it (broadcasts through a shared channel layer);
- a **group** (:func:`group`): by one member of the group at a time, in order, at least once and
  acknowledged only after its receivers returned (an agent's work). A receiver of a group may
  return a :class:`concurrent.futures.Future`; the event counts as done when it resolves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from .events import BusEvent
from .metrics import bus_metrics

logger = logging.getLogger(__name__)

Receiver = Callable[..., Any]


class Scope:
    """Where a receiver runs; compared by identity, so each name has one instance."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def is_group(self) -> bool:
        return self.name not in {"each", "once"}

    def __repr__(self) -> str:
        return f"Scope({self.name!r})"


EACH = Scope("each")
ONCE = Scope("once")
# What a ONCE receiver that failed returns: its event is left for the relay to repair.
FAILED = object()


class Pending:
    """A ONCE receiver's work that goes on after it returned (a broadcast queued on the
    server's loop): its event counts as sent once ``future`` is done, and is repaired if it
    failed or its process died first."""

    __slots__ = ("future",)

    def __init__(self, future: Future[Any]) -> None:
        self.future = future


_groups: dict[str, Scope] = {}
_groups_lock = threading.Lock()


def group(name: str) -> Scope:
    """The scope of the group ``name`` (one instance per name)."""
    with _groups_lock:
        scope = _groups.get(name)
        if scope is None:
            scope = _groups[name] = Scope(name)
        return scope


@dataclass
class Membership:
    """This process's seat in a group: ``since`` is the stream position a new group starts
    after; ``on_acquire`` runs when this process becomes the group's active member."""

    scope: Scope
    since: str | None = None
    on_acquire: Callable[[], None] | None = None


_memberships: dict[str, Membership] = {}


def join(
    scope: Scope, *, since: str | None = None, on_acquire: Callable[[], None] | None = None
) -> None:
    """Makes this process a member of ``scope``'s group (the transport then consumes it)."""
    _memberships[scope.name] = Membership(scope, since, on_acquire)


def leave(scope: Scope) -> None:
    _memberships.pop(scope.name, None)


def memberships() -> list[Membership]:
    """The groups this process is a member of now."""
    return list(_memberships.values())


def is_current(membership: Membership) -> bool:
    """Whether ``membership`` is still this process's seat in its group: not left, and not
    replaced by a later ``join`` (its agent restarted)."""
    return _memberships.get(membership.scope.name) is membership


def receiver_name(receiver: Receiver) -> str:
    owner = getattr(receiver, "__self__", None)
    if owner is not None:
        return f"{type(owner).__module__}.{type(owner).__qualname__}.{receiver.__name__}"
    return f"{receiver.__module__}.{getattr(receiver, '__qualname__', repr(receiver))}"


def connect(
    event_type: type[BusEvent],
    receiver: Receiver,
    *,
    dispatch_uid: str,
    label: str = "",
    scope: Scope = EACH,
) -> None:
    """Connects ``receiver(sender, event, **kwargs)`` to ``event_type`` in ``scope``.

    ``label`` names the receiver in the metrics (defaults to its dotted name). The keyword
    arguments include ``event_id``, the event's outbox id (0 for an event that has none).
    """
    name = label or receiver_name(receiver)

    def measured(
        sender: type[BusEvent],
        event: BusEvent,
        emitted_at: float,
        scopes: frozenset[Scope] | None = None,
        once: bool = True,
        **kwargs: Any,
    ) -> Any:
        if (scopes is not None and scope not in scopes) or (scope is ONCE and not once):
            return None
        failed = False
        try:
            result = receiver(sender=sender, event=event, **kwargs)
            return Pending(result) if scope is ONCE and isinstance(result, Future) else result
        except Exception:
            failed = True
            logger.exception("bus receiver %s failed on %s", name, event.name)
            if scope.is_group:
                raise
            return FAILED if scope is ONCE else None
        finally:
            bus_metrics.receiver_done(event.name, name, time.perf_counter() - emitted_at, failed)

    event_type.signal.connect(measured, sender=event_type, weak=False, dispatch_uid=dispatch_uid)


def disconnect(event_type: type[BusEvent], *, dispatch_uid: str) -> bool:
    return event_type.signal.disconnect(sender=event_type, dispatch_uid=dispatch_uid)


def receiver_count(event_type: type[BusEvent]) -> int:
    return len(event_type.signal.receivers)


def dispatch_local(
    event: BusEvent, *, scopes: Iterable[Scope] | None = None, once: bool = True, **kwargs: Any
) -> list[Any]:
    """Sends ``event`` to this process's receivers in ``scopes`` (default: every scope, and
    without ``ONCE`` when ``once`` is false), now.

    Returns what the receivers returned. A group receiver's failure is raised (its event must
    not be acknowledged); a ``ONCE`` receiver's failure returns :data:`FAILED` (its event is
    repaired later), and its Future a :class:`Pending`; other receivers' failures are only
    logged. Callers are the transports
    and the relay; services go through ``publish``.
    """
    bus_metrics.event_sent(event.name)
    kwargs.setdefault("event_id", 0)
    # One send; each receiver's wrapper skips the scopes not asked for.
    sent = event.signal.send(
        sender=type(event),
        event=event,
        emitted_at=time.perf_counter(),
        scopes=None if scopes is None else frozenset(scopes),
        once=once,
        **kwargs,
    )
    return [result for _, result in sent]


def wait_for(results: list[Any]) -> None:
    """Waits until every Future among a group's ``results`` is done; raises the first failure."""
    for result in results:
        if isinstance(result, Future):
            result.result()
