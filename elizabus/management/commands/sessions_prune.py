"""``manage.py sessions_prune``: deletes the expired sessions (their channels and messages stay).

A session is refused (410) and deleted as soon as it is touched after its expiry anyway; this
removes the ones nobody touches again, in place of the reference's timer in every process. Run
it every few minutes, or hourly (cron, a systemd timer, a scheduled container)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from elizabus import services


class Command(BaseCommand):
    help = "Deletes the expired sessions."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = services.sessions_prune()
        self.stdout.write(f"Pruned {deleted} expired session{'s' if deleted != 1 else ''}.")
