"""Remembering the last event ids seen, to drop an event that arrives twice.

Delivery past one process is at least once: a relay may send again an event whose writer sent
it and died before marking it sent. Receivers whose effect a user would see twice (a socket's
broadcast) keep these.
"""

from __future__ import annotations

import collections

RECENT_IDS = 20_000


class RecentIds:
    """The last ids seen (outbox ids, message ids), to drop what came twice."""

    def __init__(self, size: int = RECENT_IDS) -> None:
        self._order: collections.deque[int | str] = collections.deque(maxlen=size)
        self._set: set[int | str] = set()

    def seen(self, event_id: int | str) -> bool:
        """True if ``event_id`` was seen before; remembers it otherwise."""
        if not event_id:
            return False
        if event_id in self._set:
            return True
        if len(self._order) == self._order.maxlen:
            self._set.discard(self._order[0])
        self._order.append(event_id)
        self._set.add(event_id)
        return False
