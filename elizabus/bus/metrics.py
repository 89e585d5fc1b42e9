"""What the bus measured: per event type, how many were sent and how long each receiver took.

Latency is from the moment an event is dispatched (after its commit) to the end of each
receiver. Readable as JSON (``/api/messaging/metrics``) and as Prometheus text (``/metrics``).
Thread-safe: receivers run in request threads, agent threads and the event loop alike.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

LATENCY_WINDOW = 1000
QUANTILES = (0.5, 0.9, 0.99)


class _Series:
    __slots__ = ("count", "failures", "latencies", "total_seconds")

    def __init__(self) -> None:
        self.count = 0
        self.failures = 0
        self.total_seconds = 0.0
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)

    def observe(self, seconds: float, failed: bool) -> None:
        self.count += 1
        self.failures += failed
        self.total_seconds += seconds
        self.latencies.append(seconds)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        summary: dict[str, Any] = {
            "count": self.count,
            "failures": self.failures,
            "averageMs": round(1000 * self.total_seconds / self.count, 3) if self.count else 0.0,
        }
        for quantile in QUANTILES:
            key = f"p{round(quantile * 100)}Ms"
            summary[key] = round(1000 * _quantile(ordered, quantile), 3) if ordered else 0.0
        return summary


def _quantile(ordered: list[float], quantile: float) -> float:
    return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]


def _label(value: str) -> str:
    """A label value in the exposition format: agent names (in receiver labels and stage scopes)
    are chosen by users, and a stray quote or newline would corrupt the whole page."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _summary_lines(metric: str, labels: str, series: _Series) -> list[str]:
    """One Prometheus summary: its quantiles, sum and count."""
    ordered = sorted(series.latencies)
    lines = [
        f'{metric}{{{labels},quantile="{quantile}"}} '
        f"{(_quantile(ordered, quantile) if ordered else 0.0):.6f}"
        for quantile in QUANTILES
    ]
    lines.append(f"{metric}_sum{{{labels}}} {series.total_seconds:.6f}")
    lines.append(f"{metric}_count{{{labels}}} {series.count}")
    return lines


class BusMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, int] = {}
        self._receivers: dict[tuple[str, str], _Series] = {}
        self._stages: dict[tuple[str, str], _Series] = {}

    def event_sent(self, event_name: str) -> None:
        with self._lock:
            self._events[event_name] = self._events.get(event_name, 0) + 1

    def receiver_done(self, event_name: str, receiver: str, seconds: float, failed: bool) -> None:
        with self._lock:
            series = self._receivers.get((event_name, receiver))
            if series is None:
                series = self._receivers[(event_name, receiver)] = _Series()
            series.observe(seconds, failed)

    def stage_done(self, scope: str, stage: str, seconds: float) -> None:
        """Records the time of one stage of the work an event started (an agent's ``queue``,
        ``respond``, ``reply``...), so the time of each hop can be told apart."""
        with self._lock:
            series = self._stages.get((scope, stage))
            if series is None:
                series = self._stages[(scope, stage)] = _Series()
            series.observe(seconds, False)

    def snapshot(self) -> dict[str, Any]:
        """``{eventCounts, receivers: {event: {receiver: summary}}}``."""
        with self._lock:
            receivers: dict[str, dict[str, Any]] = {}
            for (event_name, receiver), series in sorted(self._receivers.items()):
                receivers.setdefault(event_name, {})[receiver] = series.summary()
            stages: dict[str, dict[str, Any]] = {}
            for (scope, stage), series in sorted(self._stages.items()):
                stages.setdefault(scope, {})[stage] = series.summary()
            return {
                "eventCounts": dict(sorted(self._events.items())),
                "receivers": receivers,
                "stages": stages,
            }

    def prometheus(self) -> str:
        """The snapshot in the Prometheus text exposition format, version 0.0.4."""
        snapshot = self.snapshot()
        lines = [
            "# HELP elizabus_bus_events_total Events dispatched on the bus, by event.",
            "# TYPE elizabus_bus_events_total counter",
        ]
        for event_name, count in snapshot["eventCounts"].items():
            lines.append(f'elizabus_bus_events_total{{event="{_label(event_name)}"}} {count}')
        lines += [
            "# HELP elizabus_bus_receiver_seconds Time from dispatch to the end of a receiver.",
            "# TYPE elizabus_bus_receiver_seconds summary",
        ]
        failures = [
            "# HELP elizabus_bus_receiver_failures_total Receivers that raised, by event.",
            "# TYPE elizabus_bus_receiver_failures_total counter",
        ]
        with self._lock:
            for (event_name, receiver), series in sorted(self._receivers.items()):
                labels = f'event="{_label(event_name)}",receiver="{_label(receiver)}"'
                lines += _summary_lines("elizabus_bus_receiver_seconds", labels, series)
                failures.append(
                    f"elizabus_bus_receiver_failures_total{{{labels}}} {series.failures}"
                )
            stage_lines = [
                "# HELP elizabus_stage_seconds Time of each stage of the work an event started.",
                "# TYPE elizabus_stage_seconds summary",
            ]
            for (scope, stage), series in sorted(self._stages.items()):
                labels = f'scope="{_label(scope)}",stage="{_label(stage)}"'
                stage_lines += _summary_lines("elizabus_stage_seconds", labels, series)
        return "\n".join(lines + failures + stage_lines) + "\n"

    def reset(self) -> None:
        with self._lock:
            self._events.clear()
            self._receivers.clear()
            self._stages.clear()


bus_metrics = BusMetrics()
