#!/bin/sh
# Benchmark (not a test): where the module backend's start-up time goes, in
# one boot. Starts the tracer ITR_BENCH_STARTS times (default 6) with -v,
# each time from launch to its ready file (BPF loaded and verified, module
# in, probes attached), then SIGINT to exit; prints the total, the teardown
# and every "-v" step, one "ITR-BENCH vm_startup_step" line per step and
# start, and medians at the end. The first start also pays cold caches
# (binary, module files, BTF); it is reported but left out of the medians.
#
# QEMU runs under TCG here: guest times are those of an emulated CPU.
# Run: scripts/vmtest.sh --kernel 6.1 --scenario bench/vm/startup.sh
# itr-timeout: 600
. "${ITR_LIB:-${0%/*}/lib.sh}"
need_tracer
need_cmd itr-net
itr-net now >/dev/null 2>&1 || skip "itr-net lacks the benchmark commands (now, wait-file, kill-wait)"

STARTS=${ITR_BENCH_STARTS:-6}
bench() { echo "ITR-BENCH $*"; }
med() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "?" }'; }

: > steps; : > totals; : > stops
n=1
while [ $n -le "$STARTS" ]; do
	rm -f "$ITR_WORK/ready"
	_t0=$(itr-net now)
	iptables-trace -v --ready-file "$ITR_WORK/ready" --backend module -P 9 > trace.$n 2> err.$n &
	TRACER_PID=$!
	_t1=$(itr-net wait-file "$ITR_WORK/ready" 120) || { show_file err.$n; fail "start $n: not ready after 120 s"; }
	_ms=$(((_t1 - _t0) / 1000000))
	_ns=$(itr-net kill-wait "$TRACER_PID" 2 30) || fail "start $n: no exit within 30 s of SIGINT"
	wait "$TRACER_PID" || { show_file err.$n; fail "start $n: tracer failed"; }
	TRACER_PID=
	# launch -> main(): exec, the dynamic loader, static constructors
	_in=$(sed -n 's/^iptables-trace: start-up: ready after \([0-9]*\).*/\1/p' err.$n)
	bench "vm_startup start=$n ready_ms=$_ms stop_ms=$((_ns / 1000000)) before_main_ms=$((_ms - ${_in:-0}))"
	[ "$n" -gt 1 ] && [ -n "$_in" ] && echo "before main()|$((_ms - _in))" >> steps
	# "iptables-trace: start-up:   <step words> <ms> ms"
	sed -n 's/^iptables-trace: start-up: *\(.*\) \([0-9.]*\) ms$/\1|\2/p' err.$n | grep -v '^ready after' |
		while IFS='|' read -r step ms; do
			bench "vm_startup_step start=$n ms=$ms step=\"$step\""
			[ "$n" -gt 1 ] && echo "$step|$ms" >> steps
		done
	if [ "$n" -gt 1 ]; then
		echo "$_ms" >> totals
		echo "$((_ns / 1000000))" >> stops
	fi
	n=$((n + 1))
done
[ -s steps ] || { show_file err.1; fail "no start-up steps in the -v output"; }

# For scale: the same shell launching a tiny static program (itr-net).
: > base
i=0
while [ $i -lt 5 ]; do
	_a=$(itr-net now); _b=$(itr-net now)
	echo "$(((_b - _a) / 1000))" >> base
	i=$((i + 1))
done
bench "vm_startup_baseline exec_tiny_static_us_median=$(med < base)"

cut -d'|' -f1 steps | awk '!seen[$0]++' > step_names
while IFS= read -r step; do
	m=$(grep -F "$step|" steps | cut -d'|' -f2 | med)
	bench "vm_startup_median ms=$m step=\"$step\""
done < step_names
bench "vm_startup_summary starts=$STARTS ready_ms_min=$(sort -n totals | head -n 1) ready_ms_median=$(med < totals) ready_ms_max=$(sort -n totals | tail -n 1)" \
	"stop_ms_median=$(med < stops) (first start excluded)"
