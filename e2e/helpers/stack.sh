#!/usr/bin/env bash
# The e2e stack on its own ports and data folder: portal on 3100, one node agent on 4200.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
DATA=$REPO/var/e2e
"$REPO/e2e/helpers/stop-vms.sh" "$DATA"
rm -rf "$DATA"; mkdir -p "$DATA"
export VDI_DATA_DIR=$DATA/portal VDI_IMAGE_DIR=$REPO/var/images NEXT_TELEMETRY_DISABLED=1 PORT=3100
export VDI_PUBLIC_URL=http://127.0.0.1:3100 BETTER_AUTH_SECRET=e2e-secret-0123456789abcdef0123456789 VDI_NODE_JOIN_TOKEN=e2e-join-token-0123456789
export VDI_ADMIN_PASSWORD=e2e-admin-password VDI_DEMO_PASSWORD=e2e-demo-password VDI_NODE_DOWN_AFTER_MS=15000
cd "$REPO/apps/web"
npx --no-install tsx scripts/setup-db.ts
npx --no-install tsx "$REPO/e2e/helpers/seed-other-tenant.ts"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; "$REPO/e2e/helpers/stop-vms.sh" "$DATA"; }
trap cleanup EXIT INT TERM
node "$REPO/scripts/portal-server.mjs" --port 3100 --hostname 127.0.0.1 & pids+=($!)
VDI_PORTAL_URL=http://127.0.0.1:3100 VDI_NODE_NAME=e2e-node VDI_NODE_DATA_DIR=$DATA/node VDI_NODE_PORT=4200 \
  VDI_NODE_ALLOWED_ORIGINS=http://127.0.0.1:3100 npx --no-install tsx "$REPO/apps/hypervisor-node/src/main.ts" & pids+=($!)
wait -n "${pids[@]}"
