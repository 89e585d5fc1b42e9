"""Django's ASGI handler, with every request's sync code on one long-lived thread.

Django gives each request its own ``ThreadSensitiveContext``: a new thread, and so a new database
connection, per request. Opening a SQLite connection with its PRAGMAs alone costs more than the
rest of a message post, and requests in separate threads then meet in SQLite's busy handler,
which sleeps. Here sync code runs on asgiref's one shared thread, whose connection persists
(``CONN_MAX_AGE``); the GIL and SQLite's single writer would serialise that work anyway. What
waits (an agent exchange, a socket) waits on the event loop, not on that thread.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.handlers.asgi import ASGIHandler


class SharedThreadASGIHandler(ASGIHandler):
    """``middleware``, when given, replaces ``settings.MIDDLEWARE`` for this handler."""

    def __init__(self, middleware: list[str] | None = None) -> None:
        self._middleware = middleware
        super().__init__()

    def load_middleware(self, is_async: bool = False) -> None:
        if self._middleware is None:
            super().load_middleware(is_async)
            return
        # Django reads the list from settings; it is swapped only while this handler is built,
        # once, at start-up.
        configured = settings.MIDDLEWARE
        settings.MIDDLEWARE = self._middleware
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = configured

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)


def get_asgi_application(middleware: list[str] | None = None) -> SharedThreadASGIHandler:
    """As :func:`django.core.asgi.get_asgi_application`, with the shared-thread handler."""
    import django

    django.setup(set_prefix=False)
    return SharedThreadASGIHandler(middleware)
