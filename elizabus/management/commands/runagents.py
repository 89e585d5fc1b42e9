"""``manage.py runagents``: run the enabled agents in this process, apart from the server.

The worker must receive the server's bus events, so it needs a cross-process bus transport
(``ELIZABUS_BUS_TRANSPORT``, see docs/agents.md); with the in-process transport it would hear
nothing, and it refuses to start. Set ``ELIZABUS_RUN_AGENTS=0`` on the server processes so each
agent runs in one place only.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string

from elizabus.agents.runtime import agent_runtime
from elizabus.bus.transports import get_transport
from elizabus.bus.transports.inprocess import InProcessTransport
from elizabus.conf import app_settings


class Command(BaseCommand):
    help = "Runs the enabled agents in a worker process until SIGINT or SIGTERM."

    def handle(self, *args: Any, **options: Any) -> None:
        if issubclass(import_string(app_settings.BUS_TRANSPORT), InProcessTransport):
            raise CommandError(
                "runagents needs a cross-process bus: set ELIZABUS_BUS_TRANSPORT (docs/agents.md)"
            )
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        # Agents listen before the transport reads: a named worker replays what it missed
        # at once, and nothing may be dispatched before its agents are connected.
        agent_runtime.activate()
        get_transport()
        names = ", ".join(str(agent_id) for agent_id in agent_runtime.running_ids()) or "none"
        self.stdout.write(f"Running agents: {names}. Ctrl-C stops.")
        stop.wait()
        agent_runtime.deactivate()
        get_transport().stop()
