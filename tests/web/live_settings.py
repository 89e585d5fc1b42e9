"""Settings of the live server the browser tests start: the project's settings on the test
database the test process created (``ELIZABUS_LIVE_DB_NAME``), with the in-process agents on and
the static files served straight from the finders (``collectstatic`` has not run)."""

import os

from project.settings import *  # noqa: F403
from project.settings import DATABASES, ELIZABUS

DATABASES["default"]["NAME"] = os.environ["ELIZABUS_LIVE_DB_NAME"]
ELIZABUS = {**ELIZABUS, "RUN_AGENTS_IN_PROCESS": True}
SERVESTATIC_USE_FINDERS = True
