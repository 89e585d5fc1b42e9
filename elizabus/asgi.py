"""Django's ASGI handler, with every request's sync code on one long-lived thread.

Django gives each request its own ``ThreadSensitiveContext``: a new thread, and so a new database
connection, per request. Opening a SQLite connection with its PRAGMAs alone costs more than the
rest of a message post, and requests in separate threads then meet in SQLite's busy handler,
which sleeps. Here sync code runs on asgiref's one shared thread, whose connection persists
(``CONN_MAX_AGE``); the GIL and SQLite's single writer would serialise that work anyway. What
waits (an agent exchange, a socket) waits on the event loop, not on that thread.

Django's handler reads a whole body, to a temporary file, before any middleware sees the
request, whatever its size; a chunked body also reaches Django without a Content-Length, and
Django's own check then answered 400 with an HTML page. Here the reading stops once a body is
past its route's limit (``body_limit``), and a body without a Content-Length gets the length it
was read at, so the API's guard answers 413 in the API's envelope (docs/errors.md, "Limits").
A body that stops arriving for ``BODY_READ_TIMEOUT_SECONDS`` is answered 408.

Django's handler sends ``request_started`` before each request; its receivers are sync, so the
signal alone was a trip to that thread, queued behind whatever batch of writes ran there
(elizabus.db.batches). Its two receivers are not needed there (below).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from django.core import signals
from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.db import close_old_connections, reset_queries
from django.http.response import HttpResponseBase

from elizabus.api.errors import error_body
from elizabus.api.middleware import body_limit
from elizabus.conf import app_settings
from elizabus.exceptions import RequestTimeout


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
        bounded = bounded_receive(
            receive, body_limit(scope["path"]), app_settings.BODY_READ_TIMEOUT_SECONDS
        )
        try:
            await self.handle(scope, bounded, send)
        except BodyTimeout:
            await _send_timeout(send)

    def create_request(
        self, scope: Mapping[str, Any], body_file: IO[bytes]
    ) -> tuple[ASGIRequest, None] | tuple[None, HttpResponseBase]:
        created = super().create_request(scope, body_file)
        request = created[0]
        if request is not None and "CONTENT_LENGTH" not in request.META:
            request.META["CONTENT_LENGTH"] = str(body_file.seek(0, os.SEEK_END))
            body_file.seek(0)
        return created


class BodyTimeout(Exception):
    """A request's body stopped arriving (:func:`bounded_receive`)."""


def bounded_receive(receive: Any, limit: int, timeout: float | None = None) -> Any:
    """``receive``, ending the request's body once more than ``limit`` bytes of it came: what
    the client sends after that is read and dropped, never stored, while Django waits for the
    disconnect. While the body is still coming, each part must come within ``timeout``
    seconds, else :class:`BodyTimeout`: a client that sends a byte now and then would hold a
    request open, and its buffer, for as long as it liked."""
    received = 0
    cut = False
    done = False

    async def bounded() -> dict[str, Any]:
        nonlocal received, cut, done
        while True:
            if done or not timeout:
                message = await receive()
            else:
                try:
                    message = await asyncio.wait_for(receive(), timeout)
                except TimeoutError:
                    raise BodyTimeout() from None
            if message["type"] != "http.request":
                return message
            if cut:
                continue
            received += len(message.get("body", b""))
            done = not message.get("more_body", False)
            if received > limit and not done:
                cut = done = True
                return {**message, "more_body": False}
            return message

    return bounded


async def _send_timeout(send: Any) -> None:
    error = RequestTimeout()
    body = json.dumps(error_body(error.code, error.message)).encode()
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
