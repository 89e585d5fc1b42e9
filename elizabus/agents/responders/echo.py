"""A responder that repeats what it was told; for tests and wiring checks."""

from __future__ import annotations

from .base import Responder, ResponderReply, ResponderRequest


class EchoResponder(Responder):
    """Answers ``<prefix><text>``; option ``prefix`` defaults to ``"echo: "``."""

    def respond(self, request: ResponderRequest) -> ResponderReply | None:
        prefix = str(self.options.get("prefix", "echo: "))
        return ResponderReply(text=f"{prefix}{request.text}")
