#!/bin/bash
# Capture the nf_tables trace fixtures of tests/unit/data/nft-trace/KEY/ on the
# Debian kernels of the VM test bed (the unit tests decode them, issue 11).
#
#   scripts/vm/capture-nft-fixtures.sh [--kernel KEY|all]... [--out DIR]
#
# Default: every kernel of scripts/vm/kernels.conf, DIR tests/unit/data/nft-trace.
# For each kernel: fetch it (scripts/vm/fetch-kernel.sh), pack an initramfs
# (scripts/vm/mkinitramfs.sh) whose only scenario is scripts/vm/nft-capture-guest.sh
# with tests/tools/capture-nft-trace.sh, a static itr_nft_trace_capture and
# itr-net, boot it once (scripts/vm/run-guest.sh), take the archive the guest
# prints on its console, check its digest and replace DIR/KEY with it.
# The exact kernel build used is printed (and is in DIR/KEY/*.trace.hex's
# first comment line). Run it as root, one QEMU at a time (flock).
# Exits 1 if any kernel gave no complete capture (its old directory is kept).
set -uo pipefail
. "$(dirname "$0")/common.sh"

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
KERNELS=() OUTDIR=$ITR_REPO/tests/unit/data/nft-trace
while [ $# -gt 0 ]; do
	case $1 in
	--kernel|-k) [ $# -ge 2 ] || usage
		if [ "$2" = all ]; then mapfile -t -O "${#KERNELS[@]}" KERNELS < <(vm_kernel_keys)
		else KERNELS+=("$2"); fi
		shift 2 ;;
	--out) [ $# -ge 2 ] || usage; OUTDIR=$2; shift 2 ;;
	-h|--help) usage ;;
	*) echo "capture-nft-fixtures: unknown argument: $1" >&2; usage ;;
	esac
done
[ ${#KERNELS[@]} -gt 0 ] || mapfile -t KERNELS < <(vm_kernel_keys)
for k in "${KERNELS[@]}"; do vm_kernel_conf "$k"; done   # dies on an unknown key
[ "$(id -u)" -eq 0 ] || vm_die "needs root (mknod in the initramfs)"
command -v nft >/dev/null || vm_die "needs nft on the host (copied into the guest)"

# The guest's tools: static, so they need nothing from the initramfs.
TOOLS=$ITR_VM_DIR/tools
mkdir -p "$TOOLS"
CAP=$TOOLS/itr-nft-capture
if [ ! -x "$CAP" ] || [ "$ITR_REPO/tests/tools/nft_trace_capture.cpp" -nt "$CAP" ]; then
	g++ -std=c++20 -static -O2 -Wall -o "$CAP.tmp" "$ITR_REPO/tests/tools/nft_trace_capture.cpp" &&
		mv "$CAP.tmp" "$CAP" || vm_die "cannot build the static capture tool"
fi

ANY_FAIL=0
declare -A USED=()
for K in "${KERNELS[@]}"; do
	echo "===================== capture on kernel $K ====================="
	if ! "$ITR_VM_SCRIPTS/fetch-kernel.sh" "$K"; then ANY_FAIL=1; continue; fi
	# shellcheck disable=SC1090
	. "$ITR_VM_DIR/$K/env"
	USED[$K]="$KREL: $KPKGS"
	INITRD=$ITR_VM_DIR/$K/capture.cpio.gz
	if ! "$ITR_VM_SCRIPTS/mkinitramfs.sh" "$K" -o "$INITRD" --timeout 900 --backends capture \
		--add "$CAP=/usr/local/bin/itr-nft-capture" \
		--add "$ITR_REPO/tests/tools/capture-nft-trace.sh=/itr/capture-nft-trace.sh" \
		"$ITR_VM_SCRIPTS/nft-capture-guest.sh"; then
		ANY_FAIL=1; continue
	fi
	LOG=$ITR_VM_DIR/$K/capture-console.log
	"$ITR_VM_SCRIPTS/run-guest.sh" "$K" "$INITRD" --timeout 1100 --log "$LOG" > /dev/null
	grep -a '^ITR-\|^nft-capture\|^capture-nft-trace\|messages;' "$LOG"
	if ! grep -aq "^ITR-RESULT $K nft-capture-guest capture PASS" "$LOG"; then
		echo "capture-nft-fixtures: $K: the capture failed (console: $LOG)" >&2
		ANY_FAIL=1; continue
	fi
	# The archive between the markers; its digest and size were printed before it.
	read -r _ sum size < <(grep -a -m1 '^ITR-FIXTURES-BEGIN ' "$LOG")
	ARCH=$ITR_VM_DIR/$K/fixtures.tar.gz
	sed -n '/^ITR-FIXTURES-BEGIN /,/^ITR-FIXTURES-END$/p' "$LOG" | sed '1d;$d' | base64 -d > "$ARCH"
	if [ "$(sha256sum < "$ARCH" | cut -d' ' -f1)" != "$sum" ] || [ "$(wc -c < "$ARCH")" != "$size" ]; then
		echo "capture-nft-fixtures: $K: the archive arrived damaged (digest or size differ)" >&2
		ANY_FAIL=1; continue
	fi
	NEW=$OUTDIR/.$K.new
	rm -rf "$NEW" && mkdir -p "$NEW" && tar xzf "$ARCH" -C "$NEW" --no-same-owner || { ANY_FAIL=1; continue; }
	rm -rf "${OUTDIR:?}/$K" && mv "$NEW" "$OUTDIR/$K"
	echo "capture-nft-fixtures: $K ($KREL): $(ls "$OUTDIR/$K" | wc -l) files in $OUTDIR/$K"
done

echo
echo "kernel builds used:"
for K in "${KERNELS[@]}"; do echo "  $K  ${USED[$K]:-not fetched}"; done
[ "$ANY_FAIL" -eq 0 ] || { echo "capture-nft-fixtures: FAILED"; exit 1; }
echo "capture-nft-fixtures: OK"
