"""Tokens that platforms issue themselves, verified as the reference verifies them
(docs/security.md, "Platforms' tokens"): HS256/384/512 with a shared secret, RS256/ES256 (and
their kin) from the platform's JWKS, EdDSA with Ed25519 public keys. The entity is the
reference's ``stringToUuid(sub)``.

Every token must carry ``sub`` and ``exp``; ``iss`` must be listed when
``JWT_ISSUER_WHITELIST`` is set, ``aud`` must match when ``JWT_AUDIENCE`` is. Each kind of key
accepts only its own algorithms, so a public key is never taken for an HMAC secret.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from elizabus.conf import app_settings
from elizabus.exceptions import InvalidToken

logger = logging.getLogger(__name__)

HMAC_ALGORITHMS = ["HS256", "HS384", "HS512"]
JWKS_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
ED25519_ALGORITHMS = ["EdDSA"]
LEEWAY_SECONDS = 30
# A JWKS is fetched at most this often for unknown key ids: a stream of tokens naming made-up
# ``kid``s must not become a stream of requests to the platform.
JWKS_MIN_REFETCH_SECONDS = 10.0
JWKS_TIMEOUT_SECONDS = 5.0


def _listed(value: Any) -> list[str]:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return [str(item) for item in value or [] if str(item).strip()]


def claims_verify(token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
    """The claims of ``token`` signed by ``key``, with the checks every platform token gets."""
    audience = _listed(app_settings.JWT_AUDIENCE)
    claims = jwt.decode(
        token,
        key,
        algorithms=algorithms,
        audience=audience or None,
        leeway=LEEWAY_SECONDS,
        options={"require": ["sub", "exp"], "verify_aud": bool(audience)},
    )
    issuers = _listed(app_settings.JWT_ISSUER_WHITELIST)
    if issuers and "*" not in issuers and claims.get("iss") not in issuers:
        raise jwt.InvalidIssuerError(f"Untrusted issuer: {claims.get('iss')}")
    return claims


class JwksCache:
    """A platform's key set, fetched when first needed, kept ``JWT_JWKS_CACHE_SECONDS``, and
    fetched again early when a token names a key id it lacks (the platform rotated)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self.fetches = 0

    def _fetch(self) -> None:
        response = httpx.get(self.url, timeout=JWKS_TIMEOUT_SECONDS, follow_redirects=False)
        response.raise_for_status()
        keys: dict[str | None, jwt.PyJWK] = {}
        for data in response.json().get("keys", []):
            if data.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(data)
            except jwt.PyJWTError:
                continue  # a key of a kind this server does not use
            keys[data.get("kid")] = key
        self._keys, self._fetched_at = keys, time.monotonic()
        self.fetches += 1

    def keys_for(self, kid: str | None) -> list[jwt.PyJWK]:
        """The keys a token naming ``kid`` may be signed with (all of them without a kid)."""
        with self._lock:
            age = time.monotonic() - self._fetched_at
            stale = not self.fetches or age > float(app_settings.JWT_JWKS_CACHE_SECONDS)
            unknown = kid is not None and kid not in self._keys
            if stale or (unknown and age > JWKS_MIN_REFETCH_SECONDS):
                try:
                    self._fetch()
                except (httpx.HTTPError, ValueError) as exc:
                    logger.warning("JWKS %s could not be fetched: %s", self.url, exc)
                    if not self._keys:
                        raise InvalidToken(details="The key set could not be fetched") from exc
            if kid is None:
                return list(self._keys.values())
            return [self._keys[kid]] if kid in self._keys else []


_jwks_caches: dict[str, JwksCache] = {}
_jwks_lock = threading.Lock()


def jwks_cache(url: str) -> JwksCache:
    """The one cache of a JWKS URL in this process."""
    with _jwks_lock:
        cache = _jwks_caches.get(url)
        if cache is None:
            cache = _jwks_caches[url] = JwksCache(url)
        return cache


def ed25519_keys() -> list[Ed25519PublicKey]:
    """``JWT_ED25519_PUBLIC_KEYS`` as keys (PEM, SubjectPublicKeyInfo)."""
    keys = []
    for pem in app_settings.JWT_ED25519_PUBLIC_KEYS:
        key = load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("JWT_ED25519_PUBLIC_KEYS holds a key that is not Ed25519")
        keys.append(key)
    return keys


def platform_claims(token: str, header: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The verifier's name and the claims of a platform's token, None when no configured
    verifier takes its algorithm; InvalidToken when one does and the token is not valid."""
    alg = header.get("alg")
    candidates: list[tuple[str, Any, list[str]]] = []
    if alg in HMAC_ALGORITHMS:
        candidates = [
            ("secret", secret.encode(), HMAC_ALGORITHMS)
            for secret in _listed(app_settings.JWT_SHARED_SECRETS)
        ]
    elif alg in JWKS_ALGORITHMS and app_settings.JWT_JWKS_URI:
        keys = jwks_cache(app_settings.JWT_JWKS_URI).keys_for(header.get("kid"))
        if not keys:
            raise InvalidToken(details="No key of the key set matches the token's kid")
        candidates = [("jwks", key.key, [alg]) for key in keys]
    elif alg in ED25519_ALGORITHMS:
        candidates = [("ed25519", key, ED25519_ALGORITHMS) for key in ed25519_keys()]
    if not candidates:
        return None
    for name, key, algorithms in candidates:
        try:
            return name, claims_verify(token, key, algorithms)
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as exc:  # expired, wrong issuer, a key of another kind, ...
            raise InvalidToken(details=str(exc)) from exc
    raise InvalidToken(details="Signature verification failed")
