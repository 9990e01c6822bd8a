#!/bin/bash
# A first look at iptables-trace on a real kernel: boots the Debian 6.1 VM
# (QEMU TCG), builds a small ruleset with a DROP in a user chain, sends a
# little traffic between two namespaces and shows the tracer's output.
#
#   scripts/vmdemo.sh [--kernel 5.10|6.1|6.12] [--no-build | --binary PATH]
#
# The first run downloads the kernel packages (about 85 MB, cached in
# build/vm/cache) and builds the project against that kernel (build/vm/KEY/build).
set -euo pipefail
. "$(dirname "$0")/vm/common.sh"

K=6.1 NO_BUILD=0 BINARY=""
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) K=$2; shift 2 ;;
	--no-build) NO_BUILD=1; shift ;;
	--binary) BINARY=$(realpath "$2"); shift 2 ;;
	*) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
"$ITR_VM_SCRIPTS/fetch-kernel.sh" "$K"
# shellcheck disable=SC1090
. "$ITR_VM_DIR/$K/env"
B=$ITR_VM_DIR/$K/build
if [ -z "$BINARY" ]; then
	if [ "$NO_BUILD" -eq 0 ]; then
		echo "vmdemo: building iptables-trace for $KREL (log: $B.log)"
		cmake -S "$ITR_REPO" -B "$B" -DITR_KERNEL_BUILD="$KDIR" -DITR_KMOD_MAKE_ARGS="$KMAKE_ARGS" \
			-DITR_BUILD_TESTS=OFF > "$B.log" 2>&1 && cmake --build "$B" -j "$(nproc)" >> "$B.log" 2>&1 ||
			{ tail -n 30 "$B.log"; echo "vmdemo: build failed" >&2; exit 1; }
	fi
	BINARY=$B/iptables-trace
fi
[ -x "$BINARY" ] || { echo "vmdemo: no binary at $BINARY" >&2; exit 1; }
INITRD=$ITR_VM_DIR/$K/demo.cpio.gz
"$ITR_VM_SCRIPTS/mkinitramfs.sh" "$K" -o "$INITRD" --binary "$BINARY" --timeout 120 \
	"$ITR_VM_SCRIPTS/demo-scenario.sh"
exec "$ITR_VM_SCRIPTS/run-guest.sh" "$K" "$INITRD" --timeout 300
