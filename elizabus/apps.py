"""App configuration: connects the bus wiring and sizes the ring of recent log entries once the
app registry is ready; and the process's uptime, counted from the app's loading."""

import time

from django.apps import AppConfig

_LOADED_AT = time.monotonic()


def uptime_seconds() -> float:
    """How long this process has run, as the reference's ``process.uptime()``."""
    return time.monotonic() - _LOADED_AT


class ElizabusConfig(AppConfig):
    name = "elizabus"
    verbose_name = "elizabus"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from elizabus import wiring
        from elizabus.conf import app_settings
        from elizabus.logs import log_ring

        wiring.connect()
        log_ring.resize(app_settings.LOG_RING_SIZE)
