"""Bus metrics: event counts and per-receiver latency summaries, as a snapshot, as the JSON of
``/api/messaging/metrics`` and as the Prometheus text of ``/metrics``."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from elizabus import services
from elizabus.bus.metrics import LATENCY_WINDOW, BusMetrics
from tests.conftest import RECORDER_LABEL, Published, World

Labels = frozenset[tuple[str, str]]

SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"(?:,|$)')


def parse_prometheus(text: str) -> dict[tuple[str, Labels], float]:
    """Samples of a text exposition (format 0.0.4), keyed by metric name and label set.

    Fails on any line that is neither a comment nor a well-formed sample, and on a sample whose
    metric family was not declared by a ``# TYPE`` line before it.
    """
    samples: dict[tuple[str, Labels], float] = {}
    declared: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            declared.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample: {line!r}"
        name = match["name"]
        family = re.sub(r"_(sum|count)$", "", name)
        assert name in declared or family in declared, f"undeclared metric: {line!r}"
        raw = match["labels"] or ""
        found = list(LABEL.finditer(raw))
        assert "".join(label[0] for label in found) == raw, f"malformed labels: {line!r}"
        labels = frozenset((label["key"], unescape(label["value"])) for label in found)
        samples[(name, labels)] = float(match["value"])
    return samples


def unescape(value: str) -> str:
    """A label value as written, from its escaped form (``\\\\``, ``\\"``, ``\\n``)."""
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], value)


def labels(**values: str) -> Labels:
    return frozenset(values.items())


@pytest.fixture
def traffic(
    world: World, metrics: BusMetrics, published: Published, django_capture_on_commit_callbacks
) -> World:
    """Three messages and one deletion, delivered to the ``published`` recorder."""
    with django_capture_on_commit_callbacks(execute=True):
        for text in ("one", "two", "three"):
            services.message_create(channel_id=world.channel.id, author_id=world.bob, content=text)
        services.message_delete(channel_id=world.channel.id, message_id=world.message.id)
    return world


def test_the_snapshot_counts_events_per_type(traffic: World, metrics: BusMetrics) -> None:
    assert metrics.snapshot()["eventCounts"] == {"message_deleted": 1, "new_message": 3}


def test_the_snapshot_summarises_each_receiver(traffic: World, metrics: BusMetrics) -> None:
    receivers = metrics.snapshot()["receivers"]
    summary = receivers["new_message"][RECORDER_LABEL]
    assert set(summary) == {"count", "failures", "averageMs", "p50Ms", "p90Ms", "p99Ms"}
    assert (summary["count"], summary["failures"]) == (3, 0)
    assert 0 <= summary["p50Ms"] <= summary["p90Ms"] <= summary["p99Ms"]
    assert receivers["message_deleted"][RECORDER_LABEL]["count"] == 1


def test_the_json_endpoint_reports_the_snapshot(traffic: World, client: Client) -> None:
    response = client.get("/api/messaging/metrics")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"]["eventCounts"] == {"message_deleted": 1, "new_message": 3}
    assert body["data"]["receivers"]["new_message"][RECORDER_LABEL]["count"] == 3


def test_the_prometheus_endpoint_reports_the_events(traffic: World, client: Client) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = parse_prometheus(response.content.decode())

    assert samples[("elizabus_bus_events_total", labels(event="new_message"))] == 3
    assert samples[("elizabus_bus_events_total", labels(event="message_deleted"))] == 1
    recorder = {"event": "new_message", "receiver": RECORDER_LABEL}
    assert samples[("elizabus_bus_receiver_seconds_count", labels(**recorder))] == 3
    assert samples[("elizabus_bus_receiver_seconds_sum", labels(**recorder))] >= 0
    assert samples[("elizabus_bus_receiver_failures_total", labels(**recorder))] == 0
    for quantile in ("0.5", "0.9", "0.99"):
        assert ("elizabus_bus_receiver_seconds", labels(**recorder, quantile=quantile)) in samples


def test_the_prometheus_text_of_an_idle_bus_declares_its_metrics(metrics: BusMetrics) -> None:
    text = metrics.prometheus()
    assert parse_prometheus(text) == {}
    assert "# TYPE elizabus_bus_events_total counter" in text
    assert "# TYPE elizabus_bus_receiver_seconds summary" in text
    assert text.endswith("\n")


def test_latency_quantiles_and_average() -> None:
    metrics = BusMetrics()
    for millis in range(1, 101):
        metrics.receiver_done("new_message", "r", millis / 1000, failed=millis % 10 == 0)
    summary = metrics.snapshot()["receivers"]["new_message"]["r"]
    assert summary == {
        "count": 100,
        "failures": 10,
        "averageMs": 50.5,
        "p50Ms": 51.0,
        "p90Ms": 91.0,
        "p99Ms": 100.0,
    }


def test_latencies_are_kept_for_a_bounded_window() -> None:
    metrics = BusMetrics()
    for _ in range(LATENCY_WINDOW):
        metrics.receiver_done("new_message", "r", 1.0, failed=False)
    for _ in range(LATENCY_WINDOW):
        metrics.receiver_done("new_message", "r", 0.001, failed=False)
    summary = metrics.snapshot()["receivers"]["new_message"]["r"]
    assert summary["count"] == 2 * LATENCY_WINDOW
    assert summary["p99Ms"] == 1.0  # the old, slow window is gone from the quantiles
    assert summary["averageMs"] == pytest.approx(500.5)  # but not from the average


def test_stages_are_summarised_per_scope(metrics: BusMetrics) -> None:
    for seconds in (0.002, 0.004):
        metrics.stage_done("agent:Eliza", "respond", seconds)
    metrics.stage_done("agent:Eliza", "queue", 0.001)
    stages = metrics.snapshot()["stages"]
    assert set(stages) == {"agent:Eliza"}
    assert stages["agent:Eliza"]["respond"]["count"] == 2
    assert stages["agent:Eliza"]["respond"]["averageMs"] == 3.0
    samples = parse_prometheus(metrics.prometheus())
    respond = labels(scope="agent:Eliza", stage="respond")
    assert samples[("elizabus_stage_seconds_count", respond)] == 2
    assert samples[("elizabus_stage_seconds_sum", respond)] == pytest.approx(0.006)


def test_label_values_are_escaped(metrics: BusMetrics) -> None:
    # Receiver labels and stage scopes carry agent names, which users choose.
    name = 'agent:Dr "Who" \\ the\nsecond'
    metrics.event_sent("new_message")
    metrics.receiver_done("new_message", name, 0.001, failed=False)
    metrics.stage_done(name, "respond", 0.001)
    samples = parse_prometheus(metrics.prometheus())
    assert (
        samples[("elizabus_bus_receiver_seconds_count", labels(event="new_message", receiver=name))]
        == 1
    )
    assert samples[("elizabus_stage_seconds_count", labels(scope=name, stage="respond"))] == 1


def test_reset_forgets_everything() -> None:
    metrics = BusMetrics()
    metrics.event_sent("new_message")
    metrics.receiver_done("new_message", "r", 0.1, failed=True)
    metrics.stage_done("agent:Eliza", "respond", 0.1)
    metrics.reset()
    assert metrics.snapshot() == {"eventCounts": {}, "receivers": {}, "stages": {}}
