#!/usr/bin/env python3
"""Summarises a py-spy ``--format raw`` profile (collapsed stacks) of the elizabus server.

    .venv/bin/python bench/profile_summary.py /tmp/prof/run1/elizabus-ingest.txt [--top 25]

Prints three views of where the samples went:
- by category, exclusive: each sample goes to the category of the innermost frame that has one
  (so SQLite under the ORM counts as SQLite, JSON under DRF's renderer as JSON);
- by category, inclusive: the share of samples with any frame of the category on the stack;
- the functions with the most self samples (the leaf frame).
Samples are counted per thread; a server thread waiting for the GIL is not sampled as idle
unless py-spy ran with ``--idle``, and with ``--gil`` only the GIL holder is sampled.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

# The parts of a request, as bench/README.md's "where the time goes" table names them. A frame
# goes to the first category whose pattern it matches, so the catch-alls (framework, HTTP) come
# last. A sample goes to its innermost categorised frame in the exclusive view (SQLite under the
# ORM counts as SQL, the bus under the commit's hooks as the bus); in the inclusive view a
# category counts once per sample.
CATEGORIES: list[tuple[str, str]] = [
    (
        "commit (BEGIN, COMMIT)",
        r"\b_?commit \(django/db/backends/|autocommit|elizabus/db/sqlite3/",
    ),
    ("SQL (ORM, SQLite, connection)", r"django/db/|elizabus/db/rows|sqlite3"),
    (
        "validation",
        r"msgspec|elizabus/api/(inputs|fields|serializers|envelope)|"
        r"rest_framework/(serializers|fields)",
    ),
    ("JSON out (orjson renderer)", r"elizabus/api/(renderers|representations|pages)|json/"),
    ("bus (publish, outbox, relay, waiters)", r"elizabus/bus/|django/dispatch/"),
    ("service (elizabus services, selectors)", r"elizabus/(services|selectors|models)"),
    (
        "thread hops (asgiref, executor, batches)",
        r"asgiref/|concurrent/futures|elizabus/db/batches",
    ),
    (
        "framework (Django handler, URLs, middleware, DRF, the view)",
        r"django/|rest_framework/|asgiref/|concurrent/futures|corsheaders|servestatic|"
        r"channels/|elizabus/",
    ),
    ("HTTP (uvicorn, httptools, event loop)", r"uvicorn/|httptools|uvloop|asyncio/|selectors\.py"),
    ("logging", r"logging/"),
]
COMPILED = [(name, re.compile(pattern)) for name, pattern in CATEGORIES]
LINE_RE = re.compile(r":\d+\)$")
THREAD_RE = re.compile(r"^(process \d+:\"[^\"]*\";)?(thread \([^)]*\);)?")


def parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        head, _, count = line.rpartition(" ")
        if not head or not count.isdigit():
            continue
        stacks.append((head.split(";"), int(count)))
    return stacks


def category_of(frame: str) -> str | None:
    for name, pattern in COMPILED:
        if pattern.search(frame):
            return name
    return None


def summarise(path: Path, top: int) -> None:
    stacks = parse(path)
    total = sum(count for _, count in stacks)
    if not total:
        print(f"{path}: no samples")
        return
    exclusive: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for frames, count in stacks:
        if frames and frames[0].startswith("thread ("):
            threads[frames[0]] += count
            frames = frames[1:]
        elif frames and frames[0].startswith("process "):
            frames = frames[1:]
        leaves[frames[-1] if frames else "?"] += count
        seen: set[str] = set()
        chosen = None
        for frame in reversed(frames):
            name = category_of(frame)
            if name is None:
                continue
            if chosen is None:
                chosen = name
            seen.add(name)
        exclusive[chosen or "other"] += count
        for name in seen:
            inclusive[name] += count
    print(f"{path}: {total} samples")
    if threads:
        print("  by thread:")
        for name, count in threads.most_common(8):
            print(f"    {count / total:6.1%}  {name}")
    print("  by category, exclusive (innermost categorised frame):")
    for name, count in exclusive.most_common():
        print(f"    {count / total:6.1%}  {name}")
    print("  by category, inclusive (anywhere on the stack):")
    for name, count in inclusive.most_common():
        print(f"    {count / total:6.1%}  {name}")
    print(f"  top {top} self (leaf) frames:")
    for name, count in leaves.most_common(top):
        print(f"    {count / total:6.1%}  {name}")


def inclusive_functions(path: Path, top: int, pattern: str | None) -> None:
    """Inclusive share of every function (once per sample), optionally filtered by regex."""
    stacks = parse(path)
    total = sum(count for _, count in stacks)
    counts: Counter[str] = Counter()
    regex = re.compile(pattern) if pattern else None
    for frames, count in stacks:
        # One entry per function, whatever line of it was running.
        for frame in {LINE_RE.sub(")", frame) for frame in frames}:
            if regex is None or regex.search(frame):
                counts[frame] += count
    print(f"  top {top} inclusive frames" + (f" matching {pattern!r}" if pattern else "") + ":")
    for name, count in counts.most_common(top):
        print(f"    {count / total:6.1%}  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--inclusive",
        metavar="REGEX",
        nargs="?",
        const="",
        help="also list the top inclusive frames (matching REGEX)",
    )
    args = parser.parse_args()
    for path in args.files:
        summarise(path, args.top)
        if args.inclusive is not None:
            inclusive_functions(path, args.top, args.inclusive or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
