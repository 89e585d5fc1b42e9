"""``manage.py bus_prune [--hours N]``: deletes the sent bus events older than the retention
(``ELIZABUS["BUS_OUTBOX_RETENTION_HOURS"]``, a week by default). Unsent events are never
deleted. Run it daily (cron, a systemd timer, a scheduled container)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from elizabus.bus import outbox
from elizabus.conf import app_settings


class Command(BaseCommand):
    help = "Deletes the sent bus events older than the retention."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--hours",
            type=float,
            default=None,
            help="keep this many hours (default: BUS_OUTBOX_RETENTION_HOURS)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        hours = options["hours"]
        if hours is None:
            hours = app_settings.BUS_OUTBOX_RETENTION_HOURS
        deleted = outbox.prune(older_than=dt.timedelta(hours=hours))
        self.stdout.write(f"Pruned {deleted} sent bus event{'s' if deleted != 1 else ''}.")
