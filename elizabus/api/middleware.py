"""Guards in front of every ``/api`` request: the API key, with data isolation the bearer
token (docs/security.md, "Access"), the origin of what a foreign page could send
(docs/security.md, "Requests from other sites"), the body size (docs/errors.md, "Limits"),
and the database's breaker."""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from corsheaders.conf import conf as cors
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse

from elizabus import breakers
from elizabus.access import OPERATOR, Actor
from elizabus.conf import app_settings
from elizabus.exceptions import (
    DomainError,
    MissingToken,
    OriginNotAllowed,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)
from elizabus.identity.tokens import token_verify

from .errors import error_body, error_response
from .throttling import RefusedKeyThrottle

UPLOAD_MAX_BYTES = 50 * 1024 * 1024

# The bodies a page on any site can make a browser POST without asking the server first (the
# Fetch standard's CORS-safelisted request: a form, or text). Anything else, a JSON body or an
# X-API-KEY header, goes through a preflight, which the CORS allow-list answers.
_FORGEABLE_TYPES = frozenset(
    {"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)


def body_limit(path: str) -> int:
    """The largest body a request to ``path`` may carry: uploads 50 MiB, anything else
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2 MiB)."""
    if path.endswith("/upload-media"):
        return UPLOAD_MAX_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def forgeable_and_foreign(request: HttpRequest) -> bool:
    """Whether ``request`` is one a foreign page could have sent, from an origin that may not:
    a ``POST`` of a form or text whose ``Origin`` is neither this server's nor allowed.

    Browsers send ``Origin`` with every such ``POST``, and ``Sec-Fetch-Site`` too; a request
    with neither comes from no browser. ``Sec-Fetch-Site: same-origin`` is believed as well,
    for a proxy in front that passes the host but not the scheme."""
    if request.method != "POST":
        return False
    media_type = request.META.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    if media_type not in _FORGEABLE_TYPES:
        return False
    site = request.headers.get("Sec-Fetch-Site", "")
    if site in {"same-origin", "none"}:
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return site in {"cross-site", "same-site"}
    return not origin_allowed(origin.lower(), request)


def origin_allowed(origin: str, request: HttpRequest) -> bool:
    """The server's own origin, and those of the CORS allow-list (``CORS_ALLOWED_ORIGINS``, its
    regexes, or any with ``*``) and of ``CSRF_TRUSTED_ORIGINS``; compared whole: scheme, host
    and port."""
    if origin == f"{request.scheme}://{request.get_host()}".lower():
        return True
    if cors.CORS_ALLOW_ALL_ORIGINS:
        return True
    listed = {*cors.CORS_ALLOWED_ORIGINS, *settings.CSRF_TRUSTED_ORIGINS}
    if origin in {entry.lower() for entry in listed}:
        return True
    return any(re.match(pattern, origin) for pattern in cors.CORS_ALLOWED_ORIGIN_REGEXES)


def api_key_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison, so the key cannot be guessed byte by byte from timings."""
    return hmac.compare_digest((given or "").encode(), expected.encode())


# With data isolation these answer without a token, as in the reference: one logs in to get a
# token, and a client asks the configuration before it has one.
ISOLATION_EXEMPT = frozenset(
    {
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/system/version",
        "/api/system/config",
    }
)


def identify(request: HttpRequest, *, operator: bool) -> HttpResponse | None:
    """With data isolation: who the request acts as (``request.actor``), the operator with the
    API key, else the entity of its bearer token; 401 without either, except on the exempt
    routes (docs/security.md, "Access")."""
    if operator:
        request.actor = OPERATOR  # type: ignore[attr-defined]
        return None
    header = request.headers.get("Authorization") or ""
    scheme, _, bearer = header.partition(" ")
    if scheme.lower() != "bearer" or not bearer.strip():
        if request.path.rstrip("/") in ISOLATION_EXEMPT:
            return None
        error = MissingToken("JWT token required for data isolation")
        return JsonResponse(error_body(error.code, error.message), status=error.status)
    try:
        identity = token_verify(bearer.strip())
    except DomainError as error:
        if request.path.rstrip("/") in ISOLATION_EXEMPT:
            return None  # /refresh and /logout judge their own tokens
        return JsonResponse(
            error_body(error.code, "Invalid JWT token", error.details), status=error.status
        )
    request.actor = Actor(identity.entity_id)  # type: ignore[attr-defined]
    return None


class RefusingMiddleware:
    """A middleware that answers some requests itself, before the view: ``refusal`` says with
    what (None lets the request through).

    Sync and async capable, with no thread hop of its own on the async path: under ASGI the API
    runs with only async middleware (``API_MIDDLEWARE``, elizabus/asgi.py).
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        refused = self.refusal(request)
        if self.is_async:
            return self._async_call(request, refused)
        return refused or self.get_response(request)

    async def _async_call(self, request: HttpRequest, refused: HttpResponse | None) -> HttpResponse:
        return refused or await self.get_response(request)

    def refusal(self, request: HttpRequest) -> HttpResponse | None:
        raise NotImplementedError


class ApiGuardMiddleware(RefusingMiddleware):
    """Answers 401 without the configured ``X-API-KEY``, 403 for what a foreign page could
    forge, and 413 for an oversized body."""

    def refusal(self, request: HttpRequest) -> HttpResponse | None:
        path = request.path
        if path.startswith("/api/") or path == "/metrics":
            return self._refuse(request, path)
        if path.startswith("/media/uploads/") and app_settings.DATA_ISOLATION:
            # Uploaded files are a channel's: the view checks participation (docs/security.md,
            # "Access"), with the caller found here as on the API.
            token = settings.ELIZA_SERVER_AUTH_TOKEN
            key = bool(token) and api_key_matches(request.headers.get("X-API-KEY"), token)
            return identify(request, operator=key)
        return None

    def _refuse(self, request: HttpRequest, path: str) -> HttpResponse | None:
        try:
            # ALLOWED_HOSTS: on the lean /api/ path no CommonMiddleware asks for the host.
            request.get_host()
        except DisallowedHost:
            return JsonResponse(error_body("BAD_REQUEST", "Invalid Host header"), status=400)
        token = settings.ELIZA_SERVER_AUTH_TOKEN
        # Every method needs the key: a CORS preflight, which carries none, is answered before
        # this guard by CorsMiddleware (docs/security.md, "The API key").
        isolated = app_settings.DATA_ISOLATION and path != "/metrics"
        key_given = False
        if token:
            refused_keys = RefusedKeyThrottle()
            if refused_keys.spent(request):
                return _too_many_refused(refused_keys)
            presented = request.headers.get("X-API-KEY")
            key_given = api_key_matches(presented, token)
            # A wrong key is a guess; a missing one is too, unless a token may stand for it.
            if not key_given and (presented or not isolated):
                refused_keys.allow_request(request, None)  # type: ignore[arg-type]
        if isolated:
            refused = identify(request, operator=key_given)
            if refused is not None:
                return refused
        elif token and not key_given:
            return JsonResponse(
                error_body(Unauthorized.code, "Missing or invalid X-API-KEY header"),
                status=Unauthorized.status,
            )
        if forgeable_and_foreign(request):
            return JsonResponse(
                error_body(OriginNotAllowed.code, OriginNotAllowed.default_message),
                status=OriginNotAllowed.status,
            )
        limit = body_limit(path)
        try:
            # Under ASGI a body without a Content-Length (chunked) is measured as it arrives
            # (elizabus/asgi.py), so the length is known here without reading the body; a
            # WSGI server passes Django no chunked body at all.
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(error_body("BAD_REQUEST", "Invalid Content-Length"), status=400)
        if declared > limit:
            return JsonResponse(
                error_body("PAYLOAD_TOO_LARGE", f"Request body exceeds {limit} bytes"),
                status=413,
            )
        return None


# The routes that answer without the database.
WITHOUT_DATABASE = frozenset(
    {"/api/messaging/metrics", "/api/system/version", "/api/system/config", "/api/system/env/local"}
)


class DependencyGuardMiddleware(RefusingMiddleware):
    """Answers 503 ``SERVICE_UNAVAILABLE`` with ``Retry-After`` at once, without the sync
    thread, to an ``/api`` request while the database's breaker is open (elizabus/breakers.py):
    a request that would wait behind a query the database never answers is refused in a
    millisecond instead (docs/deployment.md, "When a dependency is down")."""

    def refusal(self, request: HttpRequest) -> HttpResponse | None:
        if breakers.database.allow() or request.path in WITHOUT_DATABASE:
            return None
        if not request.path.startswith("/api/"):
            return None
        return error_response(ServiceUnavailable())


def _too_many_refused(throttle: RefusedKeyThrottle) -> HttpResponse:
    """429 for an address that has had its allowance of refused keys. Not logged one by one
    (Django logs every 4xx): a flood of guesses would push everything else out of the recent
    log."""
    response = JsonResponse(
        error_body(RateLimited.code, RateLimited.default_message), status=RateLimited.status
    )
    wait = throttle.wait()
    if wait is not None:
        response["Retry-After"] = str(int(wait) + 1)
    # Django's own marker: log_response() skips a response that carries it.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response
