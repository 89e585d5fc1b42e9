"""The one door onto the bus. Services call :func:`publish`; nothing else sends events.

``publish`` registers the event with ``transaction.on_commit``: inside an atomic block it leaves
when the outermost block commits and never if it rolls back; outside one it leaves at once.
"""

from __future__ import annotations

from django.db import transaction

from .events import BusEvent
from .transports import get_transport


def publish(event: BusEvent) -> None:
    """Sends ``event`` through the configured transport once the current transaction commits."""
    transaction.on_commit(lambda: get_transport().send(event), robust=True)
