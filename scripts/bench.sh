#!/bin/bash
# Runs the benchmarks that can run on this machine and prints one table.
# Benchmarks, not tests: nothing here passes or fails on a figure.
#
#   scripts/bench.sh [--build DIR] [--no-vm] [--kernel K] [--quick]
#
#   --build DIR   build tree to use (default build); the bench targets are built in it (-j2)
#   --no-vm       skip the per-packet VM benchmark (bench/vm/perf.sh through scripts/vmtest.sh)
#   --kernel K    kernel for the VM benchmark (default 6.1)
#   --quick       shorter runs (for a smoke check of the harness)
#
# What runs:
#   itr_bench           user-space event path on one core (always)
#   itr_perf_bench      BPF raw tracepoint -> perf buffer -> real reader (root)
#   netlink_flood.sh    netlink backend under a bounded veth flood (root)
#   bench/vm/perf.sh    module backend per-packet cost, start-up, teardown in QEMU
#   bench/vm/startup.sh where the start-up time goes, step by step, in QEMU
# The VM run honours ITR_VM_DIR / ITR_VM_CACHE (see scripts/vmtest.sh).
# Figures and how to read them: BENCHMARKS.md.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$REPO/build VM=1 KERNEL=6.1 QUICK=0
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$(realpath "$2"); shift 2 ;;
	--no-vm) VM=0; shift ;;
	--kernel) KERNEL=$2; shift 2 ;;
	--quick) QUICK=1; shift ;;
	-h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench: unknown argument: $1" >&2; exit 2 ;;
	esac
done

ROWS=()   # "section|what|figure"
row() { ROWS+=("$1|$2|$3"); }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

echo "bench: building the benchmark targets in $BUILD (-j2)"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
	cmake -S "$REPO" -B "$BUILD" > "$T/cmake.log" 2>&1 || { cat "$T/cmake.log"; exit 1; }
fi
cmake --build "$BUILD" -j2 --target itr_bench itr_perf_bench iptables-trace itr_netlink_probe > "$T/build.log" 2>&1 ||
	{ tail -n 30 "$T/build.log"; echo "bench: build failed (is libbenchmark-dev installed? scripts/deps.sh)"; exit 1; }

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

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

# --- 4. per packet, start-up, teardown in the VM ------------------------------------------
if [ $VM = 1 ]; then
	echo "bench: VM ($KERNEL, QEMU TCG) bench/vm/perf.sh, bench/vm/startup.sh"
	"$REPO/scripts/vmtest.sh" --kernel "$KERNEL" --jobs 2 --scenario "$REPO/bench/vm/perf.sh" \
		--scenario "$REPO/bench/vm/startup.sh" > "$T/vm.log" 2>&1
	grep -a 'ITR-BENCH\|ITR-RESULT' "$T/vm.log" | sed 's/^/  /'
	s=$(grep -a 'ITR-BENCH vm_summary' "$T/vm.log" | tail -n 1)
	get() { echo "$s" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
	if [ -n "$s" ]; then
		row "VM $KERNEL per packet (TCG)" "(a) no tracer" "$(get a_ns_per_pkt) ns/pkt = 1.00"
		row "VM $KERNEL per packet (TCG)" "(b) loaded, filter does not match" "$(get b_ns_per_pkt) ns/pkt = $(get b_ratio)"
		row "VM $KERNEL per packet (TCG)" "(c) loaded, every packet traced" "$(get c_ns_per_pkt) ns/pkt = $(get c_ratio)"
		row "VM $KERNEL lifecycle (TCG)" "start -> ready file" "median $(get start_ms_median) ms, max $(get start_ms_max) ms"
		row "VM $KERNEL lifecycle (TCG)" "SIGINT -> exit" "median $(get stop_ms_median) ms, max $(get stop_ms_max) ms"
		lost=$(grep -a 'ITR-BENCH vm_stop mode=c' "$T/vm.log" | sed -n 's/.* events=\([0-9]*\) lost=\([0-9]*\).*/\1 \2/p' |
			awk '{ e += $1; l += $2 } END { if (e + l) printf "%d of %d events lost (%.0f%%)", l, e + l, 100 * l / (e + l) }')
		row "VM $KERNEL per packet (TCG)" "(c) tracer output, -B 64" "$lost"
	else
		row "VM $KERNEL per packet (TCG)" "-" "no result (see: scripts/vmtest.sh --kernel $KERNEL --scenario bench/vm/perf.sh)"
		tail -n 20 "$T/vm.log"
	fi
	s=$(grep -a 'ITR-BENCH vm_startup_summary' "$T/vm.log" | tail -n 1)
	if [ -n "$s" ]; then
		row "VM $KERNEL start-up (TCG)" "start -> ready file (-v), starts 2-6" "min $(get ready_ms_min), median $(get ready_ms_median), max $(get ready_ms_max) ms"
		grep -a 'ITR-BENCH vm_startup_median' "$T/vm.log" | grep -v walked |
			sed -n 's/.* ms=\([0-9.]*\) step="\(.*\)"/\2|\1/p' | while IFS='|' read -r step ms; do
				printf '%s\n' "$step|$ms"
			done > "$T/steps"
		while IFS='|' read -r step ms; do
			row "VM $KERNEL start-up (TCG)" "  step: ${step:0:40}" "median $ms ms"
		done < "$T/steps"
	else
		row "VM $KERNEL start-up (TCG)" "-" "no result (see: scripts/vmtest.sh --kernel $KERNEL --scenario bench/vm/startup.sh)"
	fi
fi

echo
echo "===================== benchmarks ====================="
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), kernel $(uname -r)"
echo "load average at start: $LOAD0; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ $VM = 1 ] && echo "VM figures: QEMU TCG (emulated CPU): absolute times are distorted, compare the ratios only"
printf '%-42s %-44s %s\n' SECTION BENCHMARK FIGURE
for r in "${ROWS[@]}"; do
	IFS='|' read -r a b c <<< "$r"
	printf '%-42s %-44s %s\n' "$a" "$b" "$c"
done
