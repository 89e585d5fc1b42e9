"""Request rate limits per client address (SPEC A6, the reference's express-rate-limit)."""

from __future__ import annotations

from rest_framework.throttling import AnonRateThrottle

from elizabus.conf import app_settings


class ClientRateThrottle(AnonRateThrottle):
    """Every API request, per client address, at ``ELIZABUS["API_RATE"]`` (e.g. ``3000/min``).

    The rate is read when a throttle is made, not when the class is (as DRF's own are), so a
    changed setting takes effect at once."""

    scope = "api"

    def get_rate(self) -> str | None:
        return app_settings.API_RATE or None
