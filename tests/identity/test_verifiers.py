"""Platforms' tokens: a shared secret, a JWKS served over real HTTP (cached, fetched again for
an unknown ``kid``), Ed25519 keys; and the tokens each must refuse."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from elizabus.exceptions import InvalidToken
from elizabus.identity import verifiers
from elizabus.identity.tokens import token_verify
from elizabus.ids import string_to_uuid

SECRET = "s" * 64


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "did:privy:alice", "iat": now, "exp": now + 600, **extra}


def refused(token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        token_verify(token)
    return str(caught.value.details)


class Jwks:
    """A JWKS endpoint on loopback that counts its fetches; ``keys`` may change under it."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                jwks.fetches += 1
                body = json.dumps({"keys": jwks.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, public_key: Any, kid: str) -> None:
        algorithm = RSAAlgorithm if isinstance(public_key, rsa.RSAPublicKey) else ECAlgorithm
        self.keys.append({**algorithm.to_jwk(public_key, as_dict=True), "kid": kid, "use": "sig"})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def jwks(settings: Any) -> Iterator[Jwks]:
    served = Jwks()
    settings.ELIZABUS = {**settings.ELIZABUS, "JWT_JWKS_URI": served.url}
    verifiers._jwks_caches.clear()
    yield served
    verifiers._jwks_caches.clear()
    served.close()


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_a_shared_secret_token_acts_as_its_subject(settings: Any) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "JWT_SHARED_SECRETS": [SECRET]}

    for alg in ("HS256", "HS512"):
        identity = token_verify(jwt.encode(claims(), SECRET, algorithm=alg))
        assert identity.entity_id == string_to_uuid("did:privy:alice")
        assert (identity.issuer, identity.family) == ("secret", None)
    # A UUID subject is the entity itself.
    entity = uuid.uuid4()
    assert token_verify(jwt.encode(claims(sub=str(entity)), SECRET)).entity_id == entity


def test_a_shared_secret_refuses_forged_expired_and_subjectless_tokens(settings: Any) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "JWT_SHARED_SECRETS": [SECRET]}
    now = int(time.time())

    assert "Signature" in refused(jwt.encode(claims(), "t" * 40))
    assert "expired" in refused(jwt.encode(claims(exp=now - 120), SECRET))
    assert "sub" in refused(jwt.encode({"exp": now + 60}, SECRET))
    assert "exp" in refused(jwt.encode({"sub": "x"}, SECRET))
    assert "algorithm" in refused(jwt.encode(claims(), None, algorithm="none"))


def test_the_issuer_whitelist_and_the_audience_are_enforced(settings: Any) -> None:
    settings.ELIZABUS = {
        **settings.ELIZABUS,
        "JWT_SHARED_SECRETS": [SECRET],
        "JWT_ISSUER_WHITELIST": ["https://auth.example.com"],
        "JWT_AUDIENCE": ["elizabus"],
    }
    good = claims(iss="https://auth.example.com", aud="elizabus")

    assert token_verify(jwt.encode(good, SECRET)).subject == "did:privy:alice"
    assert "issuer" in refused(jwt.encode({**good, "iss": "https://evil.example"}, SECRET))
    assert "issuer" in refused(jwt.encode({k: v for k, v in good.items() if k != "iss"}, SECRET))
    assert "audience" in refused(jwt.encode({**good, "aud": "another"}, SECRET)).lower()


def test_rs256_and_es256_tokens_verify_against_the_jwks(jwks: Jwks) -> None:
    rsa_private, ec_private = rsa_key(), ec.generate_private_key(ec.SECP256R1())
    jwks.add(rsa_private.public_key(), "rsa-1")
    jwks.add(ec_private.public_key(), "ec-1")

    rs = jwt.encode(claims(), rsa_private, algorithm="RS256", headers={"kid": "rsa-1"})
    es = jwt.encode(claims(sub="bob"), ec_private, algorithm="ES256", headers={"kid": "ec-1"})

    assert token_verify(rs).entity_id == string_to_uuid("did:privy:alice")
    assert token_verify(es).entity_id == string_to_uuid("bob")
    assert token_verify(rs).issuer == "jwks"
    # Fetched once, then served from the cache.
    assert jwks.fetches == 1


def test_an_unknown_kid_fetches_the_key_set_again(
    jwks: Jwks, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, rotated = rsa_key(), rsa_key()
    jwks.add(first.public_key(), "2026-01")
    token_verify(jwt.encode(claims(), first, algorithm="RS256", headers={"kid": "2026-01"}))
    jwks.add(rotated.public_key(), "2026-02")
    monkeypatch.setattr(verifiers, "JWKS_MIN_REFETCH_SECONDS", 0.0)

    token = jwt.encode(claims(), rotated, algorithm="RS256", headers={"kid": "2026-02"})

    assert token_verify(token).subject == "did:privy:alice"
    assert jwks.fetches == 2


def test_made_up_kids_do_not_each_fetch_the_key_set(jwks: Jwks) -> None:
    private = rsa_key()
    jwks.add(private.public_key(), "real")
    token_verify(jwt.encode(claims(), private, algorithm="RS256", headers={"kid": "real"}))

    for n in range(20):
        token = jwt.encode(claims(), private, algorithm="RS256", headers={"kid": f"fake-{n}"})
        assert "kid" in refused(token)

    assert jwks.fetches == 1


def test_the_jwks_refuses_a_forged_key_and_an_hmac_made_of_its_public_key(jwks: Jwks) -> None:
    private, forger = rsa_key(), rsa_key()
    jwks.add(private.public_key(), "k1")
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    forged = jwt.encode(claims(), forger, algorithm="RS256", headers={"kid": "k1"})
    assert "Signature" in refused(forged)
    # The classic confusion: HS256 "signed" with the public key. The key set's keys are never
    # used as HMAC secrets, whatever the token's header says.
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    payload = jwt.utils.base64url_encode(json.dumps(claims()).encode())
    signature = hmac.new(pem, header + b"." + payload, hashlib.sha256).digest()
    confused = b".".join([header, payload, jwt.utils.base64url_encode(signature)]).decode()
    refused(confused)


def test_ed25519_tokens_verify_against_the_configured_public_key(settings: Any) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings.ELIZABUS = {**settings.ELIZABUS, "JWT_ED25519_PUBLIC_KEYS": [pem]}

    identity = token_verify(jwt.encode(claims(), private, algorithm="EdDSA"))

    assert (identity.subject, identity.issuer) == ("did:privy:alice", "ed25519")
    other = ed25519.Ed25519PrivateKey.generate()
    assert "Signature" in refused(jwt.encode(claims(), other, algorithm="EdDSA"))


def test_an_unreachable_jwks_refuses_the_token(settings: Any) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "JWT_JWKS_URI": "http://127.0.0.1:9/jwks.json"}
    verifiers._jwks_caches.clear()

    token = jwt.encode(claims(), rsa_key(), algorithm="RS256", headers={"kid": "k"})

    assert "fetched" in refused(token)
    verifiers._jwks_caches.clear()
