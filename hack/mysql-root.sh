#!/usr/bin/env bash
# Build (once) a Debian sid root holding MySQL 9.x: mysql-server-core + mysql-client-core.
#
# bookworm ships only MariaDB; sid ships MySQL. The root is cached outside the repository at
#   ${MOCO_CACHE:-$HOME/.cache/moco}/mysql-root/<mysql-server-core version>
# and the path of the current root is written to ${MOCO_CACHE}/mysql-root.current.
#
#   hack/mysql-root.sh                  build unless a usable root is already cached
#   MYSQL_ROOT_FORCE=1 hack/mysql-root.sh   build again (e.g. to pick up a newer sid upload)
#
# The build happens in a temporary directory next to the cache and is renamed into place only
# when complete, so a killed build never leaves a half root behind. Nothing stays mounted in
# the root. The root stays a normal Debian root (mysqld at /usr/sbin/mysqld, plugins at
# /usr/lib/mysql/plugin): it is also the base of the MySQL container image.
#
# DEBIAN_MIRROR overrides the mirror (default http://deb.debian.org/debian).
set -euo pipefail

DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="${MOCO_CACHE:-$HOME/.cache/moco}"
ROOTS="$CACHE/mysql-root"
CURRENT="$CACHE/mysql-root.current"

log() { printf '[mysql-root] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usable() { [[ -n "$1" && -x "$1/usr/sbin/mysqld" && -x "$1/usr/bin/mysql" && -f "$1/usr/lib/mysql/plugin/mysql_clone.so" ]]; }

set_current() {
    printf '%s\n' "$1" >"$CURRENT.tmp"
    mv -f "$CURRENT.tmp" "$CURRENT"
    log "current root: $1"
}

mkdir -p "$ROOTS"

if [[ -z "${MYSQL_ROOT_FORCE:-}" ]]; then
    cur=$(cat "$CURRENT" 2>/dev/null || true)
    if usable "$cur"; then
        log "present: $cur (set MYSQL_ROOT_FORCE=1 to rebuild)"
        exit 0
    fi
    # A root built earlier whose pointer was lost: take the newest usable one.
    newest=""
    while IFS= read -r d; do
        usable "$d" && newest="$d"
    done < <(find "$ROOTS" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | sort -V)
    if [[ -n "$newest" ]]; then
        set_current "$newest"
        exit 0
    fi
fi

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap and chroot need it)"
if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends debootstrap ca-certificates >/dev/null
fi

# Remove half-built roots left by a killed run.
find "$ROOTS" -mindepth 1 -maxdepth 1 -type d -name '.build.*' -exec rm -rf {} +

work=$(mktemp -d "$ROOTS/.build.XXXXXX")
proc_mounted=""
cleanup() {
    if [[ -n "$proc_mounted" ]]; then
        umount "$work/proc" 2>/dev/null || umount -l "$work/proc" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

t0=$SECONDS
log "debootstrap --variant=minbase sid into $work (mirror $DEBIAN_MIRROR)"
debootstrap --variant=minbase sid "$work" "$DEBIAN_MIRROR" >"$ROOTS/.debootstrap.log" 2>&1 || {
    tail -n 30 "$ROOTS/.debootstrap.log" >&2
    die "debootstrap failed (full log: $ROOTS/.debootstrap.log)"
}
log "debootstrap done in $((SECONDS - t0))s"

# apt inside the root needs name resolution and /proc; /proc is unmounted by the trap.
cp -L /etc/resolv.conf "$work/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$work/proc"
proc_mounted=1

in_root() { chroot "$work" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }

t1=$SECONDS
log "apt-get update in the root (sid's Release may be past Valid-Until)"
in_root apt-get -q -o Acquire::Check-Valid-Until=false update >"$ROOTS/.apt.log" 2>&1 || {
    tail -n 30 "$ROOTS/.apt.log" >&2
    die "apt-get update failed"
}
log "apt-get install --no-install-recommends mysql-server-core mysql-client-core"
in_root apt-get -q -y -o Acquire::Check-Valid-Until=false install --no-install-recommends \
    mysql-server-core mysql-client-core >>"$ROOTS/.apt.log" 2>&1 || {
    tail -n 30 "$ROOTS/.apt.log" >&2
    die "apt-get install failed"
}
in_root apt-get clean
log "packages installed in $((SECONDS - t1))s"

umount "$work/proc"
proc_mounted=""

version=$(in_root dpkg-query -W -f='${Version}' mysql-server-core)
version=${version//:/_}
usable "$work" || die "mysqld, mysql or mysql_clone.so missing from the new root"
log "mysql-server-core $version: $(in_root /usr/sbin/mysqld --version)"

dest="$ROOTS/$version"
if usable "$dest" && [[ -z "${MYSQL_ROOT_FORCE:-}" ]]; then
    log "$dest already present; discarding the new build"
else
    old=""
    if [[ -e "$dest" ]]; then
        old="$ROOTS/.old.$$"
        mv "$dest" "$old"
    fi
    mv "$work" "$dest"
    [[ -z "$old" ]] || rm -rf "$old"
fi
rm -f "$ROOTS/.debootstrap.log" "$ROOTS/.apt.log"
set_current "$dest"
log "done in $((SECONDS - t0))s ($(du -sh "$dest" | cut -f1))"
