"""Request rate limits per client address (docs/errors.md, "Limits"), as the reference's
express-rate-limit sets them."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import redis
from rest_framework.throttling import AnonRateThrottle

from elizabus.conf import app_settings

if TYPE_CHECKING:  # DRF imports this module while rest_framework.views loads
    from django.http import HttpRequest
    from django.views import View
    from rest_framework.request import Request
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)


class ClientRateThrottle(AnonRateThrottle):
    """Every API request, per client address, at ``ELIZABUS["API_RATE"]`` (e.g. ``3000/min``).

    The rate is read when a throttle is made, not when the class is (as DRF's own are), so a
    changed setting takes effect at once."""

    scope = "api"

    def get_rate(self) -> str | None:
        return app_settings.API_RATE or None

    def get_cache_key(self, request: HttpRequest, view: View) -> str:
        # The API has no users (no authentication classes): every request is counted by its
        # address, so the post route, which bypasses DRF's request, is counted the same way.
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def allow_request(self, request: Request, view: APIView) -> bool:
        """Lets the request through when the cache (Redis) cannot be asked: the limit guards
        the server, and an outage of it must not refuse every post that the database would
        store."""
        try:
            return super().allow_request(request, view)
        except redis.RedisError:
            logger.warning("API throttle: the cache is unreachable; not limiting this request")
            return True
