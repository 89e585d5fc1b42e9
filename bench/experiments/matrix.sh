#!/usr/bin/env bash
# Configuration experiments on elizabus alone, one bench/rest.py run each, results appended as
# JSON lines to ${OUT:-/tmp/elizabus-bench-matrix.jsonl}. Extra arguments go to every run
# (e.g. --runs 3 --nice -10). The code served is a copy of the working tree taken at start.
# Needs uvicorn in UVICORN_PATH for the uvicorn rows.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/elizabus-bench-matrix.jsonl}
py=.venv/bin/python
# One copy of the working tree for every row, so that concurrent edits do not skew the comparison.
src=$(mktemp -d /tmp/elizabus-bench-src.XXXXXX)
trap 'rm -rf "$src"' EXIT
tar -c --exclude=.venv --exclude=.git --exclude=var --exclude=node_modules --exclude=__pycache__ \
  --exclude=bench . | tar -x -C "$src"
run() {
  local label=$1; shift
  echo "== $label" >&2
  local before=0; [[ -f $out ]] && before=$(wc -l < "$out")
  $py bench/rest.py --only elizabus --no-ceiling --elizabus-dir "$src" --json-out "$out" "$@" \
    | grep -E '^run |Error' >&2
  [[ $(wc -l < "$out" 2>/dev/null || echo 0) -gt $before ]] || return 0
  # Label the line just appended.
  $py - "$out" "$label" <<'PY'
import json, sys
path, label = sys.argv[1], sys.argv[2]
lines = open(path).read().splitlines()
last = json.loads(lines[-1]); last["label"] = label; lines[-1] = json.dumps(last)
open(path, "w").write("\n".join(lines) + "\n")
PY
}
E=--elizabus-env
REUSE="$E BENCH_CONN_MAX_AGE=none"
SLIM="$E BENCH_MIDDLEWARE=api $E BENCH_NO_THROTTLE=1"
run baseline "$@"
run daphne-access-log --daphne-arg=-v1 "$@"
run asgi-threads-4 $E ASGI_THREADS=4 "$@"
run sqlite-sync-off $E BENCH_SQLITE_SYNCHRONOUS=OFF "$@"
run sqlite-write-lock $E BENCH_WRITE_LOCK=1 "$@"
run slim-middleware-no-throttle $SLIM "$@"
run conn-max-age-none $REUSE "$@"
run shared-thread $E BENCH_ASGI=shared-thread "$@"
run shared-thread+reuse $E BENCH_ASGI=shared-thread $REUSE "$@"
run pooled-4+reuse $E BENCH_ASGI=pooled:4 $REUSE "$@"
run pooled-4+reuse+slim $E BENCH_ASGI=pooled:4 $REUSE $SLIM "$@"
run uvicorn --asgi-server uvicorn "$@"
run uvicorn+pooled-4+reuse+slim --asgi-server uvicorn $E BENCH_ASGI=pooled:4 $REUSE $SLIM "$@"
run uvicorn-2-workers+pooled-4+reuse+slim --asgi-server uvicorn --server-arg=--workers=2 \
  $E BENCH_ASGI=pooled:4 $REUSE $SLIM "$@"
run daphne-null $E BENCH_ASGI=null "$@"
run uvicorn-null --asgi-server uvicorn $E BENCH_ASGI=null "$@"
$py bench/experiments/table.py "$out"
