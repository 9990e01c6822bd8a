#!/bin/bash
# Run the VM scenarios of iptables-trace on real Debian kernels under QEMU (TCG).
#
#   scripts/vmtest.sh [--kernel 5.10|6.1|6.12|all]... [--scenario PATH]...
#                     [--backend module|bpf|netlink|all]...
#                     [--no-build | --binary PATH] [--timeout SECS] [--jobs N]
#                     [--append KERNEL-ARGS] [--icount[=SHIFT]] [--arch amd64|arm64]
#
# Defaults: every kernel of scripts/vm/kernels.conf, every tests/vm/*.sh but lib.sh.
# For each kernel: resolve the series to the newest Debian build and fetch it
# (scripts/vm/fetch-kernel.sh; the .deb cache in build/vm/cache is reused;
# ITR_VM_PIN_<KEY>=ABI[=VERSION] pins a build), build the project against that
# kernel into build/vm/KEY/build (module against its headers), pack an
# initramfs, boot it once and run every scenario in it once per backend (a
# scenario skips, with the reason, what its backend cannot do). Prints the
# guest's console, one "ITR-RESULT kernel scenario backend PASS|FAIL|SKIP"
# line per cell and a summary table; exits 1 if anything failed (2 on usage errors).
#
#   --arch A         amd64 (default) or arm64: Debian's arm64 kernels of
#                    scripts/vm/kernels-arm64.conf under qemu-system-aarch64 (TCG),
#                    an arm64 userland from Debian's arm64 packages
#                    (scripts/vm/fetch-arm64.sh, mkinitramfs-arm64.sh) and the
#                    cross-built binary (--binary, else one cross build for all
#                    kernels); backends bpf and netlink (there is no arm64 module)
#   --backend B      module, bpf, netlink or all (default: all; arm64: bpf netlink)
#   --append ARGS    more kernel command line (e.g. lockdown=integrity)
#   --icount[=SHIFT] QEMU -icount shift=SHIFT,sleep=off (default SHIFT 1: 2 ns of
#                    guest time per guest instruction; "auto" adapts to the host
#                    clock): guest time no longer depends on the host's load.
#                    For benchmarks (scripts/bench.sh); one vCPU only.
#
#   --no-build       use build/vm/KEY/build/iptables-trace as it is (if any)
#   --binary PATH    put this binary in every guest instead of building
#   --timeout SECS   default per-scenario timeout (a scenario may say "# itr-timeout: N")
#   --jobs N         parallel build jobs (default: nproc)
# Environment: ITR_VM_EXTRA (host executables to add to the guest), ITR_VM_MEM (guest
# memory, default 256M), ITR_VM_DIR (default build/vm), ITR_VMTEST_BTF=kernel to generate
# vmlinux.h from the guest kernel's BTF instead of the host's, ITR_VM_SMP=N for
# N vCPUs on multi-threaded TCG (default 1, single-threaded; benchmarks only).
set -uo pipefail
# --arch picks what common.sh defaults to (kernel list, work directory).
_prev=
for _a in "$@"; do
	case $_a in --arch=*) ITR_VM_ARCH=${_a#*=} ;; esac
	[ "$_prev" = --arch ] && ITR_VM_ARCH=$_a
	_prev=$_a
done
case ${ITR_VM_ARCH:-amd64} in
amd64|x86_64) ITR_VM_ARCH=amd64 ;;
arm64|aarch64) ITR_VM_ARCH=arm64 ;;
*) echo "vmtest: unknown --arch ${ITR_VM_ARCH}: amd64 or arm64" >&2; exit 2 ;;
esac
export ITR_VM_ARCH
. "$(dirname "$0")/vm/common.sh"

