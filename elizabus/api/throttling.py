"""Request rate limits per client address (docs/errors.md, "Limits"), as the reference's
express-rate-limit sets them.

The address is the peer's. ``X-Forwarded-For`` is read only from a peer named in
``ELIZABUS["FORWARDED_ALLOW_IPS"]``, the setting ``manage.py serve --forwarded-allow-ips`` also
reads (docs/security.md, "Client addresses"): any client can write the header, so trusting it
from anyone lets a client that changes it each request escape every limit.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import redis
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle

from elizabus import breakers
from elizabus.conf import app_settings

if TYPE_CHECKING:  # DRF imports this module while rest_framework.views loads
    from django.http import HttpRequest
    from django.views import View
    from rest_framework.request import Request
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)

# Where the throttles count while Redis is down: this process's memory.
local_counts = LocMemCache("elizabus-throttle-local", {})
# More entries than any real chain of proxies: the rest of a longer header is not read.
_MAX_FORWARDED_HOPS = 16


class TrustedProxies:
    """The proxies whose ``X-Forwarded-For`` is believed: addresses, networks, or ``*``."""

    def __init__(self, entries: Iterable[str]) -> None:
        entries = [entry.strip() for entry in entries if entry.strip()]
        self.everyone = "*" in entries
        self.networks = []
        for entry in entries:
            if entry == "*":
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                logger.warning("FORWARDED_ALLOW_IPS: %r is no address or network; ignored", entry)

    def __contains__(self, host: str) -> bool:
        if self.everyone:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def client(self, peer: str, forwarded_for: str) -> str:
        """The client's address: the peer's, unless the peer is a trusted proxy; then the
        nearest address in ``forwarded_for`` that is not a trusted proxy (each proxy appends
        the address it saw, so what precedes it is the client's own claim)."""
        if not forwarded_for or peer not in self:
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",")[-_MAX_FORWARDED_HOPS:]]
        hops = [hop for hop in hops if hop]
        if not hops:
            return peer
        if self.everyone:
            return hops[0]
        for hop in reversed(hops):
            if hop not in self:
                return hop
        return hops[0]


@functools.lru_cache(maxsize=8)
def _trusted(entries: tuple[str, ...]) -> TrustedProxies:
    return TrustedProxies(entries)


def trusted_proxies() -> TrustedProxies:
    """``ELIZABUS["FORWARDED_ALLOW_IPS"]``, parsed once per value."""
    value = app_settings.FORWARDED_ALLOW_IPS
    entries = value.split(",") if isinstance(value, str) else value
    return _trusted(tuple(entries))


def client_address(request: HttpRequest) -> str:
    """The address a request is counted by (see the module's docstring)."""
    return trusted_proxies().client(
        request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR", "")
    )


class _ByClientAddress:
    """DRF's throttles, counting by :func:`client_address` instead of DRF's ``get_ident``
    (which believes ``X-Forwarded-For`` from anyone unless ``NUM_PROXIES`` is set)."""

    # DRF's; declared here, where allow_request may swap in the local counts.
    cache: BaseCache

    def get_ident(self, request: HttpRequest) -> str:
        return client_address(request)

    def allow_request(self, request: Request, view: APIView) -> bool:
        """Counts in this process while the cache (Redis) cannot be asked (its breaker is
        open, or this call failed and opened it): the limit guards the server, and an outage
        of Redis must neither refuse nor hold the posts that the database would store. Each
        process then allows the whole rate, so N server processes allow N times it between
        them, for the outage's length."""
        if breakers.redis.allow():
            try:
                with breakers.redis.timed():
                    return super().allow_request(request, view)  # type: ignore[misc]
            except redis.RedisError as exc:
                breakers.redis.failed(exc)
        self.cache = local_counts
        return super().allow_request(request, view)  # type: ignore[misc]


class ClientRateThrottle(_ByClientAddress, AnonRateThrottle):
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


class UploadRateThrottle(_ByClientAddress, ScopedRateThrottle):
    """Uploads, per client address, at ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["upload"]``,
    read when a throttle is made."""

    def get_rate(self) -> str | None:
        # DRF's stubs type the rates as numbers; they are strings such as "30/minute".
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)  # type: ignore[arg-type,return-value]


class AuthRateThrottle(ClientRateThrottle):
    """Log-ins, registrations, refreshes and password changes, per client address, at
    ``ELIZABUS["AUTH_RATE"]``: a password is not guessed at the API's own rate."""

    scope = "auth"

    def get_rate(self) -> str | None:
        return app_settings.AUTH_RATE or None


class RefusedKeyThrottle(ClientRateThrottle):
    """Requests refused for a missing or wrong API key, per client address, at
    ``ELIZABUS["UNAUTHORIZED_RATE"]``. Once an address has spent it, its requests are not
    even compared with the key until the window passes: an answer that told a right guess
    from a wrong one would let the guessing go on (docs/security.md, "Refused keys")."""

    scope = "unauthorized"

    def get_rate(self) -> str | None:
        return app_settings.UNAUTHORIZED_RATE or None

    def spent(self, request: HttpRequest) -> bool:
        """Whether the address has no refusal left in the window; counts nothing."""
        if self.rate is None:
            return False
        self.key = self.get_cache_key(request, None)  # type: ignore[arg-type]
        try:
            self.history = self.cache.get(self.key, [])
        except redis.RedisError:
            return False
        self.now = self.timer()
        # DRF sets duration and num_requests in __init__; its stubs do not declare them.
        while self.history and self.history[-1] <= self.now - self.duration:  # type: ignore[attr-defined]
            self.history.pop()
        return len(self.history) >= self.num_requests  # type: ignore[attr-defined]


class CreationRateThrottle(ClientRateThrottle):
    """What a client makes and leaves behind (``POST`` of sessions, jobs and channels), per
    client address, at ``ELIZABUS["CREATE_RATE"]``: a loop of them grew the database without
    end at the API's own rate (docs/security.md, "What a client may make"). Other methods of
    the same routes are not counted."""

    scope = "create"

    def get_rate(self) -> str | None:
        return app_settings.CREATE_RATE or None

    def allow_request(self, request: Request, view: APIView) -> bool:
        if request.method != "POST":
            return True
        return super().allow_request(request, view)


# The throttles of a route that makes what a client leaves behind: the API's rate and that.
MAKES = [ClientRateThrottle, CreationRateThrottle]
