#!/usr/bin/env bash
# Starts the product on its embedded defaults: SQLite, one local hypervisor node.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
bash scripts/setup.sh
set -a; . var/portal.env; set +a
export VDI_DATA_DIR=${VDI_DATA_DIR:-$REPO/var/portal} VDI_IMAGE_DIR=${VDI_IMAGE_DIR:-$REPO/var/images} NEXT_TELEMETRY_DISABLED=1
export PORT=${PORT:-3000} VDI_PUBLIC_URL=${VDI_PUBLIC_URL:-http://localhost:${PORT:-3000}}
(cd apps/web && npx --no-install tsx scripts/setup-db.ts)

# The console gateway accepts WebSockets only from pages of this portal.
export VDI_NODE_ALLOWED_ORIGINS=${VDI_NODE_ALLOWED_ORIGINS:-$VDI_PUBLIC_URL,http://localhost:$PORT,http://127.0.0.1:$PORT}
export VDI_PORTAL_URL=http://127.0.0.1:$PORT VDI_NODE_NAME=${VDI_NODE_NAME:-local} VDI_NODE_DATA_DIR=${VDI_NODE_DATA_DIR:-$REPO/var/node/local}
export VDI_NODE_PORT=${VDI_NODE_PORT:-4100}
RUN=${VDI_RUN_DIR:-$REPO/var/run}
mkdir -p "$RUN"; chmod 700 "$RUN"
# One supervisor owns both (scripts/supervise.mjs): signals forwarded, children end with it, a
# crashed one restarted with backoff, what an earlier start left running reported, not fought.
# Through portal-server.mjs, not `next start`: it hands the portal each request's socket address,
# so rate limits and the audit trail see the real client (docs/auth.md, "Client address").
# The agent runs as node --import tsx directly (no npx → sh → tsx chain to leave behind).
RUN=$RUN node -e '
  const [port, host, nodePort, url, demo, demoPw, admin, adminPw] = process.argv.slice(1);
  const banner = `\n  The portal is running: ${url}\n  Demo login:  ${demo}  /  ${demoPw}\n  Admin login: ${admin}  /  ${adminPw}\n  (secrets live in var/portal.env; VMs keep running when you press Ctrl-C)\n`;
  process.stdout.write(JSON.stringify({ runDir: process.env.RUN, banner, children: [
    { name: "portal", argv: [process.execPath, "scripts/portal-server.mjs", "--port", port, "--hostname", host], port: Number(port), health: `http://127.0.0.1:${port}/login` },
    { name: "agent", argv: [process.execPath, "--import", "tsx", "apps/hypervisor-node/src/main.ts"], port: Number(nodePort), health: `http://127.0.0.1:${nodePort}/healthz` },
  ] }));
' "$PORT" "${VDI_LISTEN_HOST:-127.0.0.1}" "$VDI_NODE_PORT" "$VDI_PUBLIC_URL" "${VDI_DEMO_EMAIL:-demo@vdi.local}" "$VDI_DEMO_PASSWORD" "${VDI_ADMIN_EMAIL:-admin@vdi.local}" "$VDI_ADMIN_PASSWORD" > "$RUN/supervise.json"
exec node scripts/supervise.mjs "$RUN/supervise.json"
