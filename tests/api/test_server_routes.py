"""The server's and system's own routes: ``/api/server/{ping,hello,status,health,debug/servers}``
and ``/api/system/{version,config,env/local}``, with the reference's bodies, and the local
environment's allow-list, which never shows a secret."""

from __future__ import annotations

import time

import pytest

from elizabus.api.views.system import ENVIRONMENT_ALLOW_LIST
from elizabus.models import DEFAULT_SERVER_ID
from tests import factories

from .helpers import Api, assert_error, assert_ok

SERVER = "/api/server"
SYSTEM = "/api/system"


def test_ping(api: Api) -> None:
    before = int(time.time() * 1000)
    body = api.get(f"{SERVER}/ping").json()
    assert set(body) == {"pong", "timestamp"}
    assert body["pong"] is True and body["timestamp"] >= before


def test_hello(api: Api) -> None:
    response = api.get(f"{SERVER}/hello")
    assert response.status_code == 200
    assert response.json() == {"message": "Hello World!"}


def test_status_counts_running_agents(api: Api) -> None:
    factories.make_agent(enabled=True)
    factories.make_agent(enabled=False)
    body = api.get(f"{SERVER}/status").json()
    assert set(body) == {"status", "agentCount", "timestamp"}
    assert (body["status"], body["agentCount"]) == ("ok", 1)
    assert body["timestamp"].endswith("Z")


@pytest.mark.parametrize(("enabled", "status"), [(True, 200), (False, 503)])
def test_server_health_is_the_health_of_slash_health(api: Api, enabled: bool, status: int) -> None:
    factories.make_agent(enabled=enabled)
    response = api.get(f"{SERVER}/health")
    assert response.status_code == status
    body = response.json()
    reference = api.client.get("/health").json()
    assert (
        set(body)
        == set(reference)
        == {
            "status",
            "version",
            "timestamp",
            "dependencies",
            "agentCount",
        }
    )
    assert (body["status"], body["dependencies"]) == (
        reference["status"],
        reference["dependencies"],
    )


def test_debug_servers_lists_the_message_servers(api: Api) -> None:
    factories.make_server(name="Second")
    body = api.get(f"{SERVER}/debug/servers").json()
    assert body["success"] is True and body["count"] == 2
    assert [server["name"] for server in body["servers"]] == ["Default Server", "Second"]
    assert body["servers"][0]["id"] == str(DEFAULT_SERVER_ID)
    assert body["data"] == {"servers": body["servers"], "count": 2}


def test_version(api: Api) -> None:
    body = api.get(f"{SYSTEM}/version").json()
    assert set(body) == {"version", "source", "timestamp", "environment", "uptime"}
    assert body["source"] == "server" and body["version"]
    assert body["environment"] in {"development", "production"}
    assert isinstance(body["uptime"], float) and body["uptime"] >= 0


def test_config_says_no_user_authentication(api: Api) -> None:
    assert assert_ok(api.get(f"{SYSTEM}/config")) == {"requiresAuth": False}


# --- env/local --------------------------------------------------------------------------------
SECRETS = {
    "DJANGO_SECRET_KEY": "django-secret-0f9e8d7c6b5a",
    "ELIZA_SERVER_AUTH_TOKEN": "api-key-1a2b3c4d5e",
    "DATABASE_URL": "postgres://elizabus:db-password-9z8y7x@db.internal:5432/elizabus",
    "REDIS_URL": "redis://:redis-password-6w5v4u@cache.internal:6379/0",
    "OPENAI_API_KEY": "sk-openai-3t2s1r",
}


@pytest.fixture
def secrets_configured(settings, monkeypatch) -> str:
    """Every secret set, in the environment and where the settings keep them; the API key."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    settings.SECRET_KEY = SECRETS["DJANGO_SECRET_KEY"]
    settings.ELIZA_SERVER_AUTH_TOKEN = SECRETS["ELIZA_SERVER_AUTH_TOKEN"]
    settings.REDIS_URL = SECRETS["REDIS_URL"]
    settings.ELIZABUS = {**settings.ELIZABUS, "OPENAI": {"api_key": SECRETS["OPENAI_API_KEY"]}}
    return SECRETS["ELIZA_SERVER_AUTH_TOKEN"]


def _secret_parts() -> list[str]:
    """Each secret, and each password inside a URL."""
    return [*SECRETS.values(), "db-password-9z8y7x", "redis-password-6w5v4u"]


def test_local_environment_is_the_allow_list_and_no_secret(
    api: Api, secrets_configured: str
) -> None:
    response = api.client.get(f"{SYSTEM}/env/local", HTTP_X_API_KEY=secrets_configured)
    data = assert_ok(response)
    assert set(data) == set(ENVIRONMENT_ALLOW_LIST)
    assert all(isinstance(value, str) for value in data.values())
    assert data["API_KEY_REQUIRED"] == "true" and data["REDIS_CONFIGURED"] == "true"
    text = response.content.decode()
    for secret in _secret_parts():
        assert secret not in text


def test_local_environment_needs_the_api_key_when_one_is_set(
    api: Api, secrets_configured: str
) -> None:
    for headers in ({}, {"HTTP_X_API_KEY": "wrong"}):
        response = api.client.get(f"{SYSTEM}/env/local", **headers)
        assert_error(response, 401, "UNAUTHORIZED")
        for secret in _secret_parts():
            assert secret not in response.content.decode()


def test_local_environment_cannot_be_written(api: Api) -> None:
    response = api.post(f"{SYSTEM}/env/local", {"content": {"DJANGO_DEBUG": "true"}})
    assert_error(response, 403, "FORBIDDEN")


@pytest.mark.parametrize(
    "path",
    ["ping", "hello", "status", "health", "debug/servers", "logs"],
)
def test_server_routes_need_the_api_key_when_one_is_set(api: Api, settings, path: str) -> None:
    settings.ELIZA_SERVER_AUTH_TOKEN = "k3y"
    assert_error(api.get(f"{SERVER}/{path}"), 401, "UNAUTHORIZED")
    assert api.client.get(f"{SERVER}/{path}", HTTP_X_API_KEY="k3y").status_code in {200, 503}
