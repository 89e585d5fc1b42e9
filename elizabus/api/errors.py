"""One error shape for the whole API: ``{success: false, error: {code, message, details?}}``."""

from __future__ import annotations

import logging
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from elizabus.exceptions import DomainError

from .renderers import json_response

logger = logging.getLogger(__name__)

_DRF_CODES = {
    exceptions.ParseError: ("INVALID_JSON", "Malformed JSON in request body"),
    exceptions.UnsupportedMediaType: (
        "INVALID_CONTENT_TYPE",
        "Invalid or missing Content-Type header",
    ),
    exceptions.MethodNotAllowed: ("METHOD_NOT_ALLOWED", None),
    exceptions.NotAuthenticated: ("UNAUTHORIZED", None),
    exceptions.AuthenticationFailed: ("UNAUTHORIZED", None),
    exceptions.PermissionDenied: ("FORBIDDEN", None),
    exceptions.Throttled: ("RATE_LIMIT_EXCEEDED", None),
    exceptions.NotFound: ("NOT_FOUND", None),
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"success": False, "error": error}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's exception handler: domain errors and DRF's own, in the one shape."""
    if isinstance(exc, DomainError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, exceptions.APIException):
        set_rollback()
        code, message = next(
            (value for kind, value in _DRF_CODES.items() if isinstance(exc, kind)),
            ("BAD_REQUEST", None),
        )
        # A wrong content type is a client error the reference answers with 400.
        status_code = (
            status.HTTP_400_BAD_REQUEST
            if isinstance(exc, exceptions.UnsupportedMediaType)
            else exc.status_code
        )
        response = Response(error_body(code, message or str(exc.detail)), status=status_code)
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            response["Retry-After"] = str(int(exc.wait) + 1)
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
    """Any unmatched ``/api/`` path (B1.0)."""
    return JsonResponse(error_body("NOT_FOUND", "API endpoint not found"), status=404)
