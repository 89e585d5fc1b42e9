"""Waiting for bus events: waiters that collect the events a caller waits for, found by key.

Used where a request must wait for what the bus will say next (the ``http`` and ``sse``
transports wait for an agent's answer to one message). A :class:`WaiterRegistry` has one
permanent receiver per event type and finds an event's waiters by its key, so an event costs one
dictionary lookup however many requests are waiting, and a request connects no signal receiver
of its own. Events arrive on any thread; a waiter can be read from a thread
(:meth:`EventWaiter.get`) or from the event loop (:meth:`EventWaiter.aget`).
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from . import dispatch
from .events import BusEvent

# A key function takes the events of the one class it is registered for: typed Any, since a
# mapping cannot tie each value's argument to its key.
KeyOf = Callable[[Any], str | None]


class WaiterRegistry:
    """Waiters by key. ``keys`` maps each event type to the function giving an event's key.

    Its receivers are connected at the first waiter (``dispatch_uid`` ``name``), then stay.
    """

    def __init__(self, name: str, keys: dict[type[BusEvent], KeyOf]) -> None:
        self.name = name
        self._keys = keys
        self._waiting: dict[str, set[EventWaiter]] = {}
        self._lock = threading.Lock()
        self._connected = False

    def waiter(self, key: str) -> EventWaiter:
        """A waiter for the events of ``key``, collecting from now until it is closed."""
        self._connect()
        waiter = EventWaiter(self, key)
        with self._lock:
            self._waiting.setdefault(key, set()).add(waiter)
        return waiter

    def waiting(self) -> int:
        """How many waiters are open."""
        with self._lock:
            return sum(len(waiters) for waiters in self._waiting.values())

    def _discard(self, waiter: EventWaiter) -> None:
        with self._lock:
            waiters = self._waiting.get(waiter.key)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiting[waiter.key]

    def _connect(self) -> None:
        with self._lock:
            if self._connected:
                return
            self._connected = True
        for event_type in self._keys:
            dispatch.connect(
                event_type,
                self._receive,
                dispatch_uid=f"waiters:{self.name}:{event_type.name}",
                label=f"waiters:{self.name}",
            )

    def _receive(self, event: BusEvent, **kwargs: Any) -> None:
        key = self._keys[type(event)](event)
        if not key:
            return
        with self._lock:
            waiters = list(self._waiting.get(key, ()))
        for waiter in waiters:
            waiter.put(event)


class EventWaiter:
    """The events of one key, between its creation (or ``with``) and :meth:`close`."""

    def __init__(self, registry: WaiterRegistry, key: str) -> None:
        self.key = key
        self._registry = registry
        self._events: collections.deque[BusEvent] = collections.deque()
        self._condition = threading.Condition()
        self._wakeups: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def __enter__(self) -> EventWaiter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._registry._discard(self)

    def put(self, event: BusEvent) -> None:
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
