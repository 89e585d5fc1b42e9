#!/usr/bin/env python3
"""``make bench``: every benchmark in bench/, one after the other, with their own defaults.

    .venv/bin/python bench/run_all.py [ARGS...]     # ARGS go to each benchmark

Today that is the REST benchmark (bench/rest.py: elizabus against the reference server). A
benchmark that fails does not stop the others; the exit status is the worst of them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["rest.py"]


def main() -> int:
    worst = 0
    for script in BENCHMARKS:
        print(f"== bench/{script}", flush=True)
        result = subprocess.run([sys.executable, str(HERE / script), *sys.argv[1:]])
        worst = max(worst, result.returncode)
    return worst


if __name__ == "__main__":
    sys.exit(main())
