#!/usr/bin/env bash
# The btrfs store of block-level copy-on-write database clones (devenv/engine/cowstore.py),
# made once per machine, as root. Where the store's directory is already on btrfs, it only
# marks it; elsewhere (ext4, as /var/lib/docker usually is) it makes a sparse loop file of
# btrfs and mounts it there, with discard so that deleted clones give their blocks back
# to the host's disk. Idempotent: an existing store is re-mounted after a reboot.
# Usage: scripts/cow-store.sh [DIR]   (default $DEVENV_COW_STORE or /var/lib/devenv/cow;
# the loop file is DIR.img, sized COW_STORE_SIZE, default half the free space, at most 64G)
set -euo pipefail
dir="${1:-${DEVENV_COW_STORE:-/var/lib/devenv/cow}}"
img="${dir}.img"
say() { echo "cow-store.sh: $*" >&2; }
if [ "$(id -u)" != 0 ]; then say "needs root (mount, btrfs); clones will be overlays"; exit 1; fi
if ! command -v mkfs.btrfs >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q btrfs-progs >/dev/null
fi
mkdir -p "$dir"
if [ "$(stat -f -c %T "$dir")" = btrfs ]; then
  touch "$dir/.devenv-cow-store"; say "store at $dir (btrfs)"; exit 0
fi
if [ ! -f "$img" ]; then
  free=$(df --output=avail -B1 "$(dirname "$dir")" | tail -1)
  size="${COW_STORE_SIZE:-$(( free / 2 < 64 * 1024 ** 3 ? free / 2 : 64 * 1024 ** 3 ))}"
  truncate -s "$size" "$img.part"
  mkfs.btrfs -q "$img.part" >/dev/null
  mv "$img.part" "$img"
fi
mountpoint -q "$dir" || mount -o loop,discard=async,noatime "$img" "$dir"
touch "$dir/.devenv-cow-store"
say "store at $dir (btrfs on the loop file $img)"