usage() { sed -n '2,39p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

KERNELS=() SCENARIOS=() BACKENDS=() NO_BUILD=0 BINARY="" TIMEOUT=150 JOBS=$(nproc) APPEND= ICOUNT=
while [ $# -gt 0 ]; do
	case $1 in
	--kernel|-k) [ $# -ge 2 ] || usage
		if [ "$2" = all ]; then mapfile -t -O "${#KERNELS[@]}" KERNELS < <(vm_kernel_keys)
		else KERNELS+=("$2"); fi
		shift 2 ;;
	--kernel=*) v=${1#*=}; if [ "$v" = all ]; then mapfile -t -O "${#KERNELS[@]}" KERNELS < <(vm_kernel_keys); else KERNELS+=("$v"); fi; shift ;;
	--scenario|-s) [ $# -ge 2 ] || usage; SCENARIOS+=("$2"); shift 2 ;;
	--scenario=*) SCENARIOS+=("${1#*=}"); shift ;;
	--backend|-b) [ $# -ge 2 ] || usage
		case $2 in all) BACKENDS+=(module bpf netlink) ;; module|bpf|netlink) BACKENDS+=("$2") ;;
		*) echo "vmtest: unknown backend: $2" >&2; usage ;; esac
		shift 2 ;;
	--no-build) NO_BUILD=1; shift ;;
	--binary) [ $# -ge 2 ] || usage; BINARY=$(realpath "$2"); shift 2 ;;
	--timeout) [ $# -ge 2 ] || usage; TIMEOUT=$2; shift 2 ;;
	--jobs|-j) [ $# -ge 2 ] || usage; JOBS=$2; shift 2 ;;
	--append) [ $# -ge 2 ] || usage; APPEND=$2; shift 2 ;;
	--icount) ICOUNT=1; shift ;;
	--icount=*) ICOUNT=${1#*=}; shift ;;
	--arch) [ $# -ge 2 ] || usage; shift 2 ;;   # read above
	--arch=*) shift ;;
	-h|--help) usage ;;
	*) echo "vmtest: unknown argument: $1" >&2; usage ;;
	esac
