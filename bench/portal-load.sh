#!/usr/bin/env bash
# Starts a portal of its own (port VDI_LOAD_PORT, default 3400; data in /tmp/vdi-load-<label>) from
# the built apps/web, and runs bench/portal-load.ts against it. VDI_LOAD_NODE_FLAGS go to the
# portal's node (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof). Usage: bench/portal-load.sh <label>
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
LABEL=${1:-run}
PORT=${VDI_LOAD_PORT:-3400}
DATA=/tmp/vdi-load-$LABEL
rm -rf "$DATA"; mkdir -p "$DATA"
export VDI_DATA_DIR=$DATA/portal VDI_IMAGE_DIR=$REPO/var/images NEXT_TELEMETRY_DISABLED=1
export VDI_PUBLIC_URL=http://127.0.0.1:$PORT BETTER_AUTH_SECRET=load-secret-0123456789abcdef0123456789 VDI_NODE_JOIN_TOKEN=load-join-token-0123456789
export VDI_ADMIN_PASSWORD=load-admin-password VDI_DEMO_PASSWORD=load-demo-password VDI_NODE_DOWN_AFTER_MS=15000
cd "$REPO/apps/web"
npx --no-install tsx scripts/setup-db.ts
node ${VDI_LOAD_NODE_FLAGS:-} "$REPO/scripts/portal-server.mjs" --port "$PORT" --hostname 127.0.0.1 > "$DATA/portal.log" 2>&1 &
PORTAL_PID=$!
# SIGINT, so that a --cpu-prof profile is written on the way out.
trap 'kill -INT $PORTAL_PID 2>/dev/null || true; wait $PORTAL_PID 2>/dev/null || true' EXIT
for _ in $(seq 60); do curl -sf -o /dev/null http://127.0.0.1:$PORT/login && break; sleep 0.5; done
cd "$REPO"
VDI_LOAD_PORTAL_URL=http://127.0.0.1:$PORT VDI_LOAD_DATABASE_URL=file:$DATA/portal/vdi.db npx --no-install tsx bench/portal-load.ts "$LABEL"
