"""The one door onto the bus: ``publish(event)``.

The event is written to the outbox in the caller's transaction, so it commits with the rows it
announces or not at all. Once the transaction commits, this process sends it at once
(:meth:`.relay.Relay.committed`); a crash or an outage between the commit and the send leaves
it in the outbox, where a relay finds and sends it. Outside a transaction both happen at once.
"""

from __future__ import annotations

from django.db import transaction

from . import outbox
from .events import BusEvent
from .relay import relay


def publish(event: BusEvent) -> None:
    """Stores ``event`` with the current transaction and sends it once that commits."""
    record = outbox.write(event)
    transaction.on_commit(lambda: relay.committed(record), robust=True)
