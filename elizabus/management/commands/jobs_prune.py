"""``manage.py jobs_prune [--hours N]``: records the timeouts that are due, then deletes the jobs
created more than the retention ago (``ELIZABUS["JOB_RETENTION_HOURS"]``, 24 by default,
``ELIZABUS_JOB_RETENTION_HOURS``), whatever their status; their channels and messages stay.
This replaces the reference's cap of 10,000 jobs in memory. Run it hourly or daily (cron, a
systemd timer, a scheduled container)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from elizabus import services
from elizabus.conf import app_settings


class Command(BaseCommand):
    help = "Deletes the jobs older than the retention."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--hours",
            type=float,
            default=None,
            help="keep this many hours (default: JOB_RETENTION_HOURS)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        hours = options["hours"]
        if hours is None:
            hours = app_settings.JOB_RETENTION_HOURS
        timed_out = services.jobs_time_out_overdue()
        deleted = services.jobs_prune(older_than=dt.timedelta(hours=hours))
        self.stdout.write(
            f"Timed out {timed_out} job{'s' if timed_out != 1 else ''}; "
            f"pruned {deleted} job{'s' if deleted != 1 else ''}."
        )
