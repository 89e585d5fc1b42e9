"""Delivery inside one process: connecting receivers and sending an event to them.

Every receiver is connected through :func:`connect`, which wraps it so that a failure is logged
and counted but never reaches the writer or the other receivers, and so that its time is
measured. ``dispatch_uid`` makes connecting idempotent and lets :func:`disconnect` find it again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from .events import BusEvent
from .metrics import bus_metrics

logger = logging.getLogger(__name__)

Receiver = Callable[..., Any]


def receiver_name(receiver: Receiver) -> str:
    owner = getattr(receiver, "__self__", None)
    if owner is not None:
        return f"{type(owner).__module__}.{type(owner).__qualname__}.{receiver.__name__}"
    return f"{receiver.__module__}.{getattr(receiver, '__qualname__', repr(receiver))}"


def connect(
    event_type: type[BusEvent], receiver: Receiver, *, dispatch_uid: str, label: str = ""
) -> None:
    """Connects ``receiver(sender, event, **kwargs)`` to ``event_type``.

    ``label`` names the receiver in the metrics (defaults to its dotted name).
    """
    name = label or receiver_name(receiver)

    def measured(sender: type[BusEvent], event: BusEvent, emitted_at: float, **kwargs: Any) -> None:
        failed = False
        try:
            receiver(sender=sender, event=event, **kwargs)
        except Exception:
            failed = True
            logger.exception("bus receiver %s failed on %s", name, event.name)
        finally:
            bus_metrics.receiver_done(event.name, name, time.perf_counter() - emitted_at, failed)

    event_type.signal.connect(measured, sender=event_type, weak=False, dispatch_uid=dispatch_uid)


def disconnect(event_type: type[BusEvent], *, dispatch_uid: str) -> bool:
    return event_type.signal.disconnect(sender=event_type, dispatch_uid=dispatch_uid)


def receiver_count(event_type: type[BusEvent]) -> int:
    return len(event_type.signal.receivers)


def dispatch_local(event: BusEvent) -> None:
    """Sends ``event`` to this process's receivers, now. Callers go through ``publish``."""
    bus_metrics.event_sent(event.name)
    event.signal.send(sender=type(event), event=event, emitted_at=time.perf_counter())
