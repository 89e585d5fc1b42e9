"""How bus events travel: a backend chosen by ``ELIZABUS["BUS_TRANSPORT"]`` (a dotted path).

The contract is :class:`.base.Transport`. The in-process transport (the default) hands events
straight to this process's receivers.
"""

from __future__ import annotations

import threading

from django.utils.module_loading import import_string

from elizabus.conf import app_settings

from .base import Transport

_lock = threading.Lock()
_transport: Transport | None = None


def get_transport() -> Transport:
    """The process's transport, built and started on first use."""
    global _transport
    if _transport is None:
        with _lock:
            if _transport is None:
                transport = import_string(app_settings.BUS_TRANSPORT)()
                transport.start()
                _transport = transport
    return _transport


def reset_transport() -> None:
    """Stops and forgets the transport (tests, and settings changes)."""
    global _transport
    with _lock:
        if _transport is not None:
            _transport.stop()
        _transport = None
