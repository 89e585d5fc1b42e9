"""Exponential backoff for the loops that retry a dependency until it answers again (the Redis
bus transport's threads, broadcasts on a server's loop).

Nothing here imports Django or the app: every layer may use it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Backoff:
    """Delays that double from ``first`` up to ``cap`` while failures follow one another."""

    first: float = 0.1
    cap: float = 5.0
    failures: int = 0

    def failed(self) -> float:
        """Counts a failure; returns how long to wait before trying again."""
        self.failures += 1
        # The exponent is bounded so a long outage cannot overflow the float.
        return min(self.cap, self.first * 2 ** min(self.failures - 1, 32))

    def succeeded(self) -> int:
        """Ends a run of failures; returns how many there were."""
        failures, self.failures = self.failures, 0
        return failures
