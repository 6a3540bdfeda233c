#!/usr/bin/env bash
# Starts the product on its embedded defaults: SQLite, one local hypervisor node.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
bash scripts/setup.sh
set -a; . var/portal.env; set +a
export VDI_DATA_DIR=$REPO/var/portal VDI_IMAGE_DIR=$REPO/var/images NEXT_TELEMETRY_DISABLED=1
export PORT=${PORT:-3000} VDI_PUBLIC_URL=${VDI_PUBLIC_URL:-http://localhost:${PORT:-3000}}
(cd apps/web && npx --no-install tsx scripts/setup-db.ts)

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
# Through portal-server.mjs, not `next start`: it hands the portal each request's socket address,
# so rate limits and the audit trail see the real client (docs/auth.md, "Client address").
node scripts/portal-server.mjs --port "$PORT" --hostname "${VDI_LISTEN_HOST:-127.0.0.1}" & pids+=($!)
node -e 'const u=process.argv[1];(async()=>{for(let i=0;i<100;i++){try{if((await fetch(u)).ok)return}catch{}await new Promise(r=>setTimeout(r,200))}})()' "http://127.0.0.1:$PORT/login"
# The console gateway accepts WebSockets only from pages of this portal.
export VDI_NODE_ALLOWED_ORIGINS=${VDI_NODE_ALLOWED_ORIGINS:-$VDI_PUBLIC_URL,http://localhost:$PORT,http://127.0.0.1:$PORT}
VDI_PORTAL_URL=http://127.0.0.1:$PORT VDI_NODE_NAME=${VDI_NODE_NAME:-local} VDI_NODE_DATA_DIR=$REPO/var/node/local \
  npx --no-install tsx apps/hypervisor-node/src/main.ts & pids+=($!)

cat <<MSG

  The portal is running: $VDI_PUBLIC_URL
  Demo login:  ${VDI_DEMO_EMAIL:-demo@vdi.local}  /  $VDI_DEMO_PASSWORD
  Admin login: ${VDI_ADMIN_EMAIL:-admin@vdi.local}  /  $VDI_ADMIN_PASSWORD
  (secrets live in var/portal.env; VMs keep running when you press Ctrl-C)

MSG
wait -n "${pids[@]}"
