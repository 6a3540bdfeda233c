#!/usr/bin/env bash
# Generates both Prisma clients (SQLite and PostgreSQL) offline from the one source schema.
set -euo pipefail
cd "$(dirname "$0")/.."
# The PostgreSQL schema is derived, never edited by hand.
sed -e 's/provider = "sqlite"/provider = "postgresql"/' \
    -e 's#output       = "./generated/sqlite"#output       = "./generated/postgresql"#' \
    schema.prisma > schema.postgresql.prisma.tmp
mv schema.postgresql.prisma.tmp schema.postgresql.prisma
stamp=generated/.stamp
sum=$(cat schema.prisma schema.postgresql.prisma ../package-lock.json 2>/dev/null | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && [ -d generated/sqlite ] && [ -d generated/postgresql ]; then
  exit 0
fi
# Prisma's CLI checks that a schema engine exists but generate never runs it;
# pointing it at /bin/false stops the (offline-impossible) download.
export PRISMA_SCHEMA_ENGINE_BINARY=/bin/false PRISMA_HIDE_UPDATE_MESSAGE=1 CHECKPOINT_DISABLE=1
npx --no-install prisma generate --schema schema.prisma >/dev/null
npx --no-install prisma generate --schema schema.postgresql.prisma >/dev/null
echo "$sum" > "$stamp"
echo "prisma: clients generated (sqlite, postgresql)"
