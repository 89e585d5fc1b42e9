"""Waiting for bus events: a temporary receiver that collects the events a caller waits for.

Used where a request must wait for what the bus will say next (the ``http`` and ``sse``
transports wait for an agent's answer). Events arrive on any thread; the waiter can be read from
a thread (:meth:`EventWaiter.get`) or from the event loop (:meth:`EventWaiter.aget`).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from . import dispatch
from .events import BusEvent

_ids = itertools.count()


class EventWaiter:
    """Collects the events of ``event_types`` that ``accept`` keeps, between ``with`` and exit."""

    def __init__(
        self, event_types: tuple[type[BusEvent], ...], accept: Callable[[BusEvent], bool]
    ) -> None:
        self._event_types = event_types
        self._accept = accept
        self._uid = f"waiter:{next(_ids)}"
        self._events: collections.deque[BusEvent] = collections.deque()
        self._condition = threading.Condition()
        self._wakeups: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def __enter__(self) -> EventWaiter:
        for event_type in self._event_types:
            dispatch.connect(
                event_type, self._receive, dispatch_uid=f"{self._uid}:{event_type.name}"
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        for event_type in self._event_types:
            dispatch.disconnect(event_type, dispatch_uid=f"{self._uid}:{event_type.name}")

    def _receive(self, event: BusEvent, **kwargs: Any) -> None:
        if not self._accept(event):
            return
        with self._condition:
            self._events.append(event)
            self._condition.notify_all()
            wakeups, self._wakeups = self._wakeups, []
        for loop, wakeup in wakeups:
            loop.call_soon_threadsafe(wakeup.set)

    def get(self, timeout: float) -> BusEvent | None:
        """The next event, waiting at most ``timeout`` seconds; None when none came."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while not self._events:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._condition.wait(remaining)
            return self._events.popleft()

    async def aget(self, timeout: float) -> BusEvent | None:
        """As :meth:`get`, awaiting on the running loop instead of blocking a thread."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            wakeup = asyncio.Event()
            with self._condition:
                if self._events:
                    return self._events.popleft()
                self._wakeups.append((loop, wakeup))
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(wakeup.wait(), remaining)
            except TimeoutError:
                return None
