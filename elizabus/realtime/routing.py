"""URL patterns of the real-time layer, for Channels' ``URLRouter`` in ``project/asgi.py``.

Both transports of Socket.IO live at ``/socket.io/``: ``http_urlpatterns`` go before Django's
catch-all in the HTTP router, ``websocket_urlpatterns`` in the WebSocket router. The consumers
check origins themselves (a missing ``Origin`` is a non-browser client and is let in), so the
WebSocket router needs no ``AllowedHostsOriginValidator`` around it.
"""

from django.urls import path

from .consumers import SocketIOPollingConsumer, SocketIOWebSocketConsumer

websocket_urlpatterns = [path("socket.io/", SocketIOWebSocketConsumer.as_asgi())]
http_urlpatterns = [path("socket.io/", SocketIOPollingConsumer.as_asgi())]
