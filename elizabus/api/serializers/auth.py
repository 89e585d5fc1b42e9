"""Input of the auth routes, checked in the reference's order and with its codes: the email,
then the username, then the password (whose strength the service checks)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from rest_framework import serializers

from elizabus.exceptions import (
    InvalidBody,
    InvalidEmail,
    InvalidPassword,
    InvalidUsername,
    MissingCredentials,
)

USERNAME_MIN, USERNAME_MAX = 3, 50


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def _body(data: Any) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidBody()
    return data


def register_input(data: Any) -> dict[str, str]:
    """``{email, username, password}`` of ``POST /api/auth/register``."""
    data = _body(data)
    email, username, password = (_text(data, name) for name in ("email", "username", "password"))
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvalidEmail() from exc
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        raise InvalidUsername()
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError as exc:
        raise InvalidUsername(
            "Username may contain only letters, digits and @.+-_",
            details={"username": exc.messages},
        ) from exc
    if len(password) < 8:
        raise InvalidPassword()
    return {"email": email, "username": username, "password": password}


def login_input(data: Any) -> dict[str, str]:
    """``{email, password}`` of ``POST /api/auth/login``."""
    data = _body(data)
    email, password = _text(data, "email"), _text(data, "password")
    if not email or not password:
        raise MissingCredentials()
    return {"email": email, "password": password}


def refresh_token_input(data: Any) -> str | None:
    """The ``refreshToken`` of a refresh or a log-out, if the body names one."""
    if not isinstance(data, Mapping):
        return None
    return _text(data, "refreshToken") or None


def password_change_input(data: Any) -> dict[str, str]:
    """``{currentPassword, newPassword}`` of ``POST /api/auth/password``."""
    data = _body(data)
    current, new = _text(data, "currentPassword"), _text(data, "newPassword")
    if not current or not new:
        raise MissingCredentials("currentPassword and newPassword required")
    return {"current_password": current, "new_password": new}


# The bodies as the OpenAPI schema documents them; the functions above check them.
class RegisterIn(serializers.Serializer):
    email = serializers.EmailField()
    username = serializers.CharField(min_length=USERNAME_MIN, max_length=USERNAME_MAX)
    password = serializers.CharField(min_length=8)


class LoginIn(serializers.Serializer):
    email = serializers.CharField()
    password = serializers.CharField()


class RefreshIn(serializers.Serializer):
    refreshToken = serializers.CharField(required=False)


class LogoutIn(RefreshIn):
    everywhere = serializers.BooleanField(required=False)


class PasswordIn(serializers.Serializer):
    currentPassword = serializers.CharField()
    newPassword = serializers.CharField(min_length=8)
