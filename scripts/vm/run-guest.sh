#!/bin/bash
# Boot one kernel of the VM test bed with an initramfs under QEMU (TCG) and
# print the console on stdout (and into --log FILE).
#
#   scripts/vm/run-guest.sh KEY INITRD [--timeout SECS] [--log FILE] [--mem SIZE] [--append ARGS]
#                           [--icount SHIFT]
#
# --icount SHIFT: QEMU -icount shift=SHIFT,sleep=off (SHIFT a number or
# "auto"): guest time advances by 2^SHIFT ns per guest instruction and jumps
# to the next timer when the vCPU idles, whatever the host is doing; for
# benchmarks (one vCPU, single-threaded TCG: icount rules out MTTCG).
#
# The guest's /init powers off when done; a panic reboots, which -no-reboot
# turns into a QEMU exit; a hang is killed after --timeout seconds (exit 124).
# Exit status: QEMU's, or 124 on timeout.
set -euo pipefail
. "$(dirname "$0")/common.sh"

usage() { echo "usage: $0 KEY INITRD [--timeout SECS] [--log FILE] [--mem SIZE] [--append ARGS] [--icount SHIFT]" >&2; exit 2; }
[ $# -ge 2 ] || usage
KEY=$1 INITRD=$2; shift 2
TMO=600 LOG= MEM=256M APPEND_EXTRA= ICOUNT=
while [ $# -gt 0 ]; do
	case $1 in
	--timeout) TMO=$2; shift 2 ;;
	--log) LOG=$2; shift 2 ;;
	--mem) MEM=$2; shift 2 ;;
	--append) APPEND_EXTRA=$2; shift 2 ;;
	--icount) ICOUNT=$2; shift 2 ;;
	*) usage ;;
	esac
done
ENVF=$ITR_VM_DIR/$KEY/env
[ -f "$ENVF" ] || vm_die "kernel $KEY not fetched: run scripts/vm/fetch-kernel.sh $KEY (fetch-arm64.sh for arm64)"
# shellcheck disable=SC1090
. "$ENVF"
[ -f "$INITRD" ] || vm_die "no initramfs $INITRD"

if [ "$ITR_VM_ARCH" = amd64 ]; then
	# The ELF vmlinux boots through PVH, skipping the slow in-guest decompression.
	KERNEL=$VMLINUX
	[ -f "$KERNEL" ] || KERNEL=$BZIMAGE
fi

ACCEL=$(vm_qemu_accel) || exit 1
ICOUNT_ARGS=()
if [ -n "$ICOUNT" ]; then
	case $ICOUNT in auto|[0-9]|10) ;; *) vm_die "--icount $ICOUNT: want auto or a shift of 0..10" ;; esac
	[ "${ITR_VM_SMP:-1}" = 1 ] || vm_die "--icount needs one vCPU (single-threaded TCG), not ITR_VM_SMP=$ITR_VM_SMP"
	ICOUNT_ARGS=(-icount "shift=$ICOUNT,sleep=off")
	APPEND_EXTRA="$APPEND_EXTRA ITR_ICOUNT=$ICOUNT"   # an environment variable of the guest's /init
fi
# shellcheck disable=SC2086
if [ "$ITR_VM_ARCH" = arm64 ]; then
	# Debian's arm64 Image (fetch-arm64.sh) boots as it is on the virt board;
	# the console is its PL011. pauth-impdef: the kernel signs every return
	# address (CONFIG_ARM64_PTR_AUTH_KERNEL), and TCG's architected QARMA
	# algorithm makes that several times slower than the implementation-defined one.
	[ "$MEM" = 256M ] && MEM=512M
	cmd=(timeout -s KILL "$TMO" qemu-system-aarch64 -M virt $ACCEL "${ICOUNT_ARGS[@]}" -cpu max,pauth-impdef=on
	     -m "$MEM" -nodefaults -display none -no-reboot -serial stdio -monitor none
	     -kernel "$KERNEL" -initrd "$INITRD"
	     -append "console=ttyAMA0 quiet loglevel=4 panic=-1 oops=panic panic_on_warn=0 $APPEND_EXTRA")
else
	cmd=(timeout -s KILL "$TMO" qemu-system-x86_64 $ACCEL "${ICOUNT_ARGS[@]}" -cpu max -m "$MEM"
	     -nodefaults -display none -no-reboot -serial stdio -monitor none
	     -kernel "$KERNEL" -initrd "$INITRD"
	     -append "console=ttyS0 quiet loglevel=4 panic=-1 oops=panic panic_on_warn=0 $APPEND_EXTRA")
fi

set +e
if [ -n "$LOG" ]; then
	mkdir -p "$(dirname "$LOG")"
	"${cmd[@]}" < /dev/null 2>&1 | tr -d '\r' | tee "$LOG"
	rc=${PIPESTATUS[0]}
else
	"${cmd[@]}" < /dev/null 2>&1 | tr -d '\r'
	rc=${PIPESTATUS[0]}
fi
[ "$rc" -eq 137 ] && rc=124
[ "$rc" -eq 124 ] && echo "run-guest: QEMU killed after ${TMO}s (hung guest)" >&2
exit "$rc"
