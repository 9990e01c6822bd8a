#!/bin/sh
# Benchmark (not a test): the per-packet cost of the module backend, and
# its start-up and teardown times, in one boot.
#
# UDP datagrams from netns a to netns b over a veth; in b an empty raw table
# and a filter INPUT chain of 50 non-matching rules before the rule that
# takes the datagrams (DROP, so no ICMP error goes back): two ipt_do_table
# calls per packet. Each round sends the same batch three times:
#   a  no tracer loaded
#   b  tracer loaded, filter -P 9999 (does not match: probes + filter only)
#   c  tracer loaded, filter -P 7000 (matches: every packet traced, events
#      printed to a file)
# and times the sender (itr-net udp-timed, CLOCK_MONOTONIC). One vCPU: the
# softirq that runs the rules runs in the sender's time, and so does the
# tracer when it is scheduled in between. Medians over the rounds; the cost
# ratios are x_ns_per_pkt / a_ns_per_pkt. Start-up is the time from launching
# iptables-trace to its ready file (BPF loaded, module in, probes attached);
# teardown is SIGINT to process exit.
#
# Results are printed as "ITR-BENCH ..." lines (scripts/bench.sh reads them
# from the console log). QEMU runs under TCG here: absolute times are those
# of an emulated CPU, many times slower than hardware; only the ratios
# between modes in the same boot mean something.
#
# Run: scripts/vmtest.sh --kernel 6.1 --scenario bench/vm/perf.sh
# Knobs (environment of the guest, defaults): ITR_BENCH_ROUNDS=5, ITR_BENCH_PKTS=3000
# itr-timeout: 900
. "${ITR_LIB:-${0%/*}/lib.sh}"
need_tracer
need_cmd itr-net
itr-net now >/dev/null 2>&1 || skip "itr-net lacks the benchmark commands (udp-timed, now, wait-file, kill-wait)"

ROUNDS=${ITR_BENCH_ROUNDS:-5}
PKTS=${ITR_BENCH_PKTS:-3000}
bench() { echo "ITR-BENCH $*"; }

netns_pair a b
in_ns b iptables-legacy -t raw -nL >/dev/null   # instantiate the (empty) raw table in b
i=0
while [ $i -lt 50 ]; do
	in_ns b iptables-legacy -A INPUT -s "10.0.$i.0/24" -j DROP || fail "adding rule $i"
	i=$((i + 1))
done
in_ns b iptables-legacy -A INPUT -p udp --dport 7000 -j DROP   # rule 51
in_ns b iptables-legacy -A INPUT -j ACCEPT
assert_eq "$(in_ns b iptables-legacy -S INPUT | grep -c '^-A')" 52 "rules in b's INPUT"

# send BATCH_NAME: one batch; prints "ns_per_pkt pps" and checks that every
# datagram reached rule 51.
send() {
	_before=$(IPT_NS=b ipt_rule_pkts filter INPUT 51)
	_r=$(in_ns a itr-net udp-timed "$NS2_V4" 7000 40000 "$PKTS") || fail "udp-timed"
	_after=$(IPT_NS=b ipt_rule_pkts filter INPUT 51)
	_sent=$(echo "$_r" | awk '{ print $2 }') _ns=$(echo "$_r" | awk '{ print $4 }')
	_got=$((_after - _before))
	[ "$_got" -eq "$_sent" ] || log "$1: $_sent sent, $_got counted by rule 51"
	[ "$_got" -gt 0 ] || fail "$1: no datagram reached rule 51"
	_nspp=$((_ns / _got))
	bench "vm_batch mode=$1 round=$ROUND pkts=$_got ns=$_ns ns_per_pkt=$_nspp pps=$((_got * 1000000000 / _ns))"
	echo "$1 $_nspp" >> per_pkt
}

# cpu_ticks PID: utime + stime of a process, in clock ticks
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# start MODE ARGS...: launch the tracer, time it to its ready file
start() {
	_m=$1; shift
	rm -f ready
	_t0=$(itr-net now)
	iptables-trace --ready-file "$ITR_WORK/ready" --backend module "$@" > "$_m.trace" 2> "$_m.err" &
	TRACER_PID=$!
	_t1=$(itr-net wait-file "$ITR_WORK/ready" 120) || { show_file "$_m.err"; fail "tracer ($_m) not ready after 120 s"; }
	_ms=$(((_t1 - _t0) / 1000000))
	bench "vm_start mode=$_m round=$ROUND ms=$_ms"
	echo "$_ms" >> start_ms
}
# stop MODE: SIGINT, time to exit, loss and CPU from the tracer's summary
stop() {
	_ns=$(itr-net kill-wait "$TRACER_PID" 2 30) || fail "tracer ($1) did not exit within 30 s of SIGINT"
	wait "$TRACER_PID"; _rc=$?
	TRACER_PID=
	[ "$_rc" -eq 0 ] || { show_file "$1.err"; fail "tracer ($1) exit status $_rc"; }
	_ms=$((_ns / 1000000))
	_ev=$(sed -n 's/.*events \([0-9]*\), lost \([0-9]*\).*/\1 \2/p' "$1.err" | tail -n 1)
	bench "vm_stop mode=$1 round=$ROUND ms=$_ms events=${_ev% *} lost=${_ev#* } lines=$(wc -l < "$1.trace")"
	echo "$_ms" >> stop_ms
}

: > per_pkt; : > start_ms; : > stop_ms
ROUND=0
send warmup > /dev/null
ROUND=1
while [ $ROUND -le "$ROUNDS" ]; do
	log "round $ROUND of $ROUNDS, $PKTS datagrams per batch"
	send a
	start b -P 9999
	send b
	stop b
	start c -P 7000
	c0=$(cpu_ticks "$TRACER_PID")
	send c
	settle 1   # let the tracer drain its buffer
	c1=$(cpu_ticks "$TRACER_PID")
	bench "vm_tracer_cpu mode=c round=$ROUND ticks=$((c1 - c0)) hz=$(getconf CLK_TCK 2>/dev/null || echo 100) pkts=$PKTS"
	stop c
	ROUND=$((ROUND + 1))
done

med() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
A=$(awk '$1 == "a" { print $2 }' per_pkt | med)
B=$(awk '$1 == "b" { print $2 }' per_pkt | med)
C=$(awk '$1 == "c" { print $2 }' per_pkt | med)
bench "vm_summary rounds=$ROUNDS pkts=$PKTS a_ns_per_pkt=$A b_ns_per_pkt=$B c_ns_per_pkt=$C" \
	"b_ratio=$(awk -v x="$B" -v a="$A" 'BEGIN { printf "%.3f", x / a }')" \
	"c_ratio=$(awk -v x="$C" -v a="$A" 'BEGIN { printf "%.3f", x / a }')" \
	"start_ms_median=$(med < start_ms) start_ms_max=$(sort -n start_ms | tail -n 1)" \
	"stop_ms_median=$(med < stop_ms) stop_ms_max=$(sort -n stop_ms | tail -n 1)"
log "TCG (or KVM) distorts absolute times: compare the ratios, not the nanoseconds"
assert_clean "end"
