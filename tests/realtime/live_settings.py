"""Settings of the live server the ``node`` tests start: the project's settings on the
test database the test process created (``ELIZABUS_LIVE_DB_NAME``), with a fast heartbeat so a
test sees several pings."""

import os

from project.settings import *  # noqa: F403
from project.settings import DATABASES, ELIZABUS

DATABASES["default"]["NAME"] = os.environ["ELIZABUS_LIVE_DB_NAME"]
ELIZABUS = {
    **ELIZABUS,
    "RUN_AGENTS_IN_PROCESS": False,
    "SOCKET_PING_INTERVAL_MS": 300,
    "SOCKET_PING_TIMEOUT_MS": 2000,
}
