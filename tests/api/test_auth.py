"""The auth routes (``/api/auth/``): register, log in, refresh with rotation and reuse
detection, log out, ``me``, password change, key rotation; the reference's shapes and codes."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from elizabus.identity.tokens import key_id
from elizabus.ids import string_to_uuid
from elizabus.models import Account, Entity, RefreshToken

from .helpers import Api, assert_error, assert_ok

KEY = "k" * 40
OLD_KEY = "o" * 40
PASSWORD = "correct horse battery"


@pytest.fixture
def isolated(settings: Any) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "DATA_ISOLATION": True, "JWT_SIGNING_KEYS": [KEY]}


def register(api: Api, name: str = "alice", password: str = PASSWORD, **extra: Any) -> Any:
    body = {"email": f"{name}@example.com", "username": name, "password": password, **extra}
    return api.post("/api/auth/register", body)


def login(api: Api, name: str = "alice", password: str = PASSWORD) -> Any:
    return api.post("/api/auth/login", {"email": f"{name}@example.com", "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_the_routes_are_absent_without_isolation(api: Api) -> None:
    error = assert_error(register(api), 404, "NOT_FOUND")

    assert error["message"] == "API endpoint not found"
    assert not get_user_model().objects.exists()


def test_register_binds_a_django_user_to_the_entity_of_its_subject(
    api: Api, isolated: None
) -> None:
    data = assert_ok(register(api), 201)

    entity_id = string_to_uuid("eliza:alice")
    assert data["entityId"] == str(entity_id)
    assert data["username"] == "alice"
    assert data["expiresIn"] == "15m"
    assert data["refreshExpiresIn"] == "30d"
    user = get_user_model().objects.get(username="alice")
    assert user.password.startswith("md5$") and PASSWORD not in user.password
    account = Account.objects.get(user=user)
    assert account.entity_id == entity_id
    assert Entity.objects.get(pk=entity_id).names == ["alice"]
    # Only the refresh token's digest is stored.
    assert not RefreshToken.objects.filter(token_hash=data["refreshToken"]).exists()
    assert RefreshToken.objects.filter(account=account).count() == 1


def test_the_access_token_carries_the_reference_claims(api: Api, isolated: None) -> None:
    token = assert_ok(register(api), 201)["token"]

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, KEY, algorithms=["HS256"], issuer="eliza-server")
    assert header["alg"] == "HS256" and header["kid"] == key_id(KEY.encode())
    assert claims["sub"] == "eliza:alice"
    assert claims["username"] == "alice" and claims["email"] == "alice@example.com"
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert uuid.UUID(claims["sid"])


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"email": "nope", "username": "alice", "password": PASSWORD}, "INVALID_EMAIL"),
        ({"email": "a@example.com", "username": "al", "password": PASSWORD}, "INVALID_USERNAME"),
        ({"email": "a@example.com", "username": "a b c", "password": PASSWORD}, "INVALID_USERNAME"),
        ({"email": "a@example.com", "username": "alice", "password": "short"}, "INVALID_PASSWORD"),
        (
            {"email": "a@example.com", "username": "alice", "password": "12345678"},
            "INVALID_PASSWORD",
        ),
        (
            {"email": "a@example.com", "username": "alice", "password": "password"},
            "INVALID_PASSWORD",
        ),
        ({"email": "a@example.com", "username": 5, "password": PASSWORD}, "INVALID_USERNAME"),
    ],
)
def test_register_refuses_bad_input(api: Api, isolated: None, body: Any, code: str) -> None:
    assert_error(api.post("/api/auth/register", body), 400, code)
    assert not get_user_model().objects.exists()


def test_register_refuses_a_taken_email_or_username(api: Api, isolated: None) -> None:
    assert_ok(register(api), 201)

    assert_error(register(api, "alice", email="ALICE@example.com"), 409, "EMAIL_EXISTS")
    assert_error(register(api, "ALICE", email="other@example.com"), 409, "USERNAME_EXISTS")
    assert get_user_model().objects.count() == 1


def test_login_gives_a_new_log_in_and_refuses_wrong_credentials(api: Api, isolated: None) -> None:
    assert_ok(register(api), 201)

    data = assert_ok(login(api))
    assert data["entityId"] == str(string_to_uuid("eliza:alice"))
    assert set(data) == {
        "token",
        "entityId",
        "username",
        "expiresIn",
        "refreshToken",
        "refreshExpiresIn",
    }
    wrong = assert_error(login(api, password="wrong password"), 401, "INVALID_CREDENTIALS")
    unknown = assert_error(login(api, "bob"), 401, "INVALID_CREDENTIALS")
    assert wrong["message"] == unknown["message"] == "Invalid credentials"
    assert_error(
        api.post("/api/auth/login", {"email": "a@example.com"}), 400, "MISSING_CREDENTIALS"
    )


def test_a_refresh_token_rotates_and_its_reuse_revokes_the_log_in(api: Api, isolated: None) -> None:
    first = assert_ok(register(api), 201)["refreshToken"]

    second = assert_ok(api.post("/api/auth/refresh", {"refreshToken": first}))
    assert second["refreshToken"] != first
    # The spent token again: a replay. Its whole log-in goes, the next token included.
    error = assert_error(api.post("/api/auth/refresh", {"refreshToken": first}), 401)
    assert error["code"] == "INVALID_TOKEN" and "reused" in error["details"]
    assert_error(
        api.post("/api/auth/refresh", {"refreshToken": second["refreshToken"]}),
        401,
        "INVALID_TOKEN",
    )


def test_refresh_with_the_access_token_as_the_reference_does(api: Api, isolated: None) -> None:
    token = assert_ok(register(api), 201)["token"]

    data = assert_ok(api.post("/api/auth/refresh", **bearer(token)))
    assert "refreshToken" not in data
    assert jwt.decode(data["token"], KEY, algorithms=["HS256"])["sub"] == "eliza:alice"
    assert_error(api.post("/api/auth/refresh"), 401, "MISSING_TOKEN")
    assert_error(api.post("/api/auth/refresh", **bearer("not.a.jwt")), 401, "INVALID_TOKEN")


def test_logout_revokes_the_log_in_and_only_it(api: Api, isolated: None) -> None:
    one = assert_ok(register(api), 201)
    two = assert_ok(login(api))

    assert_ok(api.post("/api/auth/logout", {"refreshToken": one["refreshToken"]}))

    assert_error(api.post("/api/auth/refresh", {"refreshToken": one["refreshToken"]}), 401)
    assert_error(api.post("/api/auth/refresh", **bearer(one["token"])), 401, "INVALID_TOKEN")
    assert_ok(api.post("/api/auth/refresh", {"refreshToken": two["refreshToken"]}))


def test_logout_everywhere_with_the_access_token(api: Api, isolated: None) -> None:
    one = assert_ok(register(api), 201)
    two = assert_ok(login(api))

    data = assert_ok(api.post("/api/auth/logout", {"everywhere": True}, **bearer(one["token"])))

    assert data["loggedOut"] is True and data["revoked"] == 2
    assert_error(api.post("/api/auth/refresh", {"refreshToken": two["refreshToken"]}), 401)


def test_a_password_change_revokes_every_log_in(api: Api, isolated: None) -> None:
    one = assert_ok(register(api), 201)
    new = "another fine passphrase"

    data = assert_ok(
        api.post(
            "/api/auth/password",
            {"currentPassword": PASSWORD, "newPassword": new},
            **bearer(one["token"]),
        )
    )

    assert_error(api.post("/api/auth/refresh", {"refreshToken": one["refreshToken"]}), 401)
    assert_ok(api.post("/api/auth/refresh", {"refreshToken": data["refreshToken"]}))
    assert_error(login(api), 401, "INVALID_CREDENTIALS")
    assert_ok(login(api, password=new))


def test_a_password_changed_elsewhere_revokes_the_log_ins_too(api: Api, isolated: None) -> None:
    refresh = assert_ok(register(api), 201)["refreshToken"]
    user = get_user_model().objects.get(username="alice")
    user.set_password("set by an operator")  # as the admin's password form does
    user.save()

    error = assert_error(api.post("/api/auth/refresh", {"refreshToken": refresh}), 401)
    assert "Password changed" in error["details"]


def test_me_answers_the_token_s_identity(api: Api, isolated: None) -> None:
    token = assert_ok(register(api), 201)["token"]

    data = assert_ok(api.request("GET", "/api/auth/me", **bearer(token)))

    assert data == {
        "entityId": str(string_to_uuid("eliza:alice")),
        "email": "alice@example.com",
        "username": "alice",
    }
    assert_error(api.request("GET", "/api/auth/me"), 401, "MISSING_TOKEN")


def test_tokens_of_an_old_key_verify_until_it_is_dropped(
    api: Api, settings: Any, isolated: None
) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "JWT_SIGNING_KEYS": [OLD_KEY]}
    token = assert_ok(register(api), 201)["token"]
    settings.ELIZABUS = {**settings.ELIZABUS, "JWT_SIGNING_KEYS": [KEY, OLD_KEY]}

    assert assert_ok(api.request("GET", "/api/auth/me", **bearer(token)))["username"] == "alice"
    fresh = assert_ok(login(api))["token"]
    assert jwt.get_unverified_header(fresh)["kid"] == key_id(KEY.encode())

    settings.ELIZABUS = {**settings.ELIZABUS, "JWT_SIGNING_KEYS": [KEY]}
    assert_error(api.request("GET", "/api/auth/me", **bearer(token)), 401, "INVALID_TOKEN")


def test_expired_and_forged_tokens_are_refused(api: Api, isolated: None) -> None:
    now = int(time.time())
    claims = {"sub": "eliza:alice", "iss": "eliza-server", "sid": str(uuid.uuid4())}
    expired = jwt.encode({**claims, "iat": now - 3600, "exp": now - 600}, KEY, algorithm="HS256")
    forged = jwt.encode({**claims, "iat": now, "exp": now + 600}, "x" * 40, algorithm="HS256")
    unsigned = jwt.encode({**claims, "iat": now, "exp": now + 600}, None, algorithm="none")

    for token in (expired, forged, unsigned):
        assert_error(api.request("GET", "/api/auth/me", **bearer(token)), 401, "INVALID_TOKEN")


def test_log_ins_are_throttled_per_address(
    client: Client, db: None, settings: Any, isolated: None
) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "AUTH_RATE": "3/min"}
    cache.clear()
    api = Api(client)

    statuses = [login(api).status_code for _ in range(5)]

    assert statuses == [401, 401, 401, 429, 429]
