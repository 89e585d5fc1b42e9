"""Django's ASGI handler, with every request's sync code on one long-lived thread.

Django gives each request its own ``ThreadSensitiveContext``: a new thread, and so a new database
connection, per request. Opening a SQLite connection with its PRAGMAs alone costs more than the
rest of a message post, and requests in separate threads then meet in SQLite's busy handler,
which sleeps. Here sync code runs on asgiref's one shared thread, whose connection persists
(``CONN_MAX_AGE``); the GIL and SQLite's single writer would serialise that work anyway. What
waits (an agent exchange, a socket) waits on the event loop, not on that thread.

Django's handler sends ``request_started`` before each request; its receivers are sync, so the
signal alone was a trip to that thread, queued behind whatever batch of writes ran there
(elizabus.db.batches). Its two receivers are not needed there (below).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import signals
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections, reset_queries


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
    start_requests_without_sync_code()
    return SharedThreadASGIHandler(middleware)


def start_requests_without_sync_code() -> None:
    """Takes Django's receivers off ``request_started``, so that ``request_started.asend``
    runs no thread (tests/test_asgi.py pins that Django connects no others).
    ``close_old_connections`` also runs on ``request_finished``, which Django sends from the
    thread trip it makes anyway to close the response: a connection that failed, or outlived
    ``CONN_MAX_AGE``, is closed as the request that found it ends, and the next request's first
    query checks its health (``CONN_HEALTH_CHECKS``) as before. ``reset_queries`` only empties
    ``DEBUG``'s query log, which Django caps at 9,000 queries; without it the log spans
    requests. (At a request's end it would empty the log that ``assertNumQueries`` reads.)"""
    signals.request_started.disconnect(close_old_connections)
    signals.request_started.disconnect(reset_queries)
