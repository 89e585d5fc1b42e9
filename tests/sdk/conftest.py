"""The official SDK, npm ``@elizaos/api-client`` 1.7.2, against a live server
(docs/compatibility.md).

:class:`SdkServer` is ``manage.py serve`` on a SQLite file of its own (whatever database the
suite runs on), migrated, with the demo ELIZA agent registered and running in the server's
process. ``sdk.run(body, **context)`` runs ``body``, the body of an async JavaScript function,
in Node with ``client`` (``ElizaClient.create({baseUrl, apiKey})``), ``context`` (the keyword
arguments, plus ``baseUrl`` and ``agentId``, the demo agent's id) and ``attempt(promise)``
(``{ok: true, value}`` or ``{ok: false, error: {name, code, status, message}}``, for calls
expected to fail) in scope, and returns what the function returns, through JSON::

    def test_ping(sdk):
        assert sdk.run("return await client.server.ping();") == {"pong": True}

The server is shared by the tests of one module; the ``sdk_server`` factory starts others (for
example a second process on the same database) with an environment of the test's choosing.
Tests here talk to the server only as a client would, so they use no test database.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from elizabus.management.commands.ensure_demo_agent import DEMO_AGENT_ID
from tests.live import LiveServer, Processes, need_tool, npm_package

pytestmark = pytest.mark.node

API_CLIENT = "@elizaos/api-client@1.7.2"
RUN_TIMEOUT_SECONDS = 90

# ESM ignores NODE_PATH, so the SDK is imported by its file URL; ``__SDK__`` is replaced by it.
SCRIPT = """\
import { ElizaClient, ApiError } from "__SDK__";
const context = JSON.parse(process.argv[2]);
const client = ElizaClient.create({ baseUrl: context.baseUrl, apiKey: context.apiKey });
async function attempt(promise) {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    const known = error instanceof ApiError;
    return {
      ok: false,
      error: {
        name: error.name,
        code: known ? error.code : null,
        status: known ? (error.status ?? null) : null,
        message: error.message,
      },
    };
  }
}
const result = await (async () => {
__BODY__
})();
process.stdout.write("\\n" + JSON.stringify(result === undefined ? null : result));
"""


@pytest.fixture(scope="session")
def api_client_module() -> Path:
    """The SDK's ES module, installed from npm into ``var/node/`` once (then cached)."""
    node_modules = npm_package(Path(settings.VAR_DIR) / "node", API_CLIENT)
    return node_modules / "@elizaos" / "api-client" / "dist" / "index.js"


class SdkServer:
    """A live server on its own database, and the SDK pointed at it."""

    def __init__(self, root: Path, sdk_module: Path, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.sdk_module = sdk_module
        self.agent_id = str(DEMO_AGENT_ID)
        # An empty DATABASE_URL and REDIS_URL mean the embedded SQLite file under the
        # server's own var directory and the in-process bus; ``env`` may set them.
        base = {
            "DATABASE_URL": "",
            "REDIS_URL": "",
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "ELIZABUS_VAR_DIR": str(root),
            "ELIZABUS_RUN_AGENTS": "1",
            "ELIZABUS_API_RATE": "",
        }
        self.env = {**base, **(env or {})}
        self.api_key = self.env.get("ELIZA_SERVER_AUTH_TOKEN", "")
        self.server = LiveServer(root, self.env)
        self.url = self.server.url

    def start(self) -> None:
        commands = Processes(self.root, self.env)
        for args in (("migrate", "--noinput", "-v", "0"), ("ensure_demo_agent",)):
            finished = commands.manage(*args)
            assert finished.returncode == 0, finished.stderr.decode(errors="replace")
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def run(self, body: str, **context: Any) -> Any:
        """Runs ``body`` in Node against this server; its return value, decoded from JSON."""
        script = self.root / f"sdk-{uuid.uuid4().hex}.mjs"
        script.write_text(
            SCRIPT.replace("__SDK__", self.sdk_module.as_uri()).replace("__BODY__", body)
        )
        context = {"baseUrl": self.url, "apiKey": self.api_key, "agentId": self.agent_id, **context}
        try:
            finished = subprocess.run(
                [need_tool("node"), str(script), json.dumps(context)],
                env={"PATH": "/usr/bin:/bin"},
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT_SECONDS,
            )
        finally:
            script.unlink(missing_ok=True)
        assert finished.returncode == 0, finished.stderr or finished.stdout
        # The last line is the result; anything the script printed comes before it.
        return json.loads(finished.stdout.rsplit("\n", 1)[-1])


SdkServerFactory = Callable[..., SdkServer]


@pytest.fixture(scope="module")
def sdk_server(
    api_client_module: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SdkServerFactory]:
    """``sdk_server(env=None)``: a started :class:`SdkServer`, stopped after the module."""
    started: list[SdkServer] = []

    def start(env: dict[str, str] | None = None) -> SdkServer:
        server = SdkServer(tmp_path_factory.mktemp("sdk"), api_client_module, env)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def sdk(sdk_server: SdkServerFactory) -> SdkServer:
    """The module's live server with the demo agent, and the SDK to call it."""
    return sdk_server()
