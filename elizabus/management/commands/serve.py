"""``manage.py serve``: the server, one process, HTTP and WebSocket on one port.

uvicorn with httptools, uvloop and the sans-I/O ``websockets`` protocol serves
``project.asgi:application``. Measured against daphne on the same code (bench/README.md):
less CPU per request and per broadcast delivery, and less memory per idle socket.

Choices made here rather than left to uvicorn's defaults:

- no per-message deflate: a zlib state per socket would more than double an idle socket's
  memory, and Socket.IO frames are small; the reference's ``ws`` does not compress either;
- no WebSocket-level pings: Engine.IO's heartbeat already tells a live socket from a dead one;
- the largest WebSocket message is ``MAX_SOCKET_FRAME_BYTES`` (1 MiB): a bigger one is refused
  with close code 1009 before it is buffered;
- proxy headers are not trusted: the client address (throttling, logs) is the peer's, unless
  ``--forwarded-allow-ips`` (by default ``ELIZABUS["FORWARDED_ALLOW_IPS"]``, the setting the
  API's throttle reads) names the proxies in front;
- the ASGI lifespan runs the start-up (elizabus/startup.py) before the first connection.
"""

from __future__ import annotations

from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand
from uvicorn.importer import import_from_string

from elizabus.conf import app_settings
from elizabus.web.views import start_notes


def trusted_proxies_option(given: str | None) -> str:
    """The proxies uvicorn trusts, as its comma-separated option. Given on the command line,
    they become this process's ``FORWARDED_ALLOW_IPS`` too, so that the throttle and the
    server never disagree on who the client is."""
    if given is None:
        value = app_settings.FORWARDED_ALLOW_IPS
        return value if isinstance(value, str) else ",".join(value)
    settings.ELIZABUS = {
        **settings.ELIZABUS,
        "FORWARDED_ALLOW_IPS": [entry.strip() for entry in given.split(",") if entry.strip()],
    }
    app_settings.reload()
    return given


class Command(BaseCommand):
    help = "Serves elizabus (REST, Socket.IO, chat page, admin) with uvicorn."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--app",
            default="project.asgi:application",
            help="the ASGI application, as module:attribute (benchmarks serve others)",
        )
        parser.add_argument("--no-access-log", action="store_true", help="do not log each request")
        parser.add_argument(
            "--forwarded-allow-ips",
            default=None,
            help=(
                "comma-separated addresses or networks of trusted proxies (X-Forwarded-For, "
                "-Proto); default: the FORWARDED_ALLOW_IPS setting"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        trusted = trusted_proxies_option(options["forwarded_allow_ips"])
        # Imported here, not by uvicorn: importing the project sets Django's logging up again,
        # which would undo uvicorn's switching its access log off.
        application = import_from_string(options["app"])
        if options["app"] == "project.asgi:application":
            for note in start_notes():
                self.stdout.write(note)
        uvicorn.run(
            application,
            host=options["host"],
            port=options["port"],
            loop="uvloop",
            http="httptools",
            ws="websockets-sansio",
            ws_max_size=app_settings.MAX_SOCKET_FRAME_BYTES,
            ws_per_message_deflate=False,
            ws_ping_interval=None,
            # The project runs its start-up there; a failed start-up stops the server. (Apps
            # without lifespan support, such as the benchmarks' baselines, are served too.)
            lifespan="auto",
            proxy_headers=bool(trusted),
            forwarded_allow_ips=trusted or None,
            server_header=False,
            access_log=not options["no_access_log"],
            # Django's LOGGING configures the uvicorn loggers with everything else.
            log_config=None,
            timeout_graceful_shutdown=5,
        )
