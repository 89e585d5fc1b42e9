"""A responder that repeats what it was told; for tests and wiring checks."""

from __future__ import annotations

import time

from .base import Responder, ResponderReply, ResponderRequest


class EchoResponder(Responder):
    """Answers ``<prefix><text>``; option ``prefix`` defaults to ``"echo: "``, and option
    ``delay_seconds`` (at most 60) makes it take that long, as a slow model would."""

    def respond(self, request: ResponderRequest) -> ResponderReply | None:
        prefix = str(self.options.get("prefix", "echo: "))
        delay = self.options.get("delay_seconds", 0)
        if isinstance(delay, int | float) and not isinstance(delay, bool) and delay > 0:
            time.sleep(min(float(delay), 60.0))
        return ResponderReply(text=f"{prefix}{request.text}")
