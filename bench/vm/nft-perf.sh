#!/bin/sh
# Benchmark (not a test): the per-packet cost of tracing an iptables-nft
# ruleset, each backend side by side with `nft monitor trace` (what an
# operator reaches for today) on the same traffic, in one boot.
#
# UDP datagrams from netns a to netns b over a veth; in b, written with
# iptables-nft, a filter INPUT chain of 50 non-matching rules before the
# rule that takes the datagrams (DROP: no ICMP error goes back). Each round
# sends the same batch:
#   a  nothing traced
#   m  `nft monitor trace` in b, the flow marked by a table of its own
#      (prerouting -350, `meta nftrace set 1` for udp dport 7000), output to
#      a file: the nf_tables way to see which rule
#   b  iptables-trace, filter -P 9999 (does not match)
#   c  iptables-trace, filter -P 7000 (every packet traced, to a file)
# and times the sender (itr-net udp-timed). Ratios x/a are what count: TCG
# stretches absolute times. The backend is the one vmtest runs the scenario
# with (--backend module|bpf|netlink); a and m repeat for each.
#
# Run: scripts/vmtest.sh --kernel 6.1 --scenario bench/vm/nft-perf.sh
# Knobs (guest environment, defaults): ITR_BENCH_ROUNDS=3, ITR_BENCH_PKTS=2000
# itr-timeout: 900
. "${ITR_LIB:-${0%/*}/lib.sh}"
need_tracer
need_cmd nft
need_cmd iptables-nft
itr-net now >/dev/null 2>&1 || skip "itr-net lacks the benchmark commands (udp-timed, now, wait-file, kill-wait)"

ROUNDS=${ITR_BENCH_ROUNDS:-3}
PKTS=${ITR_BENCH_PKTS:-2000}
bench() { echo "ITR-BENCH $*"; }

netns_pair a b
i=0
while [ $i -lt 50 ]; do
	in_ns b iptables-nft -A INPUT -s "10.0.$i.0/24" -j DROP || fail "adding rule $i"
	i=$((i + 1))
done
in_ns b iptables-nft -A INPUT -p udp --dport 7000 -j DROP   # rule 51
rule51() { in_ns b iptables-nft -nvxL INPUT --line-numbers | awk '$1 == 51 { print $2 }'; }

send() {
	_before=$(rule51)
	_r=$(in_ns a itr-net udp-timed "$NS2_V4" 7000 40000 "$PKTS") || fail "udp-timed"
	_got=$(($(rule51) - _before))
	_ns=$(echo "$_r" | awk '{ print $4 }')
	[ "$_got" -gt 0 ] || fail "$1: no datagram reached rule 51"
	_nspp=$((_ns / _got))
	bench "vm_nft_batch backend=$ITR_BACKEND mode=$1 round=$ROUND pkts=$_got ns_per_pkt=$_nspp"
	echo "$1 $_nspp" >> per_pkt
}

start() {
	_m=$1; shift
	rm -f "$ITR_WORK/ready"
	iptables-trace --ready-file "$ITR_WORK/ready" $ITR_TRACER_ARGS -N "$(netns_inode b)" "$@" > "$_m.trace" 2> "$_m.err" &
	TRACER_PID=$!
	itr-net wait-file "$ITR_WORK/ready" 120 > /dev/null || { show_file "$_m.err"; fail "tracer ($_m) not ready"; }
}
stop() {
	itr-net kill-wait "$TRACER_PID" 2 30 > /dev/null || fail "tracer ($1) did not exit within 30 s of SIGINT"
	wait "$TRACER_PID"; _rc=$?
	TRACER_PID=
	[ "$_rc" -eq 0 ] || { show_file "$1.err"; fail "tracer ($1) exit status $_rc"; }
	bench "vm_nft_stop backend=$ITR_BACKEND mode=$1 round=$ROUND lines=$(wc -l < "$1.trace")"
}

: > per_pkt
ROUND=0
send warmup > /dev/null
ROUND=1
while [ $ROUND -le "$ROUNDS" ]; do
	log "round $ROUND of $ROUNDS, $PKTS datagrams per batch ($ITR_BACKEND)"
	send a
	in_ns b nft -f - <<'NFT' || fail "marking table for nft monitor trace"
table inet itr_bench_mark {
	chain pre {
		type filter hook prerouting priority -350; policy accept;
		udp dport 7000 meta nftrace set 1
	}
}
NFT
	# Not through in_ns: that is a function, $! would be its subshell and
	# TERM would leave nft running (and, under bench/vm/table.sh's icount
	# measurement, each one left behind spent most of the vCPU and roughly
	# doubled every later batch). /usr/sbin/ip netns exec execs nft in place.
	/usr/sbin/ip netns exec b nft monitor trace > m.out 2>&1 &
	MON=$!
	sleep 1
	send m
	sleep 1
	# TERM: a background job of a non-interactive shell ignores SIGINT.
	kill $MON 2>/dev/null; wait $MON 2>/dev/null
	kill -0 $MON 2>/dev/null && fail "nft monitor trace survived TERM"
	bench "vm_nft_monitor round=$ROUND lines=$(wc -l < m.out)"
	in_ns b nft delete table inet itr_bench_mark
	start b -P 9999
	send b
	stop b
	start c -P 7000
	send c
	settle 1
	stop c
	ROUND=$((ROUND + 1))
done

med() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v x="$1" -v a="$2" 'BEGIN { printf "%.3f", x / a }'; }
A=$(awk '$1 == "a" { print $2 }' per_pkt | med)
M=$(awk '$1 == "m" { print $2 }' per_pkt | med)
B=$(awk '$1 == "b" { print $2 }' per_pkt | med)
C=$(awk '$1 == "c" { print $2 }' per_pkt | med)
bench "vm_nft_summary backend=$ITR_BACKEND rounds=$ROUNDS pkts=$PKTS a_ns=$A monitor_ns=$M b_ns=$B c_ns=$C" \
	"monitor_ratio=$(ratio "$M" "$A") b_ratio=$(ratio "$B" "$A") c_ratio=$(ratio "$C" "$A")"
assert_clean "end"
