"""ASGI entry point: HTTP goes to Django, ``/socket.io/`` to the real-time layer."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

# Django must be set up before the real-time layer imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from elizabus.agents.asgi import StartAgentsWithServer  # noqa: E402

application = StartAgentsWithServer(ProtocolTypeRouter({"http": django_asgi_app}))
