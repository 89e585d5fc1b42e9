"""Circuit breakers: one per dependency (``redis``, ``database``), so that a dependency that
hangs or is gone is noticed once, not once per request (docs/deployment.md, "When a dependency
is down").

A breaker is closed while its dependency answers: calls go through, and their latencies are
kept. The first call that fails (a timeout, a refused or dropped connection) opens it: the
request path then stops calling the dependency and takes the degraded path its feature chose
(the API throttle and the socket limits count in this process, broadcasts wait in their queue,
requests that need the database are refused with 503). A background thread probes the
dependency every :data:`PROBE_INTERVAL` seconds; the first probe that answers closes the
breaker again.

Reading a breaker's state is an attribute read, with no lock and no I/O: it sits on every
request's path.

May import Django's settings and database connections, redis and the app's conf.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

PROBE_INTERVAL = 0.5
# Latencies kept per dependency for the summaries.
LATENCY_WINDOW = 1000


class Breaker:
    """One dependency's state, its latencies, and the probe that closes it again."""

    def __init__(self, name: str, probe: Callable[[], None], configured: Callable[[], bool]):
        self.name = name
        self._probe = probe
        self._configured = configured
        self._lock = threading.Lock()
        self._prober: threading.Thread | None = None
        self.is_open = False
        self.opened_at = 0.0
        self.opened = 0  # times it opened
        self.failures = 0
        self.last_error = ""
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.total_seconds = 0.0
        self.calls = 0

    @property
    def configured(self) -> bool:
        """Whether this process uses the dependency at all (Redis only with ``REDIS_URL``)."""
        return self._configured()

    def allow(self) -> bool:
        """Whether the request path may call the dependency now."""
        return not self.is_open

    def record(self, seconds: float) -> None:
        """A call that answered, and how long it took."""
        self.latencies.append(seconds)
        self.total_seconds += seconds
        self.calls += 1

    @contextmanager
    def timed(self) -> Iterator[None]:
        """Records the latency of the block when it returns (not when it raises)."""
        started = time.perf_counter()
        yield
        self.record(time.perf_counter() - started)

    def failed(self, error: BaseException | str) -> None:
        """A call failed: opens the breaker (once) and starts its probe."""
        with self._lock:
            self.failures += 1
            self.last_error = _describe(error)
            if self.is_open:
                return
            self.is_open = True
            self.opened_at = time.monotonic()
            self.opened += 1
            if self._prober is None or not self._prober.is_alive():
                self._prober = threading.Thread(
                    target=self._probe_until_closed, name=f"breaker-{self.name}", daemon=True
                )
                self._prober.start()
        logger.warning(
            "%s is down (%s): taking the degraded path until a probe answers",
            self.name,
            self.last_error,
        )

    def close(self) -> None:
        """Marks the dependency up (the probe answered)."""
        with self._lock:
            was_open, self.is_open = self.is_open, False
        if was_open:
            logger.warning(
                "%s answers again after %.1f s", self.name, time.monotonic() - self.opened_at
            )

    def _probe_until_closed(self) -> None:
        for _ in range(10_000_000):  # until it answers; bounded all the same
            time.sleep(PROBE_INTERVAL)
            if not self.is_open:
                return
            started = time.perf_counter()
            try:
                self._probe()
            except Exception as exc:
                self.last_error = _describe(exc)
                continue
            self.record(time.perf_counter() - started)
            self.close()
            return

    def snapshot(self) -> dict[str, Any]:
        """The state and latency summary, as ``/api/messaging/metrics`` and ``/health`` show
        them."""
        ordered = sorted(self.latencies)
        return {
            "state": "open" if self.is_open else "closed",
            "up": not self.is_open,
            "opened": self.opened,
            "failures": self.failures,
            "lastError": self.last_error,
            "downForSeconds": round(time.monotonic() - self.opened_at, 3) if self.is_open else 0,
            "calls": self.calls,
            "p50Ms": _quantile_ms(ordered, 0.5),
            "p99Ms": _quantile_ms(ordered, 0.99),
        }

    def reset(self) -> None:
        """Closed, with no history (tests)."""
        with self._lock:
            self.is_open = False
            self.opened = self.failures = self.calls = 0
            self.total_seconds = 0.0
            self.last_error = ""
            self.latencies.clear()


def _describe(error: BaseException | str) -> str:
    if isinstance(error, str):
        return error
    return f"{type(error).__name__}: {str(error)[:200]}"


def _quantile_ms(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)


# --- the probes ---------------------------------------------------------------------------------

_redis_client: Any = None


def _probe_redis() -> None:
    global _redis_client
    if _redis_client is None:
        import redis as redis_py

        _redis_client = redis_py.Redis.from_url(
            settings.REDIS_URL,
            socket_connect_timeout=settings.REDIS_CONNECT_TIMEOUT,
            socket_timeout=settings.REDIS_REQUEST_TIMEOUT,
        )
    _redis_client.ping()


def _probe_database() -> None:
    """``SELECT 1`` on a connection of the probe's own thread, closed after each try so that
    the probe holds no backend between tries, and never a connection the server dropped."""
    from django.db import connections

    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()


def _redis_configured() -> bool:
    return bool(getattr(settings, "REDIS_URL", ""))


def _database_configured() -> bool:
    # SQLite is a file of this host: it does not hang as a server does, and its "database is
    # locked" must not refuse every request.
    return "postgresql" in settings.DATABASES["default"]["ENGINE"]


redis = Breaker("redis", _probe_redis, _redis_configured)
database = Breaker("database", _probe_database, _database_configured)
BREAKERS = (redis, database)


def database_down(error: BaseException) -> bool:
    """Whether ``error`` says the database is unreachable (a dropped or refused connection, a
    statement cancelled at its timeout), as opposed to a query that was wrong."""
    from django.db import InterfaceError, OperationalError

    return database.configured and isinstance(error, OperationalError | InterfaceError)


def prometheus() -> str:
    """The breakers in the Prometheus text format, for ``GET /metrics``."""
    lines = [
        "# HELP elizabus_dependency_up 1 while the dependency's breaker is closed",
        "# TYPE elizabus_dependency_up gauge",
    ]
    configured = [breaker for breaker in BREAKERS if breaker.configured]
    lines += [
        f'elizabus_dependency_up{{dependency="{b.name}"}} {int(b.allow())}' for b in configured
    ]
    lines += [
        "# HELP elizabus_dependency_opened_total Times the dependency's breaker opened",
        "# TYPE elizabus_dependency_opened_total counter",
    ]
    lines += [
        f'elizabus_dependency_opened_total{{dependency="{b.name}"}} {b.opened}' for b in configured
    ]
    lines += [
        "# HELP elizabus_dependency_seconds Latency of the calls to the dependency that answered",
        "# TYPE elizabus_dependency_seconds summary",
    ]
    for breaker in configured:
        ordered = sorted(breaker.latencies)
        for q in (0.5, 0.9, 0.99):
            value = _quantile_ms(ordered, q) / 1000
            lines.append(
                f'elizabus_dependency_seconds{{dependency="{breaker.name}",quantile="{q}"}} {value}'
            )
        lines.append(
            f'elizabus_dependency_seconds_sum{{dependency="{breaker.name}"}} '
            f"{breaker.total_seconds}"
        )
        lines.append(
            f'elizabus_dependency_seconds_count{{dependency="{breaker.name}"}} {breaker.calls}'
        )
    return "\n".join(lines) + "\n"
