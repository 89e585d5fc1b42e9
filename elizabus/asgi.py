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

from django.core.handlers.asgi import ASGIHandler


class SharedThreadASGIHandler(ASGIHandler):
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)


def get_asgi_application() -> SharedThreadASGIHandler:
    """As :func:`django.core.asgi.get_asgi_application`, with the shared-thread handler."""
    import django

    django.setup(set_prefix=False)
    return SharedThreadASGIHandler()
