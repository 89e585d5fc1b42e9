"""The contract of a bus transport."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from elizabus.bus.events import BusEvent
from elizabus.bus.outbox import OutboxRecord

Taken = Callable[[Sequence[int]], None]


class Transport(ABC):
    """Carries committed events to the receivers of every process that should see them.

    ``shares_events``: the transport brings every event to every process, the sending one
    included, so the writer runs only the ``ONCE`` receivers at commit. Otherwise the writer runs
    every scope at commit, and (``follows_outbox``) other processes read the outbox table.
    """

    shares_events = False
    follows_outbox = False

    def start(self) -> None:  # noqa: B027 - optional hook
        """Called once before the first send (open connections, start listeners)."""

    def stop(self) -> None:  # noqa: B027 - optional hook
        """Called at shutdown; after it no receiver is called by this transport."""

    def maintain(self) -> None:  # noqa: B027 - optional hook
        """Called every few seconds by the relay (trimming)."""

    def prepare_group(  # noqa: B027 - optional hook
        self, name: str, since: str | None, written_after: float | None = None
    ) -> None:
        """Makes the group ``name`` exist, unless it does, from ``since`` (a stream position),
        or else from the events written after ``written_after`` (seconds since the epoch), or
        else from now on: it keeps its events from then, before any member holds it."""

    def drop_group(self, name: str) -> None:  # noqa: B027 - optional hook
        """Forgets the group ``name`` for good (its agent was stopped or deleted)."""

    @abstractmethod
    def send(self, records: Sequence[OutboxRecord], taken: Taken) -> None:
        """Hands ``records`` over; calls ``taken`` with the ids it took, from any thread. It must
        return quickly and not raise for a problem it can retry: what it never reports taken
        stays unsent, and the relay sends it again."""

    def send_ephemeral(self, event: BusEvent) -> None:
        """A transport that ``shares_events`` brings an ephemeral event to the ``EACH``
        receivers of every process, this one included, at most once and in the order of the
        calls; it must not block (an event it cannot send is dropped). Others are never asked:
        the writer's own receivers get it at once."""
        raise NotImplementedError
