"""Helpers for tests that run bus agents: bounded waiting, and responders for the cases the
shipped ones do not cover, loaded by their dotted path like any responder.

Agent services work in their own threads, so a test never sleeps for a fixed time: it waits with
:func:`wait_until` for the outcome, bounded. May import the responder contract and the stdlib.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from elizabus.agents.responders.base import Responder, ResponderReply, ResponderRequest

T = TypeVar("T")

ECHO = "elizabus.agents.responders.echo.EchoResponder"
SILENT = "tests.agents.helpers.SilentResponder"
FAILING = "tests.agents.helpers.FailingResponder"
SLOW = "tests.agents.helpers.SlowResponder"


def wait_until(predicate: Callable[[], T], timeout: float = 5.0, what: str = "") -> T:
    """Polls ``predicate`` until it returns something truthy, and returns that; fails the test
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.005)


class SilentResponder(Responder):
    """Never answers (the elizaOS ``IGNORE``)."""

    def respond(self, request: ResponderRequest) -> ResponderReply | None:
        return None


class FailingResponder(Responder):
    """Raises on the text of option ``fail_on`` (default ``"boom"``), echoes anything else."""

    def respond(self, request: ResponderRequest) -> ResponderReply | None:
        if request.text == self.options.get("fail_on", "boom"):
            raise RuntimeError(f"cannot answer {request.text!r}")
        return ResponderReply(text=f"echo: {request.text}")


class SlowResponder(Responder):
    """Echoes after option ``delay`` seconds (default 0.5): slower than a short reply timeout."""

    def respond(self, request: ResponderRequest) -> ResponderReply | None:
        time.sleep(float(self.options.get("delay", 0.5)))
        return ResponderReply(text=f"late: {request.text}")
