"""One error shape for the whole API: ``{success: false, error: {code, message, details?}}``."""

from __future__ import annotations

import logging
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from elizabus import breakers
from elizabus.exceptions import (
    DomainError,
    Forbidden,
    InvalidContentType,
    InvalidJson,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)

from .renderers import json_response

logger = logging.getLogger(__name__)

# DRF's own exceptions, as the catalogue's errors.
_DRF_ERRORS: dict[type[exceptions.APIException], type[DomainError]] = {
    exceptions.ParseError: InvalidJson,
    exceptions.UnsupportedMediaType: InvalidContentType,
    exceptions.MethodNotAllowed: MethodNotAllowed,
    exceptions.NotAuthenticated: Unauthorized,
    exceptions.AuthenticationFailed: Unauthorized,
    exceptions.PermissionDenied: Forbidden,
    exceptions.Throttled: RateLimited,
    exceptions.NotFound: NotFound,
}
# These the reference words its own way, whatever DRF's detail says; it answers a wrong content
# type with 400, not DRF's 415.
_REFERENCE_WORDED = frozenset({InvalidJson, InvalidContentType})


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"success": False, "error": error}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's exception handler: domain errors and DRF's own, in the one shape. A lost or
    refused database connection is a 503 too, and opens the database's breaker."""
    if breakers.database_down(exc):
        breakers.database.failed(exc)
        exc = ServiceUnavailable()
    if isinstance(exc, DomainError):
        set_rollback()
        response = Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
        if isinstance(exc, ServiceUnavailable):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, exceptions.APIException):
        set_rollback()
        error = next(
            (value for kind, value in _DRF_ERRORS.items() if isinstance(exc, kind)), DomainError
        )
        if error in _REFERENCE_WORDED:
            message, status_code = error.default_message, error.status
        else:
            message, status_code = str(exc.detail), exc.status_code
        response = Response(error_body(error.code, message), status=status_code)
        # DRF's Throttled sets ``wait``; its stubs do not declare it.
        wait = getattr(exc, "wait", None) if isinstance(exc, exceptions.Throttled) else None
        if wait is not None:
            response["Retry-After"] = str(int(wait) + 1)
        return response
    return None


def error_response(exc: Exception) -> HttpResponse:
    """The answer to ``exc`` raised outside DRF's dispatch, as the exception handler words
    it; an exception it does not know is raised again, for Django's 500."""
    handled = exception_handler(exc, {})
    if handled is None:
        raise exc
    response = json_response(handled.data, status=handled.status_code)
    for header, value in handled.items():
        if header.lower() != "content-type":  # an unrendered Response's is text/html
            response[header] = value
    return response


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any unmatched ``/api/`` path, answered as the reference answers it."""
    return JsonResponse(error_body(NotFound.code, "API endpoint not found"), status=NotFound.status)
