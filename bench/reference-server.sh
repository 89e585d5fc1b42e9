#!/usr/bin/env bash
# Starts the reference, the elizaOS server (npm @elizaos/server@1.7.2), on loopback, with an
# embedded PGlite database and no agents: what the benchmarks and the compatibility checks
# compare elizabus with. The first start installs the package (minutes).
#
#   bench/reference-server.sh [PORT]     in the foreground (default port 3999)
#   bench/reference-server.sh [PORT] &   in the background; `kill $!` stops it
#
# ELIZA_SERVER_AUTH_TOKEN=secret turns its API-key check on; ENABLE_DATA_ISOLATION=true its
# channel-participant check for sockets. ELIZABUS_REFERENCE_HOME is where the package is
# installed (~/.cache/elizabus-reference).
set -euo pipefail
port=${1:-3999}
home=${ELIZABUS_REFERENCE_HOME:-$HOME/.cache/elizabus-reference}
mkdir -p "$home"
cd "$home"
if [[ ! -d node_modules/@elizaos/server ]]; then
  [[ -f package.json ]] || npm init -y >/dev/null
  npm install --ignore-scripts --no-audit --no-fund @elizaos/server@1.7.2 socket.io-client@4.8.4 >&2
fi
cat > start.mjs <<'JS'
import { AgentServer } from '@elizaos/server';
const server = new AgentServer();
await server.start({ port: Number(process.env.PORT), dataDir: process.env.DATA_DIR });
JS
data=$(mktemp -d "${TMPDIR:-/tmp}/elizabus-reference-data.XXXXXX")
echo "reference server: http://127.0.0.1:$port (data in $data)" >&2
PORT=$port DATA_DIR=$data LOG_LEVEL=${LOG_LEVEL:-warn} exec node start.mjs
