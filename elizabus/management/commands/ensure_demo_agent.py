"""``manage.py ensure_demo_agent``: a demo ELIZA agent in the central channel, once.

``make run`` calls it so that a newcomer's first message gets an answer. It does nothing when the
demo agent exists (even disabled: an operator's choice stands).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand

from elizabus import selectors, services

DEMO_AGENT_ID = uuid.UUID("e11a0000-0000-4000-8000-000000000001")


class Command(BaseCommand):
    help = "Registers the demo ELIZA agent in the central channel unless it exists."

    def handle(self, *args: Any, **options: Any) -> None:
        if selectors.agent_get(DEMO_AGENT_ID) is not None:
            return
        services.agent_register(
            agent_id=DEMO_AGENT_ID,
            name="Eliza",
            bio="A Rogerian psychotherapist, after Weizenbaum's DOCTOR script (1966).",
            responder="elizabus.agents.responders.eliza.ElizaResponder",
        )
        self.stdout.write("Registered the demo agent Eliza in the central channel.")