done
[ ${#KERNELS[@]} -gt 0 ] || mapfile -t KERNELS < <(vm_kernel_keys)
if [ "$ITR_VM_ARCH" = arm64 ]; then
	# "all" means every backend that can run there.
	[ ${#BACKENDS[@]} -gt 0 ] || BACKENDS=(bpf netlink)
	mapfile -t BACKENDS < <(printf '%s\n' "${BACKENDS[@]}" | grep -vx module)
	[ ${#BACKENDS[@]} -gt 0 ] || vm_die "--arch arm64: no module backend there (the module is x86-64 only, README: arm64)"
	[ -z "$ICOUNT" ] || vm_die "--icount: amd64 guests only"
fi
[ ${#BACKENDS[@]} -gt 0 ] || BACKENDS=(module bpf netlink)
mapfile -t BACKENDS < <(printf '%s\n' "${BACKENDS[@]}" | awk '!seen[$0]++')
for k in "${KERNELS[@]}"; do vm_kernel_conf "$k"; done   # dies on an unknown key
if [ ${#SCENARIOS[@]} -eq 0 ]; then
	for f in "$ITR_REPO"/tests/vm/*.sh; do
		[ -f "$f" ] && [ "$(basename "$f")" != lib.sh ] && SCENARIOS+=("$f")
	done
fi
[ ${#SCENARIOS[@]} -gt 0 ] || vm_die "no scenarios (tests/vm/*.sh)"
for i in "${!SCENARIOS[@]}"; do
	[ -f "${SCENARIOS[$i]}" ] || vm_die "no such scenario: ${SCENARIOS[$i]}"
	SCENARIOS[$i]=$(realpath "${SCENARIOS[$i]}")
done
[ -z "$BINARY" ] || [ -x "$BINARY" ] || vm_die "--binary $BINARY is not executable"

# Guest budget: boot and set-up margin plus every scenario's own timeout
# (an arm64 guest boots slower under TCG).
GUEST_TMO=120
[ "$ITR_VM_ARCH" = arm64 ] && GUEST_TMO=300
for s in "${SCENARIOS[@]}"; do
	t=$(sed -n 's/^# *itr-timeout: *\([0-9][0-9]*\).*/\1/p' "$s" | head -n 1)
	GUEST_TMO=$((GUEST_TMO + (${t:-$TIMEOUT} + 5) * ${#BACKENDS[@]}))
done

# The scenario names as the guest reports them (mkinitramfs de-duplicates the same way).
declare -A SEEN=()
NAMES=()
for s in "${SCENARIOS[@]}"; do
	n=$(basename "$s" .sh) b=$(basename "$s" .sh) i=2
	while [ -n "${SEEN[$n]:-}" ]; do n=$b-$i; i=$((i + 1)); done
	SEEN[$n]=1
	NAMES+=("$n")
done

SUMMARY=()   # "kernel|backend|scenario|result|reason"
TIMES=()     # "kernel|fetch|build|guest"
USED=()      # "kernel|packages": the exact builds the run used
ANY_FAIL=0
now() { date +%s; }

fail_all() { # fail_all KERNEL REASON
	local n b
	for n in "${NAMES[@]}"; do
		for b in "${BACKENDS[@]}"; do SUMMARY+=("$1|$b|$n|FAIL|$2"); echo "ITR-RESULT $1 $n $b FAIL $2"; done
	done
	ANY_FAIL=1
}

# arm64: one cross build serves every kernel (CO-RE; no module to build).
if [ "$ITR_VM_ARCH" = arm64 ] && [ -z "$BINARY" ] && [ "$NO_BUILD" -eq 0 ]; then
	XB=$ITR_VM_DIR/build
	cargs=(-S "$ITR_REPO" -B "$XB" -DCMAKE_TOOLCHAIN_FILE="$ITR_REPO/scripts/cmake/aarch64-linux-gnu.cmake" -DITR_BUILD_TESTS=OFF)
	command -v ccache >/dev/null && { export CCACHE_BASEDIR=$ITR_REPO; cargs+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache); }
	mkdir -p "$ITR_VM_DIR"
	echo "vmtest: cross-building for arm64 in $XB"
	if ! { cmake "${cargs[@]}" > "$ITR_VM_DIR/build.log" 2>&1 && cmake --build "$XB" -j "$JOBS" >> "$ITR_VM_DIR/build.log" 2>&1; }; then
		tail -n 40 "$ITR_VM_DIR/build.log"
		vm_die "the arm64 cross build failed (see $ITR_VM_DIR/build.log; scripts/deps.sh --arm64 installs what it needs)"
	fi
	BINARY=$XB/iptables-trace
elif [ "$ITR_VM_ARCH" = arm64 ] && [ -z "$BINARY" ]; then
	[ -x "$ITR_VM_DIR/build/iptables-trace" ] && BINARY=$ITR_VM_DIR/build/iptables-trace
fi
FETCH=fetch-kernel.sh MKINITRAMFS=mkinitramfs.sh
[ "$ITR_VM_ARCH" = arm64 ] && FETCH=fetch-arm64.sh MKINITRAMFS=mkinitramfs-arm64.sh

for K in "${KERNELS[@]}"; do
	echo "===================== kernel $K ($ITR_VM_ARCH) ====================="
	OUT=$ITR_VM_DIR/$K
	t0=$(now)
	if ! "$ITR_VM_SCRIPTS/$FETCH" "$K"; then
		fail_all "$K" "kernel packages could not be fetched"
		TIMES+=("$K|$(( $(now) - t0 ))|-|-")
		continue
	fi
	# shellcheck disable=SC1091
	. "$OUT/env"
	USED+=("$K|$KPKGS")
	t1=$(now)

	BIN=
	if [ -n "$BINARY" ]; then
		BIN=$BINARY
	elif [ "$NO_BUILD" -eq 1 ]; then
		[ -x "$OUT/build/iptables-trace" ] && BIN=$OUT/build/iptables-trace
	else
		BTF=/sys/kernel/btf/vmlinux
		if [ "${ITR_VMTEST_BTF:-host}" = kernel ] || [ ! -r "$BTF" ]; then BTF=$VMLINUX; fi
		cargs=(-S "$ITR_REPO" -B "$OUT/build" -DITR_KERNEL_BUILD="$KDIR"
		       -DITR_KMOD_MAKE_ARGS="$KMAKE_ARGS" -DITR_BUILD_TESTS=OFF -DITR_VMLINUX_BTF="$BTF")
		# Paths relative to the repository: the builds for each kernel (same
		# depth) share their cached objects. NOHASHDIR: with -g ccache also
		# hashes the build directory (it lands in the debug info), which
		# differs per kernel: every object missed and each kernel's build
		# took 5-6 minutes of CI; the debug info then names the first one.
		command -v ccache >/dev/null && { export CCACHE_BASEDIR=$ITR_REPO CCACHE_NOHASHDIR=1; cargs+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache); }
		echo "vmtest: building for $K ($KREL) in $OUT/build"
		if ! { cmake "${cargs[@]}" > "$OUT/build.log" 2>&1 &&
		       cmake --build "$OUT/build" -j "$JOBS" >> "$OUT/build.log" 2>&1; }; then
			tail -n 40 "$OUT/build.log"
			fail_all "$K" "build failed (see $OUT/build.log)"
			TIMES+=("$K|$((t1 - t0))|$(( $(now) - t1 ))|-")
			continue
		fi
		[ -x "$OUT/build/iptables-trace" ] && BIN=$OUT/build/iptables-trace
	fi
	[ -n "$BIN" ] || echo "vmtest: no iptables-trace binary for $K: scenarios that need it will SKIP"
	t2=$(now)

	INITRD=$OUT/initramfs.cpio.gz
	margs=("$K" -o "$INITRD" --timeout "$TIMEOUT" --backends "${BACKENDS[*]}")
	[ -n "$BIN" ] && margs+=(--binary "$BIN")
	# ITR_VM_EXTRA: more host executables (with their libraries) for the
	# guest, e.g. /usr/bin/perf for bench/vm/profile.sh (amd64 guests: the
	# host's executables are x86-64)
	if [ "$ITR_VM_ARCH" = amd64 ]; then
		for x in ${ITR_VM_EXTRA:-}; do margs+=(--extra "$x"); done
	fi
	if ! "$ITR_VM_SCRIPTS/$MKINITRAMFS" "${margs[@]}" "${SCENARIOS[@]}"; then
		fail_all "$K" "initramfs could not be packed"
		TIMES+=("$K|$((t1 - t0))|$((t2 - t1))|-")
		continue
	fi

	LOG=$OUT/console.log
	gargs=(--timeout "$GUEST_TMO" --log "$LOG" --append "$APPEND")
	[ -n "$ICOUNT" ] && gargs+=(--icount "$ICOUNT")
	[ -n "${ITR_VM_MEM:-}" ] && gargs+=(--mem "$ITR_VM_MEM")   # e.g. 1G with ITR_VM_EXTRA=/usr/bin/perf
	"$ITR_VM_SCRIPTS/run-guest.sh" "$K" "$INITRD" "${gargs[@]}"
	qrc=$?
	t3=$(now)
	TIMES+=("$K|$((t1 - t0))|$((t2 - t1))|$((t3 - t2))")

	why="no result"
	grep -q 'Kernel panic' "$LOG" && why="no result: kernel panic ($(grep -m1 'Kernel panic' "$LOG" | sed 's/^\[[^]]*\] *//'))"
	[ "$qrc" -eq 124 ] && why="no result: guest hung, killed after ${GUEST_TMO}s"
	grep -q "^ITR-DONE $K" "$LOG" || [ "$qrc" -eq 124 ] || grep -q 'Kernel panic' "$LOG" ||
		why="no result: guest ended early (QEMU exit $qrc)"
	for n in "${NAMES[@]}"; do
	for b in "${BACKENDS[@]}"; do
		line=$(grep -a -m1 "^ITR-RESULT $K $n $b " "$LOG")
		if [ -z "$line" ]; then
			SUMMARY+=("$K|$b|$n|FAIL|$why")
			echo "ITR-RESULT $K $n $b FAIL $why"
			ANY_FAIL=1
			continue
		fi
		rest=${line#"ITR-RESULT $K $n $b "}
		res=${rest%% *}
		reason=${rest#"$res"}
		reason=${reason# }
		case $res in PASS|SKIP) ;; *) res=FAIL; ANY_FAIL=1 ;; esac
		SUMMARY+=("$K|$b|$n|$res|$reason")
	done
	done
done

echo
echo "===================== vmtest summary ====================="
printf '%-6s %-8s %-28s %-5s %s\n' KERNEL BACKEND SCENARIO RESULT DETAIL
declare -A COUNT=()
for r in "${SUMMARY[@]}"; do
	IFS='|' read -r k b n res reason <<< "$r"
	printf '%-6s %-8s %-28s %-5s %s\n' "$k" "$b" "$n" "$res" "$reason"
	COUNT[$res]=$(( ${COUNT[$res]:-0} + 1 ))
done
echo
echo "cells are kernel x backend x scenario"
echo "vmtest: ${COUNT[PASS]:-0} passed, ${COUNT[FAIL]:-0} failed, ${COUNT[SKIP]:-0} skipped"
echo
printf '%-6s %8s %8s %8s\n' KERNEL FETCH_S BUILD_S GUEST_S
for r in "${TIMES[@]}"; do
	IFS='|' read -r k a b c <<< "$r"
	printf '%-6s %8s %8s %8s\n' "$k" "$a" "$b" "$c"
done
echo
echo "kernel packages used:"
for r in "${USED[@]}"; do printf '  %-6s %s\n' "${r%%|*}" "${r#*|}"; done
if [ "$ANY_FAIL" -ne 0 ]; then echo "vmtest: FAILED"; exit 1; fi
echo "vmtest: OK"
exit 0
