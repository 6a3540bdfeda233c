#!/usr/bin/env bash
# Installs what the product needs on Debian 12, idempotently and quickly on a second run.
#   setup.sh          runtime: QEMU, image tools, npm packages, Prisma clients, guest images, portal build
#   setup.sh --test   also Chromium (e2e) and PostgreSQL (service tests on both databases)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
mkdir -p var
want_test=0; [ "${1:-}" = "--test" ] && want_test=1

# 1. Debian packages (apt-get update only when something is missing).
pkgs=(qemu-system-x86 qemu-utils busybox-static cpio e2fsprogs make g++ zlib1g-dev iproute2 nftables debootstrap freerdp2-dev)
[ $want_test = 1 ] && pkgs+=(chromium postgresql freerdp2-x11 freerdp2-shadow-x11 x11-xserver-utils xvfb)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  [ "$(id -u)" = 0 ] || { echo "setup: run as root to install ${missing[*]}" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. npm packages, when the lock file changed since the last install.
lock_sum=$(sha256sum package-lock.json package.json | sha256sum | cut -c1-16)
if [ ! -d node_modules ] || [ "$(cat var/.npm-stamp 2>/dev/null)" != "$lock_sum" ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > var/.npm-stamp
fi

# 3. Prisma clients (offline), the native core (VMM, unit tests, guests), guest images.
bash prisma/scripts/generate.sh
make -s -C native -j"$(nproc)" >/dev/null
bash scripts/build-images.sh
# The Debian desktop (debootstrap, ~2–10 min once per machine, cached by its recipe's hash). A
# machine that cannot build it still runs the product; the tests that need it say why they skip.
bash scripts/images/debian-desktop/build.sh \
  || echo "setup: the Debian desktop template could not be built (see above); its tests will be skipped"

# 4. Secrets for the embedded defaults, made once (0600).
if [ ! -f var/portal.env ]; then
  umask 077
  {
    echo "BETTER_AUTH_SECRET=$(head -c 32 /dev/urandom | base64 | tr -d '=+/')"
    echo "VDI_NODE_JOIN_TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '=+/')"
    echo "VDI_ADMIN_PASSWORD=$(head -c 12 /dev/urandom | base64 | tr -d '=+/')"
    echo "VDI_DEMO_PASSWORD=demo-$(head -c 6 /dev/urandom | base64 | tr -d '=+/')"
  } > var/portal.env.tmp
  mv var/portal.env.tmp var/portal.env
fi

# 5. The portal's production build, when its sources changed.
src_sum=$( (git ls-files -s apps/web packages prisma/schema.prisma 2>/dev/null; git diff HEAD -- apps/web packages 2>/dev/null; cat package-lock.json) | sha256sum | cut -c1-16)
if [ ! -f apps/web/.next/BUILD_ID ] || [ "$(cat var/.web-build-stamp 2>/dev/null)" != "$src_sum" ]; then
  echo "setup: building the portal"
  (cd apps/web && NEXT_TELEMETRY_DISABLED=1 npx --no-install next build >/tmp/vdi-next-build.log 2>&1) || { tail -40 /tmp/vdi-next-build.log; exit 1; }
  echo "$src_sum" > var/.web-build-stamp
fi
