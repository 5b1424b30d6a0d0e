#!/usr/bin/env bash
# Make sure a Docker Engine answers on this machine and debootstrap is there.
# Idempotent; run as root. Used by .ci/run and the setup script.
#
#   docker answers        -> only install debootstrap if it is missing
#   docker does not       -> apt-get install docker.io/debootstrap as needed,
#                            start dockerd in the background (log:
#                            /var/log/devenv-dockerd.log), wait up to 60s
set -euo pipefail

LOG=/var/log/devenv-dockerd.log
WAIT_SECONDS=${DEVENV_ENGINE_WAIT:-60}

say() { printf 'engine.sh: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        say "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed"
        apt_updated=1
    fi
    say "installing: $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
        || die "apt-get install $* failed"
}

# Extra Debian packages, each checked by the command of the same name (scripts/test: docker-registry)
extra=()
for pkg in ${DEVENV_EXTRA_PACKAGES:-}; do command -v "$pkg" >/dev/null 2>&1 || extra+=("$pkg"); done

# the btrfs tool of the copy-on-write store (scripts/cow-store.sh)
command -v mkfs.btrfs >/dev/null 2>&1 || extra+=(btrfs-progs)
# block-level database clones; without the store they are overlays (docs in devenv/engine/cowstore.py)
cow_store() {
    case "${DEVENV_COW_STORE:-}" in 0|off|no|false|none) return 0 ;; esac
    bash "$(dirname "$0")/cow-store.sh" || say "no copy-on-write store: database clones will be overlays"
}

docker_answers() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }
dockerd_running() { pidof dockerd >/dev/null 2>&1 || pgrep -x dockerd >/dev/null 2>&1; }

if docker_answers; then
    need=("${extra[@]}")
    command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
    [ "${#need[@]}" = 0 ] || apt_install "${need[@]}"
    cow_store
    say "docker engine is up ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
    exit 0
fi

missing=("${extra[@]}")
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
[ "${#missing[@]}" = 0 ] || apt_install "${missing[@]}"

if dockerd_running; then
    say "dockerd is already running but does not answer yet; waiting"
else
    say "starting dockerd (log: $LOG)"
    # a stale pid file from a dead daemon makes dockerd refuse to start
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid 2>/dev/null)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    nohup setsid dockerd >>"$LOG" 2>&1 </dev/null &
fi

fail() {
    say "last lines of $LOG:"
    tail -n 5 "$LOG" >&2 2>/dev/null || true
    die "$1 (full log: $LOG)"
}

for _ in $(seq 1 "$WAIT_SECONDS"); do
    if docker_answers; then
        cow_store
        say "docker engine is up ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
        exit 0
    fi
    sleep 1
    dockerd_running || fail "dockerd exited without answering"
done
fail "docker engine did not answer within ${WAIT_SECONDS}s"
