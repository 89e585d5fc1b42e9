"""The SDK harness itself: a JavaScript body runs against the live server, and a failing call
comes back as the SDK's ``ApiError``."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.node


def test_a_body_runs_against_the_live_server_with_the_demo_agent(sdk) -> None:
    agent = sdk.run("return await client.agents.getAgent(context.agentId);")
    assert agent["id"] == sdk.agent_id
    assert agent["name"] == "Eliza"
    assert sdk.run("return context.extra;", extra={"a": [1, 2]}) == {"a": [1, 2]}


def test_a_failing_call_is_an_api_error(sdk) -> None:
    failed = sdk.run(
        "return await attempt(client.agents.getAgent(context.missing));",
        missing="00000000-0000-4000-8000-00000000dead",
    )
    assert failed["ok"] is False
    assert failed["error"]["name"] == "ApiError"
    assert (failed["error"]["code"], failed["error"]["status"]) == ("AGENT_NOT_FOUND", 404)
