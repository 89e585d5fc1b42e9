"""The embedded default: events go straight to this process's receivers, like the reference's
in-memory EventEmitter."""

from __future__ import annotations

from elizabus.bus.dispatch import dispatch_local
from elizabus.bus.events import BusEvent

from .base import Transport


class InProcessTransport(Transport):
    def send(self, event: BusEvent) -> None:
        dispatch_local(event)
