#!/usr/bin/env bash
# Builds the "debian-shell" guest template from Debian packages: Debian's kernel, a busybox
# initramfs that mounts the VM's virtio disk and gives a shell on the VGA console (what the
# browser sees) and on the serial port, and a small ext4 base disk. Idempotent: template.json
# is written last, so its presence means the build is complete.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
IMAGES=${VDI_IMAGE_DIR:-$REPO/var/images}
CACHE=$REPO/var/cache/kernel
NAME=debian-shell
OUT=$IMAGES/$NAME

# The microVM desktop: our own guest, built from source by `make -C native`. Refreshed whenever
# the guest binary changes; skipped (with the reason) when the native core is not built.
build_microvm() {
  local elf=$REPO/native/build/guests/desktop.elf out=$IMAGES/microvm-desktop
  if [ ! -f "$elf" ]; then echo "build-images: microvm-desktop skipped: $elf not built (make -C native)"; return; fi
  if [ -f "$out/template.json" ] && cmp -s "$elf" "$out/desktop.elf"; then return; fi
  local tmp; tmp=$(mktemp -d "$IMAGES/.microvm-desktop.XXXXXX")
  cp "$elf" "$tmp/desktop.elf"
  cat > "$tmp/template.json" <<JSON
{
  "name": "microvm-desktop",
  "title": "microVM desktop",
  "description": "A desktop on our own VMM: wallpaper, a window with what you type, a mouse pointer and a clock.",
  "engine": "vdi-vmm",
  "kernel": "desktop.elf",
  "defaultCpus": 1,
  "maxCpus": 1,
  "defaultMemoryMiB": 64,
  "minMemoryMiB": 32,
  "maxMemoryMiB": 1024,
  "diskSizeGiB": 0
}
JSON
  rm -rf "$out"; mv "$tmp" "$out"; chmod 755 "$out"
  echo "build-images: microvm-desktop ready in $out"
}
mkdir -p "$IMAGES"
build_microvm
# Bump when the kernel/initramfs recipe changes: an older image gets a new kernel and initramfs,
# and keeps its base disk (the VMs' disks are overlays on it: it must never change).
GUEST_VERSION=3
[ -f "$OUT/template.json" ] && [ "$(cat "$OUT/guest-version" 2>/dev/null)" = "$GUEST_VERSION" ] && exit 0

need() { dpkg -s "$1" >/dev/null 2>&1 || missing+=("$1"); }
missing=(); need busybox-static; need cpio; need e2fsprogs; need qemu-utils
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi

