"""The doors onto the bus: ``publish(event)``, and ``publish_ephemeral(event)`` for what is never
stored.

The event is written to the outbox in the caller's transaction, so it commits with the rows it
announces or not at all. Once the transaction commits, this process sends it at once
(:meth:`.relay.Relay.committed`); a crash or an outage between the commit and the send leaves
it in the outbox, where a relay finds and sends it. Outside a transaction both happen at once.
"""

from __future__ import annotations

from django.db import transaction

from . import dispatch, outbox
from .events import EPHEMERAL_EVENT_TYPES, BusEvent
from .relay import relay
from .transports import get_transport


def publish(event: BusEvent) -> None:
    """Stores ``event`` with the current transaction and sends it once that commits."""
    record = outbox.write(event)
    transaction.on_commit(lambda: relay.committed(record), robust=True)


def publish_ephemeral(event: BusEvent) -> None:
    """Sends an ephemeral event (``EPHEMERAL_EVENT_TYPES``: a reply's stream) now, to the
    ``EACH`` receivers of every process the transport reaches: no row, no outbox entry, no
    transaction to wait for, at most once, in this thread's order. What such an event announces
    is made durable by a stored event after it (the reply's ``new_message``)."""
    if event.name not in EPHEMERAL_EVENT_TYPES:
        raise ValueError(f"{event.name} is stored: publish it with publish()")
    transport = get_transport()
    if transport.shares_events:
        transport.send_ephemeral(event)
    else:
        dispatch.dispatch_local(event, scopes=(dispatch.EACH,))
