"""``manage.py runagents``: run the enabled agents in this process, apart from the server.

The worker must receive the server's bus events, so it needs a bus that crosses processes:
the Redis transport (any number of workers then share the agents, docs/bus.md) or the
database transport of the embedded default. With the in-process transport it would hear
nothing, and it refuses to start. Its relay sends what a crashed process left unsent.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from elizabus.agents.runtime import agent_runtime
from elizabus.bus.relay import relay
from elizabus.bus.transports import get_transport
from elizabus.realtime import broadcast


class Command(BaseCommand):
    help = "Runs the enabled agents in a worker process until SIGINT or SIGTERM."

    def handle(self, *args: Any, **options: Any) -> None:
        transport = get_transport()
        if not (transport.shares_events or transport.follows_outbox):
            raise CommandError(
                "runagents needs a cross-process bus: set ELIZABUS_BUS_TRANSPORT (docs/agents.md)"
            )
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        broadcast.start_broadcast_loop()
        agent_runtime.activate()
        relay.start()
        names = ", ".join(str(agent_id) for agent_id in agent_runtime.running_ids()) or "none"
        self.stdout.write(f"Running agents: {names}. Ctrl-C stops.")
        stop.wait()
        agent_runtime.deactivate()
        broadcast.stop_broadcast_loop()
        relay.stop()
        transport.stop()
