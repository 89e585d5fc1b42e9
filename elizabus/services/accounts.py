"""Accounts: Django auth users bound to their entity, and their log-ins (docs/security.md,
"Identity"). A log-in is a family of refresh tokens that rotate on each use; the access tokens
it hands out are short-lived JWTs (:mod:`elizabus.identity.tokens`).

Refresh tokens are random secrets stored as their SHA-256, looked up by it; a spent one
presented again revokes its family. Logging out revokes a family, changing the password
(here or anywhere else, the admin included) revokes them all.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from elizabus.conf import app_settings
from elizabus.exceptions import (
    EmailExists,
    InvalidCredentials,
    InvalidPassword,
    InvalidToken,
    UsernameExists,
)
from elizabus.identity.tokens import access_token_issue, entity_for_subject
from elizabus.models import Account, Entity, EntityKind, RefreshToken


@dataclass(frozen=True)
class IssuedTokens:
    """What a log-in hands the client: an access token and, unless the client refreshed with
    its access token (the reference's way), the next refresh token."""

    access_token: str
    expires_in: int
    entity_id: uuid.UUID
    username: str
    email: str
    refresh_token: str | None = None
    refresh_expires_in: int | None = None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def account_auth_hash(account: Account) -> str:
    """The fingerprint of the account's password: it changes whenever the password does."""
    return hashlib.sha256(account.user.password.encode()).hexdigest()


def _issue(account: Account, family: uuid.UUID, *, with_refresh: bool = True) -> IssuedTokens:
    user = account.user
    token, lifetime = access_token_issue(
        subject=account.subject, family=family, username=user.get_username(), email=user.email
    )
    refresh = refresh_lifetime = None
    if with_refresh:
        refresh = secrets.token_urlsafe(32)
        refresh_lifetime = int(app_settings.REFRESH_TOKEN_SECONDS)
        now = timezone.now()
        RefreshToken.objects.create(
            account=account,
            family=family,
            token_hash=_digest(refresh),
            auth_hash=account_auth_hash(account),
            created_at=now,
            expires_at=now + timedelta(seconds=refresh_lifetime),
        )
    return IssuedTokens(
        access_token=token,
        expires_in=lifetime,
        entity_id=account.entity_id,
        username=user.get_username(),
        email=user.email,
        refresh_token=refresh,
        refresh_expires_in=refresh_lifetime,
    )


def _revoke(tokens: QuerySet[RefreshToken]) -> int:
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


@transaction.atomic
def account_register(*, username: str, email: str, password: str) -> IssuedTokens:
    """Creates a user (its password hashed by Django), the entity it acts as, and a first
    log-in. 409 when the email or the username is taken, 400 when the password is weak."""
    user_model = get_user_model()
    email = email.lower()
    if user_model.objects.filter(email__iexact=email).exists():
        raise EmailExists()
    if user_model.objects.filter(username__iexact=username).exists():
        raise UsernameExists()
    subject = f"eliza:{username}"
    entity_id = entity_for_subject(subject)
    candidate = user_model(username=username, email=email)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise InvalidPassword(" ".join(exc.messages), details={"password": exc.messages}) from exc
    entity = Entity.objects.filter(pk=entity_id).first()
    if entity is not None and (entity.kind != EntityKind.USER or hasattr(entity, "account")):
        # An agent's id, or a user bound already: the username maps to an entity in use.
        raise UsernameExists()
    try:
        with transaction.atomic():
            user = user_model.objects.create_user(username=username, email=email, password=password)
            if entity is None:
                entity = Entity.objects.create(id=entity_id, kind=EntityKind.USER, names=[username])
            account = Account.objects.create(user=user, entity=entity, subject=subject)
    except IntegrityError as exc:  # a concurrent registration of the same name
        raise UsernameExists() from exc
    return _issue(account, uuid.uuid4())


def _account_by_email(email: str) -> Account | None:
    return (
        Account.objects.select_related("user")
        .filter(user__email__iexact=email, user__is_active=True)
        .first()
    )


@transaction.atomic
def account_login(*, email: str, password: str) -> IssuedTokens:
    """A new log-in for the account of ``email``, when ``password`` is its password."""
    account = _account_by_email(email)
    if account is None:
        # Hash anyway, so that timing does not tell which emails have an account.
        get_user_model()().set_password(password)
        raise InvalidCredentials()
    if not account.user.check_password(password):
        raise InvalidCredentials()
    account.user.last_login = timezone.now()
    account.user.save(update_fields=["last_login"])
    return _issue(account, uuid.uuid4())


def _live(token: RefreshToken) -> str | None:
    """Why a refresh token may not be used, or None."""
    if token.revoked_at is not None:
        return "Refresh token revoked"
    if token.expires_at <= timezone.now():
        return "Refresh token expired"
    if not token.account.user.is_active:
        return "Account disabled"
    if token.auth_hash != account_auth_hash(token.account):
        return "Password changed since log-in"
    return None


def account_refresh(*, refresh_token: str) -> IssuedTokens:
    """Spends a refresh token for a new access token and the next refresh token of its
    family. A spent token presented again revokes the family: the revocation is committed
    before the refusal is raised."""
    with transaction.atomic():
        token = (
            RefreshToken.objects.select_for_update()
            .select_related("account__user")
            .filter(token_hash=_digest(refresh_token))
            .first()
        )
        if token is None:
            raise InvalidToken(details="Unknown refresh token")
        refused = _live(token)
        if refused:
            raise InvalidToken(details=refused)
        if token.used_at is None:
            token.used_at = timezone.now()
            token.save(update_fields=["used_at"])
            return _issue(token.account, token.family)
        _revoke(RefreshToken.objects.filter(family=token.family))
    raise InvalidToken(details="Refresh token reused: its log-in is revoked")


@transaction.atomic
def account_access_refresh(*, family: uuid.UUID, subject: str) -> IssuedTokens:
    """A new access token for a live log-in, from a valid access token of it (the reference's
    ``/refresh`` form): the log-in must have an unspent, unrevoked refresh token."""
    token = (
        RefreshToken.objects.select_related("account__user")
        .filter(family=family, account__subject=subject, used_at__isnull=True)
        .first()
    )
    if token is None:
        raise InvalidToken(details="Log-in revoked")
    refused = _live(token)
    if refused:
        raise InvalidToken(details=refused)
    return _issue(token.account, family, with_refresh=False)


@transaction.atomic
def account_logout(
    *, refresh_token: str | None = None, family: uuid.UUID | None = None, everywhere: bool = False
) -> int:
    """Revokes a log-in, named by a refresh token or by the family of an access token; with
    ``everywhere``, every log-in of its account. Returns how many tokens were revoked."""
    if refresh_token is not None:
        token = RefreshToken.objects.filter(token_hash=_digest(refresh_token)).first()
        if token is None:
            raise InvalidToken(details="Unknown refresh token")
        family, account_id = token.family, token.account_id
    else:
        # With neither argument, ``family`` is None and no log-in matches.
        token = RefreshToken.objects.filter(family=family).first()  # type: ignore[misc]
        if token is None:
            return 0
        account_id = token.account_id
    scope = {"account_id": account_id} if everywhere else {"family": family}
    return _revoke(RefreshToken.objects.filter(**scope))


@transaction.atomic
def account_password_change(
    *, subject: str, current_password: str, new_password: str
) -> IssuedTokens:
    """Changes an account's password and revokes all its log-ins; returns a new one."""
    account = Account.objects.select_related("user").filter(subject=subject).first()
    if account is None or not account.user.check_password(current_password):
        raise InvalidCredentials()
    try:
        validate_password(new_password, user=account.user)
    except ValidationError as exc:
        raise InvalidPassword(" ".join(exc.messages), details={"password": exc.messages}) from exc
    account.user.set_password(new_password)
    account.user.save(update_fields=["password"])
    _revoke(RefreshToken.objects.filter(account=account))
    return _issue(account, uuid.uuid4())
