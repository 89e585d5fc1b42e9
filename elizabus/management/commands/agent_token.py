"""``manage.py agent_token <agentId> [--days N]``: a token an agent hosted outside acts as
itself with, under data isolation (docs/security.md, "Access"): on the agent wire
(``Authorization: Bearer``) and on the REST routes it calls (``/submit``, ``/complete``, ...).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from elizabus import selectors
from elizabus.identity.tokens import agent_token_issue
from elizabus.ids import is_uuid


class Command(BaseCommand):
    help = "Prints a token that acts as the given agent (its entity), valid --days days."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("agent_id")
        parser.add_argument("--days", type=int, default=30)

    def handle(self, *args: Any, **options: Any) -> None:
        agent_id = options["agent_id"]
        agent = selectors.agent_get(agent_id) if is_uuid(agent_id) else None
        if agent is None:
            raise CommandError(f"No agent {agent_id}")
        if not 1 <= options["days"] <= 366:
            raise CommandError("--days must be between 1 and 366")
        token = agent_token_issue(
            agent_id=agent.entity_id, name=agent.name, lifetime=options["days"] * 86400
        )
        self.stdout.write(token)
