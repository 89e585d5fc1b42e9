"""The contract of a bus transport."""

from __future__ import annotations

from abc import ABC, abstractmethod

from elizabus.bus.events import BusEvent


class Transport(ABC):
    """Carries committed events to the receivers of every process that should see them.

    ``send`` is called once per event, after its commit, from whichever thread committed. It must
    not raise for a delivery problem it can retry; it must return quickly.
    """

    def start(self) -> None:  # noqa: B027 - optional hook
        """Called once before the first send (open connections, start listeners)."""

    def stop(self) -> None:  # noqa: B027 - optional hook
        """Called at shutdown; after it no receiver is called by this transport."""

    @abstractmethod
    def send(self, event: BusEvent) -> None:
        """Delivers ``event``."""
