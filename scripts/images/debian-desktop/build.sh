#!/usr/bin/env bash
# Builds the "debian-desktop" template from Debian packages only: debootstrap (minbase), systemd,
# Debian's kernel, Xfce, xrdp with xorgxrdp, the QEMU guest agent, and two small units of ours
# (vdi-identity: hostname, user, per-VM password and keyboard from the node; vdi-ready: markers on
# the serial port). The image is built once per machine into a cache keyed by a hash of this
# folder (the recipe), and linked into the project's image folder; a fresh clone on the same
# machine reuses it. Idempotent; concurrent builds wait for each other (flock).
#   build.sh            build when missing, link into $VDI_IMAGE_DIR (var/images)
#   build.sh --key      print the cache key and exit
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
IMAGES=${VDI_IMAGE_DIR:-$REPO/var/images}
CACHE=${VDI_IMAGE_CACHE:-/var/cache/vdi-images}
NAME=debian-desktop
MIRROR=${VDI_DEBIAN_MIRROR:-http://deb.debian.org/debian}
KEY=$(cd "$HERE" && cat build.sh packages.txt vdi-identity vdi-ready | sha256sum | cut -c1-16)
[ "${1:-}" = "--key" ] && { echo "$KEY"; exit 0; }
ENTRY=$CACHE/$NAME-$KEY

link() {
  # The project's image folder holds links to the cached files. VM disks are overlays on the
  # base disk, named by its key (disk-<key>.qcow2): a rebuild under a new key links its own base
  # and keeps the links of the older ones, so VMs made from them keep their disks. Cached entries
  # are never removed by the build.
  local out=$IMAGES/$NAME tmp
  if [ -f "$out/template.json" ] && [ "$(readlink -f "$out/template.json")" = "$ENTRY/template.json" ]; then return; fi
  mkdir -p "$IMAGES"
  tmp=$(mktemp -d "$IMAGES/.$NAME.XXXXXX")
  for f in "$ENTRY"/*; do ln -s "$f" "$tmp/$(basename "$f")"; done
  for old in "$out"/disk-*.qcow2; do
    [ -e "$old" ] && [ ! -e "$tmp/$(basename "$old")" ] && ln -s "$(readlink -f "$old")" "$tmp/$(basename "$old")"
  done
  chmod 755 "$tmp"
  rm -rf "$out"; mv "$tmp" "$out"
  echo "build-images: $NAME ready in $out (cached in $ENTRY)"
}

if [ -f "$ENTRY/template.json" ]; then link; exit 0; fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.$NAME.lock"
flock 9
if [ -f "$ENTRY/template.json" ]; then link; exit 0; fi

need() { dpkg -s "$1" >/dev/null 2>&1 || missing+=("$1"); }
missing=(); need debootstrap; need qemu-utils; need e2fsprogs
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi

t0=$(date +%s)
WORK=$(mktemp -d "$CACHE/.$NAME-$KEY.XXXXXX")
R=$WORK/rootfs
cleanup() {
  for m in dev/pts dev sys proc; do mountpoint -q "$R/$m" 2>/dev/null && umount -l "$R/$m"; done
  rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "build-images: $NAME: $* ($(( $(date +%s) - t0 )) s)"; }

# 1. The base system.
log "debootstrap (minbase, bookworm) from $MIRROR"
debootstrap --variant=minbase bookworm "$R" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 \
  || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }

# 2. The packages, installed in the new system without starting any service.
mount -t proc proc "$R/proc"; mount -t sysfs sys "$R/sys"; mount --bind /dev "$R/dev"; mount -t devpts devpts "$R/dev/pts"
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"; chmod +x "$R/usr/sbin/policy-rc.d"
# Docs, man pages and other languages' messages are never installed (dpkg path filters).
cat > "$R/etc/dpkg/dpkg.cfg.d/01-vdi-small" <<'CFG'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/de/*
path-include=/usr/share/locale/locale.alias
CFG
echo "deb $MIRROR bookworm main" > "$R/etc/apt/sources.list"
# The initramfs needs only what mounts the root disk.
mkdir -p "$R/etc/initramfs-tools/conf.d"
echo "MODULES=list" > "$R/etc/initramfs-tools/conf.d/vdi"
printf 'virtio_pci\nvirtio_blk\next4\n' >> "$R/etc/initramfs-tools/modules"
pkgs=$(grep -Ev '^\s*(#|$)' "$HERE/packages.txt" | tr '\n' ' ')
log "apt-get install ($(echo "$pkgs" | wc -w) packages and their dependencies)"
chroot "$R" /bin/sh -c "export DEBIAN_FRONTEND=noninteractive LC_ALL=C; apt-get update -qq && apt-get install -y -qq --no-install-recommends $pkgs" > "$WORK/apt.log" 2>&1 \
  || { tail -30 "$WORK/apt.log" >&2; exit 1; }

# 3. Configuration: locale, network, autologin session, xrdp, our units, a preset Xfce panel.
log "configure"
sed -i 's/^# *en_US.UTF-8/en_US.UTF-8/; s/^# *de_DE.UTF-8/de_DE.UTF-8/' "$R/etc/locale.gen"
chroot "$R" locale-gen >/dev/null
echo 'LANG=en_US.UTF-8' > "$R/etc/default/locale"
cat > "$R/etc/default/keyboard" <<'KB'
XKBMODEL="pc105"
XKBLAYOUT="us"
XKBVARIANT=""
XKBOPTIONS=""
BACKSPACE="guess"
KB
echo "debian-desktop" > "$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 debian-desktop\n' > "$R/etc/hosts"
mkdir -p "$R/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n' > "$R/etc/systemd/network/20-vdi.network"
# The desktop user owns the VM: sudo without a password (as cloud images do for their user).
echo '%sudo ALL=(ALL:ALL) NOPASSWD:ALL' > "$R/etc/sudoers.d/90-vdi"; chmod 440 "$R/etc/sudoers.d/90-vdi"
# Xfce's first start asks which panel to use: the default one is preset instead.
mkdir -p "$R/etc/xdg/xfce4/xfconf/xfce-perchannel-xml"
cp "$R/etc/xdg/xfce4/panel/default.xml" "$R/etc/xdg/xfce4/xfconf/xfce-perchannel-xml/xfce4-panel.xml"
# xrdp starts an Xfce session (over xorgxrdp).
cat > "$R/etc/xrdp/startwm.sh" <<'WM'
#!/bin/sh
[ -r /etc/default/locale ] && . /etc/default/locale && export LANG
exec dbus-launch --exit-with-session startxfce4
WM
chmod 755 "$R/etc/xrdp/startwm.sh"
# Both sessions (the console's and RDP's) take the VM's keyboard layout, which vdi-identity wrote
# from the node's identity. Keys arrive as scancodes, so the layout is the guest's choice.
cat > "$R/etc/xdg/autostart/vdi-keyboard.desktop" <<'KBD'
[Desktop Entry]
Type=Application
Name=Keyboard layout of this VM
Exec=sh -c '. /etc/default/keyboard; setxkbmap -model "${XKBMODEL:-pc105}" -layout "${XKBLAYOUT:-us}" -variant "${XKBVARIANT:-}"'
NoDisplay=true
KBD
# xrdp speaks TLS only (never RDP's own weak security), with a key of each VM's own (made at its
# first boot by vdi-identity); the daemon reads the key through the ssl-cert group.
sed -i 's/^security_layer=.*/security_layer=tls/; s/^crypt_level=.*/crypt_level=high/' "$R/etc/xrdp/xrdp.ini"
chroot "$R" usermod -aG ssl-cert xrdp
rm -f "$R/etc/ssl/private/ssl-cert-snakeoil.key" "$R/etc/ssl/certs/ssl-cert-snakeoil.pem"
install -m 755 "$HERE/vdi-identity" "$R/usr/local/sbin/vdi-identity"
install -m 755 "$HERE/vdi-ready" "$R/usr/local/sbin/vdi-ready"
cat > "$R/etc/systemd/system/vdi-identity.service" <<'UNIT'
[Unit]
Description=VDI: the identity the node gave this VM (hostname, user, keyboard)
DefaultDependencies=no
After=local-fs.target systemd-modules-load.service
Before=lightdm.service xrdp.service xrdp-sesman.service systemd-networkd.service network-pre.target
Wants=network-pre.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/vdi-identity
StandardOutput=journal+console

[Install]
WantedBy=sysinit.target
UNIT
cat > "$R/etc/systemd/system/vdi-ready.service" <<'UNIT'
[Unit]
Description=VDI: tell the node when the desktop can be used
After=xrdp.service lightdm.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/vdi-ready

[Install]
WantedBy=graphical.target
UNIT
chroot "$R" systemctl enable vdi-identity.service vdi-ready.service systemd-networkd.service xrdp.service lightdm.service qemu-guest-agent.service >/dev/null 2>&1 || true
chroot "$R" systemctl set-default graphical.target >/dev/null
passwd -R "$R" -l root >/dev/null

# 4. Trim: kernel modules no VM of ours uses (most of the image), caches, apt lists.
log "trim"
K=$(ls "$R/lib/modules")
M=$R/lib/modules/$K/kernel
rm -rf "$M"/drivers/{net/wireless,net/ethernet,media,infiniband,staging,bluetooth,isdn,scsi,ata,usb,iio,mmc,mtd,thunderbolt,net/can,net/usb,hwmon,misc,nfc,w1} \
  "$M"/drivers/gpu/drm/{amd,nouveau,radeon,i915} "$M"/sound "$M"/net/{wireless,bluetooth,mac80211,netfilter,sched}
chroot "$R" depmod "$K"
chroot "$R" update-initramfs -u -k "$K" >/dev/null 2>&1
rm -f "$R/usr/sbin/policy-rc.d"
chroot "$R" apt-get clean
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/debconf/*-old "$R"/tmp/*
# Logs are emptied, not removed: xrdp runs as its own user and cannot make its log again.
find "$R/var/log" -type f -exec truncate -s 0 {} +
for m in dev/pts dev sys proc; do umount -l "$R/$m"; done
cp "$R/boot/vmlinuz-$K" "$WORK/vmlinuz"; cp "$R/boot/initrd.img-$K" "$WORK/initrd.img"
chmod 644 "$WORK/vmlinuz" "$WORK/initrd.img"
used=$(du -sm "$R" | cut -f1)

# 5. The disk: ext4 made from the folder (no loop device), then compressed qcow2.
log "disk (${used} MiB of files)"
mke2fs -q -t ext4 -L vdi-root -d "$R" "$WORK/disk.raw" 6G
qemu-img convert -q -c -f raw -O qcow2 "$WORK/disk.raw" "$WORK/disk-$KEY.qcow2"
rm -rf "$R" "$WORK/disk.raw"
secs=$(( $(date +%s) - t0 ))
cat > "$WORK/template.json" <<JSON
{
  "name": "$NAME",
  "title": "Debian desktop (Xfce)",
  "description": "Debian 12 with the Xfce desktop, a terminal and a text editor; RDP (xrdp) and the graphical console log you in by themselves.",
  "engine": "qemu",
  "kernel": "vmlinuz",
  "initrd": "initrd.img",
  "disk": "disk-$KEY.qcow2",
  "cmdline": "root=/dev/vda rw console=tty1 console=ttyS0,115200 quiet loglevel=3 systemd.show_status=0 panic=-1",
  "egress": "none",
  "kernelVersion": "$K",
  "desktop": { "rdpPort": 3389, "identity": "fw_cfg", "guestAgent": true },
  "build": { "seconds": $secs, "filesMiB": $used, "key": "$KEY" },
  "defaultCpus": 2,
  "maxCpus": 4,
  "defaultMemoryMiB": 2048,
  "minMemoryMiB": 1024,
  "maxMemoryMiB": 8192,
  "diskSizeGiB": 6
}
JSON
rm -f "$WORK"/*.log
chmod 755 "$WORK"
mv "$WORK" "$ENTRY"
trap - EXIT
log "built: $(du -sh --apparent-size "$ENTRY/disk-$KEY.qcow2" | cut -f1) disk, kernel $K"
link
