#!/bin/bash
# Proves the README's two commands on a fresh Debian 12 machine: builds a bare
# Debian 12 root file system (debootstrap, minbase: only the essential packages
# and apt, barer than any real base image), puts a clean clone of this
# repository's HEAD in it, and runs, as CI does (CI=true), inside a chroot:
#   scripts/run.sh --check     build and run the tracer (preflight + verifier)
#   scripts/test.sh            every test: unit, host and the VM matrix
# A package that a test needs and scripts/deps.sh does not install makes the
# run fail here even when the developer's machine has it.
#
#   scripts/fresh-machine.sh [--root DIR] [--keep] [--no-vm] [--vm-cache DIR]
#
#   --root DIR      where to build the root (default build/fresh/root; emptied first)
#   --keep          leave the root in place afterwards (default: removed)
#   --no-vm         scripts/test.sh --no-vm (unit and host tests only)
#   --vm-cache DIR  share this host folder as the guest's kernel .deb cache
#                   (ITR_VM_CACHE; default build/vm/cache, created if absent)
# Needs root (debootstrap, chroot, mounts). Uses only Debian's archive.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
ROOT=$REPO/build/fresh/root KEEP=0 NOVM=0 VMCACHE=${ITR_VM_CACHE:-$REPO/build/vm/cache}
MIRROR=${ITR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--root) ROOT=$(realpath -m "$2"); shift 2 ;;
	--keep) KEEP=1; shift ;;
	--no-vm) NOVM=1; shift ;;
	--vm-cache) VMCACHE=$(realpath -m "$2"); shift 2 ;;
	-h|--help) usage ;;
	*) echo "fresh-machine: unknown argument: $1" >&2; usage ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "fresh-machine: needs root (debootstrap, chroot, mounts)" >&2; exit 1; }
case $ROOT in /|"") echo "fresh-machine: refusing --root '$ROOT'" >&2; exit 2 ;; esac
log() { printf 'fresh-machine: %s\n' "$*" >&2; }
now() { date +%s; }

if ! command -v debootstrap >/dev/null; then
	log "installing debootstrap"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

MOUNTS=()
teardown() {
	local i
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		umount -l "${MOUNTS[$i]}" 2>/dev/null || log "could not unmount ${MOUNTS[$i]}"
	done
	MOUNTS=()
	# Network namespaces a test left behind inside the root are bind mounts too.
	if [ -d "$ROOT" ]; then
		# (awk, not grep: no match is no error under pipefail)
		awk -v p="$ROOT/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r |
			while read -r m; do umount -l "$m" 2>/dev/null || true; done
	fi
	if [ "$KEEP" -eq 0 ] && [ -d "$ROOT" ]; then
		if grep -qF " $ROOT/" /proc/mounts; then log "mounts remain under $ROOT: not removing it"; return; fi
		rm -rf --one-file-system "$ROOT"
	fi
}
trap teardown EXIT
trap 'exit 130' INT TERM HUP

mnt() { # mnt ARGS... TARGET
	local target=${*: -1}
	mkdir -p "$target"
	mount "$@"
	MOUNTS+=("$target")
}

t0=$(now)
if [ -d "$ROOT" ]; then
	grep -qF " $ROOT/" /proc/mounts && { log "$ROOT has mounts below it (another run?)"; exit 1; }
	rm -rf --one-file-system "$ROOT"
fi
mkdir -p "$ROOT"
# A real machine's / is a mount point; `ip netns exec` needs that (it makes
# / a slave mount in its private namespace).
mnt --bind "$ROOT" "$ROOT"
log "debootstrap --variant=minbase bookworm $ROOT"
debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" > "$ROOT.debootstrap.log" 2>&1 ||
	{ tail -n 20 "$ROOT.debootstrap.log"; log "debootstrap failed"; exit 1; }
t1=$(now)

# What a fresh machine has and a chroot does not get by itself: kernel file
# systems, a resolver, a writable /run and /tmp; no services start.
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
mnt -t proc proc "$ROOT/proc"
mnt -t sysfs sysfs "$ROOT/sys"
mnt -t bpf bpffs "$ROOT/sys/fs/bpf"
mnt --rbind /dev "$ROOT/dev"
mount --make-rslave "$ROOT/dev"
mnt -t tmpfs -o mode=755 tmpfs "$ROOT/run"
mnt -t tmpfs -o mode=1777 tmpfs "$ROOT/tmp"
mkdir -p "$VMCACHE"
mnt --bind "$VMCACHE" "$ROOT/var/cache/itr-vm"

git clone -q "$REPO" "$ROOT/work/iptables-trace"
# The commit tested is the clone's: HEAD may move while this runs.
COMMIT=$(git -C "$ROOT/work/iptables-trace" rev-parse --short HEAD)
log "clean clone of $COMMIT into $ROOT/work/iptables-trace"

test_args=""
[ "$NOVM" -eq 1 ] && test_args=--no-vm
inside() {
	chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb CI=true \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		ITR_VM_CACHE=/var/cache/itr-vm \
		/bin/bash -c "cd /work/iptables-trace && $1"
}
rc_run=0 rc_test=0
log "== scripts/run.sh --check (inside the bare root)"
inside "scripts/run.sh --check" || rc_run=$?
t2=$(now)
log "== scripts/test.sh $test_args (inside the bare root)"
inside "scripts/test.sh $test_args" || rc_test=$?
t3=$(now)

echo
echo "fresh-machine summary (commit $COMMIT)"
printf '  %-28s %6ss\n' "debootstrap (minbase)" $((t1 - t0))
printf '  %-28s %6ss  exit %s\n' "scripts/run.sh --check" $((t2 - t1)) "$rc_run"
printf '  %-28s %6ss  exit %s\n' "scripts/test.sh $test_args" $((t3 - t2)) "$rc_test"
if [ "$rc_run" -ne 0 ] || [ "$rc_test" -ne 0 ]; then
	echo "fresh-machine: FAILED"
	exit 1
fi
echo "fresh-machine: OK"
