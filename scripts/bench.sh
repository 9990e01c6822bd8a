#!/bin/bash
# Runs the benchmarks that can run on this machine and prints one table.
# Benchmarks, not tests: nothing here passes or fails on a figure.
#
#   scripts/bench.sh [--build DIR] [--no-vm] [--vm-only] [--kernel K]... [--quick]
#                    [--no-icount | --icount SHIFT] [--binary PATH]
#
#   --build DIR   build tree to use (default build); the bench targets are built in it (-j2)
#   --no-vm       skip the per-packet VM benchmark (bench/vm/table.sh through scripts/vmtest.sh)
#   --vm-only     only the VM benchmark
#   --kernel K    kernel for the VM benchmark (default 6.1; repeat for more, one boot each)
#   --icount S    QEMU -icount shift=S,sleep=off for the VM (default 1); --no-icount: plain TCG
#   --binary P    iptables-trace for the guests (default: vmtest builds one per kernel)
#   --quick       shorter runs (for a smoke check of the harness)
#
# What runs:
#   itr_bench           user-space event path on one core (always)
#   itr_perf_bench      BPF raw tracepoint -> perf buffer -> real reader (root)
#   netlink_flood.sh    netlink backend under a bounded veth flood (root)
#   bench/vm/clock.sh   how the guest's clocks behave (in QEMU)
#   bench/vm/table.sh   every backend and the kernel's anchors, per packet, start-up,
#                       teardown, legacy and iptables-nft rulesets (in QEMU, one boot)
# The VM run honours ITR_VM_DIR / ITR_VM_CACHE (see scripts/vmtest.sh), ITR_BENCH_ROUNDS,
# ITR_BENCH_PKTS, ITR_BENCH_RULESETS, ITR_BENCH_BACKENDS, ITR_BENCH_NOTEXT (guest knobs,
# bench/vm/table.sh), ITR_VM_LOCK (flock file, default
# /tmp/itr-vm.lock) and ITR_BENCH_KEEP=PREFIX (keep the console logs as PREFIX-K.log).
# bench/vm/perf.sh and bench/vm/startup.sh remain for focused runs (scripts/vmtest.sh).
# Figures and how to read them: BENCHMARKS.md.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$REPO/build VM=1 HOST=1 KERNELS=() QUICK=0 ICOUNT=1 BINARY=
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$(realpath "$2"); shift 2 ;;
	--no-vm) VM=0; shift ;;
	--vm-only) HOST=0; shift ;;
	--kernel) KERNELS+=("$2"); shift 2 ;;
	--icount) ICOUNT=$2; shift 2 ;;
	--no-icount) ICOUNT=; shift ;;
	--binary) BINARY=$(realpath "$2"); shift 2 ;;
	--quick) QUICK=1; shift ;;
	-h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench: unknown argument: $1" >&2; exit 2 ;;
	esac
done

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
ROWS=()   # "section|what|figure"
row() { ROWS+=("$1|$2|$3"); }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

