"""``manage.py fetch_ui``: fetches the elizaOS web UI (npm ``@elizaos/client``, pinned) into
``var/ui/`` (``make ui``; ``make run`` with ``--if-missing``). Without network access it says so
and how to fetch it later; the built-in chat page is served meanwhile."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from elizabus.conf import app_settings
from elizabus.web import ui


class Command(BaseCommand):
    help = "Fetches the elizaOS web UI from the npm registry and checks it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--ui-version", default=app_settings.UI_VERSION)
        parser.add_argument(
            "--if-missing", action="store_true", help="do nothing when it is installed"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        version = options["ui_version"]
        if options["if_missing"] and (ui.ui_root(version) / "dist" / "index.html").is_file():
            return
        try:
            dist = ui.fetch_ui(version)
        except ui.UiFetchError as exc:
            raise CommandError(
                f"The elizaOS UI ({ui.PACKAGE}@{version}) could not be fetched: {exc}\n"
                "The built-in chat page is served at / meanwhile; run `make ui` to fetch the UI."
            ) from exc
        self.stdout.write(f"The elizaOS UI {version} is in {dist}.")
