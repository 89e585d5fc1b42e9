"""Access tokens: short-lived JWTs the server signs for its accounts, and their verification.

A token's entity is the reference's ``stringToUuid(sub)``, whoever issued it. The server's own
tokens are HS256 with the first of ``JWT_SIGNING_KEYS`` and name that key in their ``kid``, so
that a key can be rotated: put the new one first and keep the old one listed until the tokens it
signed have expired. They also carry ``sid``, the log-in (refresh-token family) they belong to.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from django.conf import settings
from django.utils.crypto import salted_hmac

from elizabus.conf import app_settings
from elizabus.exceptions import InvalidToken
from elizabus.ids import string_to_uuid

from .verifiers import platform_claims

ALGORITHM = "HS256"
# Clocks of the issuer and this server may disagree by this much.
LEEWAY_SECONDS = 30


@dataclass(frozen=True)
class TokenIdentity:
    """What a verified token says: the entity it acts as, and where it came from."""

    entity_id: uuid.UUID
    subject: str
    # "self" for the server's own tokens; the verifier's name for a platform's.
    issuer: str
    # The log-in of one of the server's own tokens, else None.
    family: uuid.UUID | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def entity_for_subject(subject: str) -> uuid.UUID:
    """The entity a subject acts as: the reference's ``stringToUuid(sub)``."""
    return string_to_uuid(subject)


def signing_keys() -> list[bytes]:
    """The server's keys, the signing one first; without any configured, one derived from
    SECRET_KEY (per process unless DJANGO_SECRET_KEY is set: docs/security.md)."""
    keys = [key.encode() for key in app_settings.JWT_SIGNING_KEYS if key]
    if keys:
        return keys
    derived = salted_hmac("elizabus.identity.tokens", "signing key", secret=settings.SECRET_KEY)
    return [derived.hexdigest().encode()]


def key_id(key: bytes) -> str:
    """A key's public name in a token's ``kid``: enough of its SHA-256 to tell keys apart."""
    return hashlib.sha256(key).hexdigest()[:16]


def access_token_issue(
    *,
    subject: str,
    family: uuid.UUID,
    username: str,
    email: str,
    lifetime: int | None = None,
) -> tuple[str, int]:
    """A signed access token for an account's log-in, and its lifetime in seconds
    (``ACCESS_TOKEN_SECONDS`` unless told). The claims are the reference's (``sub``, ``iss``,
    ``username``, ``email``, ``iat``, ``exp``) and ``sid``, ``jti``."""
    lifetime = int(lifetime if lifetime is not None else app_settings.ACCESS_TOKEN_SECONDS)
    now = int(time.time())
    key = signing_keys()[0]
    claims = {
        "sub": subject,
        "iss": app_settings.JWT_ISSUER,
        "username": username,
        "email": email,
        "sid": str(family),
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + lifetime,
    }
    token = jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": key_id(key)})
    return token, lifetime


def agent_token_issue(*, agent_id: uuid.UUID, name: str, lifetime: int) -> str:
    """A token an agent hosted outside acts as itself with (``manage.py agent_token``): its
    subject is the agent's id, so its entity is the agent. It has no log-in to refresh or
    revoke: it lives ``lifetime`` seconds, or until its signing key is dropped."""
    token, _ = access_token_issue(
        subject=str(agent_id), family=uuid.uuid4(), username=name, email="", lifetime=lifetime
    )
    return token


def own_token_verify(token: str, header: dict[str, Any]) -> TokenIdentity | None:
    """The identity of one of the server's own tokens; None when none of its keys signed it,
    or one did and the token is not one of the server's (a platform sharing ``JWT_SECRET``);
    InvalidToken when it is one of the server's and is not valid."""
    if header.get("alg") != ALGORITHM:
        return None
    keys = signing_keys()
    named = [key for key in keys if key_id(key) == header.get("kid")]
    for key in named or keys:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                leeway=LEEWAY_SECONDS,
                options={"verify_aud": False},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as exc:
            raise InvalidToken(details=str(exc)) from exc
        if claims.get("iss") != app_settings.JWT_ISSUER or "sid" not in claims:
            return None
        try:
            family = uuid.UUID(str(claims["sid"]))
            subject = str(claims["sub"])
            int(claims["exp"])
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidToken(details="Malformed claims") from exc
        return TokenIdentity(
            entity_id=entity_for_subject(subject),
            subject=subject,
            issuer="self",
            family=family,
            claims=claims,
        )
    return None


def token_verify(token: str) -> TokenIdentity:
    """The identity a bearer token speaks for: one of the server's own, else a platform's
    (:mod:`elizabus.identity.verifiers`); InvalidToken otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken(details=f"Malformed token: {exc}") from exc
    identity = own_token_verify(token, header)
    if identity is not None:
        return identity
    verified = platform_claims(token, header)
    if verified is None:
        raise InvalidToken(details=f"No verifier for algorithm {header.get('alg')!r}")
    issuer, claims = verified
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise InvalidToken(details="JWT missing required claim: sub")
    return TokenIdentity(
        entity_id=entity_for_subject(subject), subject=subject, issuer=issuer, claims=claims
    )
