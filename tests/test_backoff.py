"""Backoff: delays that double to a cap while failures follow one another."""

from __future__ import annotations

from elizabus.backoff import Backoff


def test_delays_double_up_to_the_cap_and_start_again_after_a_success() -> None:
    backoff = Backoff(first=0.1, cap=0.5)

    assert [backoff.failed() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert backoff.succeeded() == 5
    assert backoff.failed() == 0.1


def test_a_long_outage_stays_at_the_cap() -> None:
    backoff = Backoff(first=0.1, cap=5.0)

    delays = [backoff.failed() for _ in range(10_000)]

    assert delays[-1] == 5.0
