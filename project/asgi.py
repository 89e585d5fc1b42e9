"""ASGI entry point: HTTP goes to Django (``/api/``, the health checks and ``/metrics``
through its lean middleware list), and ``/socket.io/`` (polling and websocket) to the
real-time layer; the start-up (elizabus/startup.py) runs at the first connection."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from elizabus.asgi import get_asgi_application

# Django must be set up before the real-time layer imports models.
django_asgi_app = get_asgi_application()

from django.conf import settings  # noqa: E402

api_asgi_app = get_asgi_application(settings.API_MIDDLEWARE)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from elizabus.agents.wire import AgentWireConsumer  # noqa: E402
from elizabus.realtime.routing import http_urlpatterns, websocket_urlpatterns  # noqa: E402
from elizabus.startup import ServerStartup  # noqa: E402

# No AllowedHostsOriginValidator on the websocket side: it refuses sockets without an Origin
# header, which non-browser clients (the npm socket.io-client in Node) do not send. The
# consumers check the origin themselves when there is one.
application = ServerStartup(
    ProtocolTypeRouter(
        {
            "http": URLRouter(
                [
                    *http_urlpatterns,
                    # The health checks and metrics too: Django's sync-only middleware would
                    # send them to the sync thread, where a query to a database that hangs holds
                    # everything behind it (docs/deployment.md, "When a dependency is down").
                    # Channels routes to ASGI apps; django-stubs knows only views.
                    re_path(r"^(api/|healthz?$|metrics$)", api_asgi_app),  # type: ignore[arg-type]
                    re_path(r"", django_asgi_app),  # type: ignore[arg-type]
                ]
            ),
            "websocket": URLRouter(
                [
                    *websocket_urlpatterns,
                    # The agent wire (docs/agents.md): instances of agents hosted outside.
                    re_path(r"^api/agents/(?P<agent_id>[^/]+)/bus$", AgentWireConsumer.as_asgi()),
                ]
            ),
        }
    )
)
