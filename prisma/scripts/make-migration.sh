#!/usr/bin/env bash
# Writes the next migration for both providers by diffing the previous schema
# snapshot against the current one. Prisma 7's migrate needs a schema-engine
# download (impossible offline); Prisma 6's CLI has a WebAssembly schema engine
# that it uses when a driver adapter is configured, so it serves as the differ.
# The PostgreSQL diff needs a reachable server: PG_URL (default: local socket, role vdi).
# Usage: npm run db:migrations -- <name>      (a dev-time tool; the SQL is committed)
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: make-migration.sh <name>}
bash scripts/generate.sh
PG_URL=${PG_URL:-postgresql://vdi:vdi@127.0.0.1:5432/postgres}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
ln -s "$PWD/../node_modules" "$work/node_modules"
# Prisma 6 wants a url in the datasource and the classic generator.
as_p6() { sed -e "s#^\(  provider = \"$2\"\)#\1\n  url = \"$3\"#" -e 's/"prisma-client"/"prisma-client-js"/' -e '/moduleFormat/d' "$1"; }
cat > "$work/sqlite.config.mjs" <<CFG
import { PrismaLibSql } from "@prisma/adapter-libsql";
export default { experimental: { adapter: true }, engine: "js", adapter: async () => new PrismaLibSql({ url: "file::memory:" }) };
CFG
cat > "$work/postgresql.config.mjs" <<CFG
import { PrismaPg } from "@prisma/adapter-pg";
export default { experimental: { adapter: true }, engine: "js", adapter: async () => new PrismaPg({ connectionString: "$PG_URL" }) };
CFG
n=$(printf '%04d' $(( $(ls migrations/sqlite | wc -l) + 1 )))
for provider in sqlite postgresql; do
  schema=schema.prisma; [ "$provider" = postgresql ] && schema=schema.postgresql.prisma
  url="file:dummy.db"; [ "$provider" = postgresql ] && url=$PG_URL
  prev=migrations/$provider/.schema.prisma
  as_p6 "$schema" "$provider" "$url" > "$work/to.prisma"
  from=(--from-empty)
  if [ -f "$prev" ]; then as_p6 "$prev" "$provider" "$url" > "$work/from.prisma"; from=(--from-schema-datamodel "$work/from.prisma"); fi
  dir=migrations/$provider/${n}_$name
  mkdir -p "$dir"
  (cd "$work" && PRISMA_SCHEMA_ENGINE_BINARY=/bin/false PRISMA_QUERY_ENGINE_LIBRARY=/bin/false PRISMA_HIDE_UPDATE_MESSAGE=1 \
    node "$OLDPWD/../node_modules/prisma6/build/index.js" migrate diff --config "$provider.config.mjs" \
      "${from[@]}" --to-schema-datamodel to.prisma --script) | sed '/^Loaded Prisma config/d' > "$dir/migration.sql"
  cp "$schema" "$prev"
  echo "wrote $dir/migration.sql ($(wc -l < "$dir/migration.sql") lines)"
done
