#!/usr/bin/env bash
# Stops every VM engine (QEMU, vdi-vmm) whose files live under the given folder (VMs outlive the agent by design).
dir=${1:?folder}
for pidfile in "$dir"/node/vms/*/engine.pid; do
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if grep -qa "$dir" "/proc/$pid/cmdline" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
done
exit 0
