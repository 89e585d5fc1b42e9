"""Real time: Socket.IO (Engine.IO v4, Socket.IO v5) at ``/socket.io/`` over Django Channels.

``engineio`` and ``socketio`` are the protocol, ``consumers`` the Channels ends of it, ``router``
the elizaOS socket router, ``broadcast`` the bus receivers that push events to channel groups,
``routing`` the URL patterns for ``project/asgi.py``.
"""
