#!/usr/bin/env bash
# Runs every test: types, lint, unit and integration (SQLite and PostgreSQL, real QEMU), e2e in Chromium.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
bash scripts/setup.sh --test

# PostgreSQL for the service tests on both databases (Debian's cluster, local role "vdi").
if command -v pg_ctlcluster >/dev/null; then
  ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
  pg_lsclusters -h | grep -q "^$ver main" || pg_createcluster "$ver" main >/dev/null
  pg_ctlcluster "$ver" main start 2>/dev/null || true
  for _ in $(seq 1 50); do su postgres -c "psql -qtAc 'select 1'" >/dev/null 2>&1 && break; sleep 0.2; done
  su postgres -c "psql -qtAc \"DO \\\$\\\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='vdi') THEN CREATE ROLE vdi LOGIN SUPERUSER PASSWORD 'vdi'; END IF; END\\\$\\\$\"" >/dev/null
  export VDI_TEST_PG_URL=postgresql://vdi:vdi@127.0.0.1:5432/postgres
fi

echo "== typecheck and lint"
TURBO_TELEMETRY_DISABLED=1 npx --no-install turbo run typecheck --output-logs=errors-only
npx --no-install eslint .

echo "== native unit tests (devices, loaders, snapshot format)"
make -s -C native test

echo "== unit and integration tests (services on SQLite and PostgreSQL, gateway, node agent with QEMU and microVMs, native guests)"
npx --no-install vitest run

echo "== e2e (Chromium)"
(cd e2e && VDI_CHROMIUM=$(command -v chromium >/dev/null && echo /usr/lib/chromium/chromium) npx --no-install playwright test)
