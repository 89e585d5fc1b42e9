"""Property-based fuzzing of every operation the API describes at ``/api/schema/``.

Schemathesis reads the live schema through the WSGI application and generates requests for each
operation, valid and invalid alike; whatever it sends, the server must never answer 5xx, and every
refusal must come in the one error shape ``{success: false, error: {code, message}}``. Runs are
bounded and derandomized, so the suite stays fast and a failure replays the same way.

Only the fuzzing phase runs. Schemathesis' coverage phase (missing fields, wrong types, boundary
values for each parameter) would triple the time, and the other modules of this package check
exactly those cases, route by route, with their status, error code and the rows left behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from project.wsgi import application

# ``/api/server/health`` answers 503 on purpose while no agent runs, as the reference's health
# check does (test_server_routes.py checks both answers): not a server error.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application).exclude(
    path="/api/server/health"
)
schema.config.phases.coverage.enabled = False


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Iterator[None]:
    """As Django's test client does: a request must not close the connection that holds the
    test's transaction."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@schemathesis.check
def error_envelope(ctx: Any, response: Any, case: Any) -> None:
    """A 4xx answer is ``{success: false, error: {code, message[, details]}}`` (docs/errors.md)."""
    if response.status_code < 400:
        return
    body = json.loads(response.content)
    assert set(body) == {"success", "error"} and body["success"] is False, body
    error = body["error"]
    assert {"code", "message"} <= set(error) <= {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and isinstance(error["message"], str), error


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_a_server_error(case):
    case.call_and_validate(checks=[not_a_server_error, error_envelope])


@pytest.fixture
def logged_in(settings: Any, db: None) -> dict[str, str]:
    """Data isolation on, and the headers of a user logged in (docs/security.md, "Access")."""
    from elizabus import services

    settings.ELIZABUS = {
        **settings.ELIZABUS,
        "DATA_ISOLATION": True,
        "JWT_SIGNING_KEYS": ["f" * 48],
    }
    issued = services.account_register(
        username="fuzzer", email="fuzzer@example.com", password="a fuzzing passphrase"
    )
    return {"Authorization": f"Bearer {issued.access_token}"}


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_a_logged_in_user_a_server_error(case, logged_in):
    case.call_and_validate(headers=logged_in, checks=[not_a_server_error, error_envelope])
