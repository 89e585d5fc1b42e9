"""Prints the JSON lines of bench/experiments/matrix.sh as a table (last line per label)."""

import json
import sys

rows = {}
with open(sys.argv[1]) as lines:
    for line in lines:
        if line.strip():
            record = json.loads(line)
            rows[record.get("label", "?")] = record
keys = [
    ("throughput", "{:>8.0f}"),
    ("p50_ms", "{:>7.1f}"),
    ("p99_ms", "{:>7.1f}"),
    ("server_cpu_ms_per_req", "{:>6.2f}"),
    ("server_cpu_util", "{:>5.2f}"),
    ("other_cpu_util", "{:>5.2f}"),
]
print(
    f"{'experiment':42} {'ingest/s':>8} {'p50':>7} {'p99':>7} {'cpu':>6} {'busy':>5} {'other':>5}"
    f" | {'read/s':>8} {'p50':>7} {'p99':>7} {'cpu':>6} {'busy':>5} {'other':>5}"
)
for label, record in rows.items():
    cells = []
    for phase in ("ingest", "read"):
        figures = record["elizabus"][phase]
        cells.append(
            " ".join(
                fmt.format(figures[k]) if figures.get(k) is not None else f"{'-':>6}"
                for k, fmt in keys
            )
        )
    print(f"{label:42} {cells[0]} | {cells[1]}")
