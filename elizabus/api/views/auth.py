"""The auth routes, ``/api/auth/``: register, log in, refresh, log out, who am I, change the
password (docs/security.md, "Identity"). As in the reference they answer only with
``ENABLE_DATA_ISOLATION=true``; otherwise they are not there (404)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from elizabus import services
from elizabus.api.envelope import ok
from elizabus.api.serializers.auth import (
    LoginIn,
    LogoutIn,
    PasswordIn,
    RefreshIn,
    RegisterIn,
    login_input,
    password_change_input,
    refresh_token_input,
    register_input,
)
from elizabus.api.throttling import AuthRateThrottle, ClientRateThrottle
from elizabus.api.views.base import PUBLIC, ApiView
from elizabus.conf import app_settings
from elizabus.exceptions import MissingToken, NotFound
from elizabus.identity.tokens import TokenIdentity, token_verify

TOKENS = OpenApiResponse(
    description="`{success: true, data: {token, entityId, username, expiresIn, refreshToken, "
    "refreshExpiresIn}}`"
)


def bearer_token(request: Any) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    header = request.headers.get("Authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def bearer_identity(request: Any) -> TokenIdentity:
    """The identity of the request's bearer token: 401 without one or with a bad one."""
    token = bearer_token(request)
    if token is None:
        raise MissingToken()
    return token_verify(token)


def duration(seconds: int) -> str:
    """A lifetime as the reference writes one (``7d``): the largest unit that divides it."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def tokens_data(issued: services.IssuedTokens) -> dict[str, Any]:
    data: dict[str, Any] = {
        "token": issued.access_token,
        "entityId": str(issued.entity_id),
        "username": issued.username,
        "expiresIn": duration(issued.expires_in),
    }
    if issued.refresh_token is not None:
        data["refreshToken"] = issued.refresh_token
        data["refreshExpiresIn"] = duration(issued.refresh_expires_in or 0)
    return data


class AuthApi(ApiView):
    """The routes' base: absent without data isolation, throttled as log-ins."""

    access = {"GET": PUBLIC, "POST": PUBLIC}

    throttle_classes = [ClientRateThrottle, AuthRateThrottle]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if not app_settings.DATA_ISOLATION:
            raise NotFound("API endpoint not found")
        super().initial(request, *args, **kwargs)


class RegisterApi(AuthApi):
    """``POST /api/auth/register``: ``{email, username, password}``; 201 with a first log-in."""

    @extend_schema(request=RegisterIn, responses={201: TOKENS})
    def post(self, request: Request) -> Response:
        issued = services.account_register(**register_input(request.data))
        return ok(tokens_data(issued), status.HTTP_201_CREATED)


class LoginApi(AuthApi):
    """``POST /api/auth/login``: ``{email, password}``; a new log-in."""

    @extend_schema(request=LoginIn, responses={200: TOKENS})
    def post(self, request: Request) -> Response:
        return ok(tokens_data(services.account_login(**login_input(request.data))))


class RefreshApi(AuthApi):
    """``POST /api/auth/refresh``: ``{refreshToken}`` spends it for the next one and a new
    access token; without a body, the reference's form, ``Authorization: Bearer`` with a
    valid access token of a live log-in gives a new access token only."""

    @extend_schema(request=RefreshIn, responses={200: TOKENS})
    def post(self, request: Request) -> Response:
        refresh = refresh_token_input(request.data)
        if refresh is not None:
            return ok(tokens_data(services.account_refresh(refresh_token=refresh)))
        identity = bearer_identity(request)
        if identity.family is None:
            raise MissingToken("Only the server's own tokens can be refreshed")
        issued = services.account_access_refresh(family=identity.family, subject=identity.subject)
        return ok(tokens_data(issued))


class LogoutApi(AuthApi):
    """``POST /api/auth/logout``: revokes the log-in of ``{refreshToken}``, else of the bearer
    access token; ``{everywhere: true}`` revokes every log-in of the account."""

    throttle_classes = [ClientRateThrottle]

    @extend_schema(
        request=LogoutIn, responses={200: OpenApiResponse(description="`{loggedOut, revoked}`")}
    )
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        everywhere = data.get("everywhere") is True
        refresh = refresh_token_input(data)
        if refresh is not None:
            revoked = services.account_logout(refresh_token=refresh, everywhere=everywhere)
        else:
            identity = bearer_identity(request)
            if identity.family is None:
                raise MissingToken("Only the server's own log-ins can be logged out of")
            revoked = services.account_logout(family=identity.family, everywhere=everywhere)
        return ok({"loggedOut": True, "revoked": revoked})


class MeApi(AuthApi):
    """``GET /api/auth/me``: the bearer token's ``{entityId, email, username}``."""

    throttle_classes = [ClientRateThrottle]

    @extend_schema(responses={200: OpenApiResponse(description="`{entityId, email, username}`")})
    def get(self, request: Request) -> Response:
        identity = bearer_identity(request)
        claims = identity.claims
        return ok(
            {
                "entityId": str(identity.entity_id),
                "email": claims.get("email"),
                "username": claims.get("username"),
            }
        )


class PasswordApi(AuthApi):
    """``POST /api/auth/password``: ``{currentPassword, newPassword}`` with the bearer access
    token; revokes every log-in of the account and answers a new one."""

    @extend_schema(request=PasswordIn, responses={200: TOKENS})
    def post(self, request: Request) -> Response:
        identity = bearer_identity(request)
        issued = services.account_password_change(
            subject=identity.subject, **password_change_input(request.data)
        )
        return ok(tokens_data(issued))