if [ $HOST = 1 ]; then
	echo "bench: building the benchmark targets in $BUILD (-j2)"
	if [ ! -f "$BUILD/CMakeCache.txt" ]; then
		cmake -S "$REPO" -B "$BUILD" > "$T/cmake.log" 2>&1 || { cat "$T/cmake.log"; exit 1; }
	fi
	cmake --build "$BUILD" -j2 --target itr_bench itr_perf_bench iptables-trace itr_netlink_probe > "$T/build.log" 2>&1 ||
		{ tail -n 30 "$T/build.log"; echo "bench: build failed (is libbenchmark-dev installed? scripts/deps.sh)"; exit 1; }

	
	# --- 1. user-space event path --------------------------------------------------------
	echo "bench: itr_bench"
	min_time=1; reps=5
	[ $QUICK = 1 ] && { min_time=0.2; reps=3; }
	taskset -c 0 "$BUILD/itr_bench" --benchmark_min_time=$min_time --benchmark_repetitions=$reps \
		--benchmark_report_aggregates_only=true --benchmark_format=json 2>/dev/null > "$T/micro.json"
	while IFS='|' read -r name ips; do
		row "event path (1 core, median of $reps)" "$name" "$(awk -v v="$ips" 'BEGIN { if (v >= 1e6) printf "%.2f M events/s", v / 1e6; else printf "%.0f k events/s", v / 1e3 }')"
	done < <(python3 -c '
	import json, sys
	for b in json.load(open(sys.argv[1]))["benchmarks"]:
	    if b.get("aggregate_name") == "median":
	        print(b["run_name"] + "|" + str(b.get("items_per_second", 0)))' "$T/micro.json")

	# --- 2. real perf buffer consumer ---------------------------------------------------
	if [ "$(id -u)" = 0 ]; then
		echo "bench: itr_perf_bench"
		secs=3; [ $QUICK = 1 ] && secs=1
		for pages in 64 1024; do
			for rate in 10000 100000 max; do
				l=$("$BUILD/itr_perf_bench" --rate $rate --pages $pages --seconds $secs) || continue
				echo "  $l"
				get() { echo "$l" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
				row "perf buffer -> reader -> columns" "rate $rate, -B $pages" \
					"$(get consumed_per_s)/s consumed, lost $(get lost) ($(get lost_pct)%), reader CPU $(get consumer_cpu_pct)%"
			done
		done
	else
		row "perf buffer -> reader -> columns" "-" "skipped: needs root"
	fi

	# --- 3. netlink backend ----------------------------------------------------------------
	if [ "$(id -u)" = 0 ]; then
		echo "bench: netlink flood"
		n=100000; [ $QUICK = 1 ] && n=20000
		sh "$REPO/bench/netlink_flood.sh" "$BUILD" $n > "$T/nl.log" 2>&1
		sed 's/^/  /' "$T/nl.log"
		while read -r _ l; do
			get() { echo "$l" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
			row "netlink backend flood" "$(get run), $(get sent) datagrams at $(get flood_pps)/s" \
				"$(get records_read) of $(get expected) read ($(get read_per_s)/s), lost $(get lost), overruns $(get overruns)"
		done < <(grep '^netlink run=' "$T/nl.log")
		grep -q '^netlink SKIP' "$T/nl.log" && row "netlink backend flood" "-" "$(grep -m1 '^netlink SKIP' "$T/nl.log")"
	else
		row "netlink backend flood" "-" "skipped: needs root"
	fi
fi

# --- 4. per packet, start-up, teardown in the VM ------------------------------------------
# One boot per kernel: bench/vm/clock.sh (guest clocks) and bench/vm/table.sh (every
# backend and the kernel's own anchors, legacy and iptables-nft rulesets), under QEMU
# -icount unless --no-icount: guest time is then a count of guest instructions, which
# the host's load cannot move. The table is printed after the summary.
VMTABLES=()
if [ $VM = 1 ]; then
	[ ${#KERNELS[@]} -gt 0 ] || KERNELS=(6.1)
	vmargs=(--backend module --jobs 2 --scenario "$REPO/bench/vm/clock.sh" --scenario "$REPO/bench/vm/table.sh")
	[ -n "$ICOUNT" ] && vmargs+=(--icount="$ICOUNT")
	[ -n "$BINARY" ] && vmargs+=(--binary "$BINARY")
	knobs="ITR_BENCH_ROUNDS=${ITR_BENCH_ROUNDS:-2} ITR_BENCH_PKTS=${ITR_BENCH_PKTS:-3000}"
	[ $QUICK = 1 ] && knobs="ITR_BENCH_ROUNDS=1 ITR_BENCH_PKTS=500"
	[ -n "${ITR_BENCH_RULESETS:-}" ] && knobs="$knobs ITR_BENCH_RULESETS=\"$ITR_BENCH_RULESETS\""
	[ -n "${ITR_BENCH_BACKENDS:-}" ] && knobs="$knobs ITR_BENCH_BACKENDS=\"$ITR_BENCH_BACKENDS\""
	[ -n "${ITR_BENCH_NOTEXT:-}" ] && knobs="$knobs ITR_BENCH_NOTEXT=$ITR_BENCH_NOTEXT"
	for K in "${KERNELS[@]}"; do
		echo "bench: VM ($K, QEMU TCG${ICOUNT:+ -icount shift=$ICOUNT,sleep=off}) bench/vm/clock.sh, bench/vm/table.sh"
		# one QEMU at a time on a shared machine: ITR_VM_LOCK (default /tmp/itr-vm.lock)
		flock "${ITR_VM_LOCK:-/tmp/itr-vm.lock}" "$REPO/scripts/vmtest.sh" --kernel "$K" "${vmargs[@]}" \
			--append "$knobs" > "$T/vm-$K.log" 2>&1
		grep -a 'ITR-RESULT\|vm_clock\|vm_tbl_done' "$T/vm-$K.log" | sed 's/^/  /'
		[ -n "${ITR_BENCH_KEEP:-}" ] && cp "$T/vm-$K.log" "$ITR_BENCH_KEEP-$K.log"
		c=$(grep -a 'ITR-BENCH vm_clock' "$T/vm-$K.log" | tail -n 1)
		get() { echo "$c" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
		if [ -n "$c" ]; then
			row "VM $K clocks (icount ${ICOUNT:-off})" "sleep 1 / timeout 1 / 20000-step loop" \
				"$(get sleep_ms) / $(get timeout_ms) / $(get loop_ms) ms guest; the boot: $(get uptime_s) s guest uptime at this point, $(awk -v k="$K" '$1 == k && NF == 4 && $4 ~ /^[0-9]+$/ { print $4 }' "$T/vm-$K.log" | tail -n 1) s of host time in all"
		fi
		if grep -aq 'ITR-BENCH vm_tbl_batch' "$T/vm-$K.log"; then
			python3 "$REPO/bench/vm/table.py" "$T/vm-$K.log" "VM $K" > "$T/table-$K.txt"
			VMTABLES+=("$T/table-$K.txt")
			row "VM $K per packet" "-" "see the table below"
		else
			row "VM $K per packet" "-" "no result (see: scripts/vmtest.sh --kernel $K --backend module --icount --scenario bench/vm/table.sh)"
			tail -n 20 "$T/vm-$K.log"
		fi
	done
fi

echo
echo "===================== benchmarks ====================="
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), kernel $(uname -r)"
echo "load average at start: $LOAD0; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ $VM = 1 ] && echo "VM figures: QEMU TCG (emulated CPU)${ICOUNT:+, -icount shift=$ICOUNT (guest time = 2^$ICOUNT ns per guest instruction)}: compare the ratios only"
printf '%-42s %-44s %s\n' SECTION BENCHMARK FIGURE
for r in "${ROWS[@]}"; do
	IFS='|' read -r a b c <<< "$r"
	printf '%-42s %-44s %s\n' "$a" "$b" "$c"
done
for f in "${VMTABLES[@]}"; do echo; cat "$f"; done