# 1. Debian's newest 6.1 kernel package, unpacked (not installed).
mkdir -p "$CACHE" "$IMAGES"
if [ ! -d "$CACHE/root/boot" ]; then
  pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' | awk '{print $1}' | sort -V | tail -1)
  if [ -z "$pkg" ]; then apt-get update -qq; pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' | awk '{print $1}' | sort -V | tail -1); fi
  [ -n "$pkg" ] || { echo "build-images: no linux-image-6.1.0-*-amd64-unsigned package found" >&2; exit 1; }
  (cd "$CACHE" && rm -f ./*.deb && apt-get download -qq "$pkg" 2>/dev/null && rm -rf root.tmp && dpkg -x ./*.deb root.tmp && mv root.tmp root)
fi
KROOT=$CACHE/root
KVER=$(basename "$(ls -d "$KROOT"/lib/modules/*)")
# The package ships no modules.dep (dpkg's postinst makes it); make it for the unpacked tree.
[ -f "$KROOT/lib/modules/$KVER/modules.dep" ] || /sbin/depmod -b "$KROOT" "$KVER" 2>/dev/null || busybox depmod -b "$KROOT" "$KVER"

WORK=$(mktemp -d "$IMAGES/.$NAME.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cp "$KROOT/boot/vmlinuz-$KVER" "$WORK/vmlinuz"

# 2. The initramfs. virtio-pci, virtio-blk and ext4 are modules in Debian's kernel; the i8042
#    keyboard, VT and VGA text console are built in. modprobe resolves the modules' dependencies.
I=$WORK/initramfs
mkdir -p "$I"/{bin,sbin,etc,proc,sys,dev,tmp,root,mnt/disk,lib/modules/$KVER}
cp /bin/busybox "$I/bin/busybox"
for a in $("$I/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$I/bin/$a"; done
for a in init modprobe insmod reboot poweroff halt; do ln -sf ../bin/busybox "$I/sbin/$a"; done
ln -sf bin/busybox "$I/init"
MODS=(virtio_pci virtio_blk virtio_net ext4 crc32c_generic)
dep=$KROOT/lib/modules/$KVER/modules.dep
want=()
add() { # a module and, recursively, what it depends on
  local path; path=$(grep -m1 -E "/$1\.ko(\.[a-z]+)?:" "$dep" | cut -d: -f1) || true
  [ -n "$path" ] || { echo "build-images: module $1 not in $KVER" >&2; exit 1; }
  want+=("$path")
  for d in $(grep -m1 -E "^$path:" "$dep" | cut -d: -f2); do add "$(basename "$d" | sed -E 's/\.ko(\.[a-z]+)?$//')"; done
}
for m in "${MODS[@]}"; do add "$m"; done
for p in $(printf '%s\n' "${want[@]}" | sort -u); do
  mkdir -p "$I/lib/modules/$KVER/$(dirname "$p")"; cp "$KROOT/lib/modules/$KVER/$p" "$I/lib/modules/$KVER/$p"
done
cp "$dep" "$KROOT/lib/modules/$KVER/modules.alias" "$I/lib/modules/$KVER/" 2>/dev/null || cp "$dep" "$I/lib/modules/$KVER/"

cat > "$I/etc/inittab" <<'TAB'
::sysinit:/etc/rcS
tty1::respawn:-/bin/sh
ttyS0::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/umount -a -r
TAB
cat > "$I/etc/rcS" <<'RCS'
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
echo /sbin/modprobe > /proc/sys/kernel/modprobe
for m in virtio_pci virtio_blk virtio_net crc32c_generic ext4; do modprobe "$m" 2>/dev/null; done
for w in $(cat /proc/cmdline); do case "$w" in vdi.hostname=*) hostname "${w#vdi.hostname=}";; esac; done
# QEMU's user-mode network: fixed addresses (its DHCP server would hand out the same ones).
if [ -e /sys/class/net/eth0 ]; then
  ifconfig lo 127.0.0.1 up; ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up
  route add default gw 10.0.2.2; echo "nameserver 10.0.2.3" > /etc/resolv.conf
fi
i=0; while [ ! -b /dev/vda ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done
if [ -b /dev/vda ] && mount -t ext4 /dev/vda /mnt/disk; then disk="disk: /dev/vda on /mnt/disk"; else disk="disk: none mounted"; fi
echo "VDI-GUEST-READY $(hostname) $disk" > /dev/ttyS0
printf '\033[2J\033[H\n  VDI guest "%s" (template debian-shell, kernel %s)\n  %s\n\n' "$(hostname)" "$(uname -r)" "$disk" > /dev/tty1
RCS
chmod +x "$I/etc/rcS"
echo 'export PS1="\h:\w# " HOME=/root' > "$I/etc/profile"
(cd "$I" && find . | cpio -o -H newc --quiet | gzip -6) > "$WORK/initrd.img"

# 3. The base disk: ext4 made from a folder without mounting anything, then qcow2. An existing
#    one is kept as it is (hard link: the same file, for the VMs whose disks build on it).
if [ -f "$OUT/disk.qcow2" ]; then
  ln "$OUT/disk.qcow2" "$WORK/disk.qcow2"
else
  D=$WORK/disk; mkdir -p "$D/etc"
  echo "$NAME" > "$D/etc/vdi-template"
  printf 'This disk belongs to a VM made from the %s template.\nWrite here: it persists across reboots.\n' "$NAME" > "$D/README"
  mke2fs -q -t ext4 -L vdi-root -d "$D" "$WORK/disk.raw" 256M
  qemu-img convert -q -f raw -O qcow2 "$WORK/disk.raw" "$WORK/disk.qcow2"
  rm -rf "$D" "$WORK/disk.raw"
fi
rm -rf "$I"
echo "$GUEST_VERSION" > "$WORK/guest-version"

cat > "$WORK/template.json" <<JSON
{
  "name": "$NAME",
  "title": "Debian shell (busybox)",
  "description": "Debian's Linux $KVER with a busybox shell on the screen and on the serial port; the VM's own disk is mounted at /mnt/disk.",
  "engine": "qemu",
  "kernel": "vmlinuz",
  "initrd": "initrd.img",
  "disk": "disk.qcow2",
  "cmdline": "console=ttyS0,115200 console=tty1 quiet loglevel=3 panic=-1",
  "egress": "nat",
  "kernelVersion": "$KVER",
  "defaultCpus": 1,
  "maxCpus": 4,
  "defaultMemoryMiB": 256,
  "minMemoryMiB": 128,
  "maxMemoryMiB": 2048,
  "diskSizeGiB": 1
}
JSON
rm -rf "$OUT"
mv "$WORK" "$OUT"
trap - EXIT
chmod 755 "$OUT"
echo "build-images: $NAME ready in $OUT ($(du -sh "$OUT" | cut -f1))"
