#!/bin/sh
# Benchmark (not a test): one table per kernel, in one boot, of the
# per-packet cost of every backend and of the kernel's own tracing anchors,
# relative to no tracing, on a legacy and on an iptables-nft ruleset; and
# every backend's start-up (launch -> ready file) and teardown (SIGINT ->
# exit). Meant for QEMU -icount (scripts/vmtest.sh --icount, which
# scripts/bench.sh uses): guest time is then a count of guest instructions,
# so one round is already a figure and a second round shows it repeats.
#
# Traffic: UDP datagrams (dport 7000, sport 40000) from netns a to netns b
# over a veth, timed by the sender (itr-net udp-timed, CLOCK_MONOTONIC). One
# vCPU: the softirq that runs the rules, and the tracer's reader when it is
# scheduled, are counted in the sender's time. In b, 50 non-matching
# `-s 10.0.X.0/24 -j DROP` rules in filter INPUT before rule 51, which drops
# the datagrams (its counter checks every batch); an empty raw table too in
# the legacy ruleset. Ruleset "legacy": iptables-legacy; "nft": iptables-nft.
#
# Modes (each a batch of ITR_BENCH_PKTS datagrams, every round):
#   none           nothing traced
#   B:nomatch      iptables-trace --backend B -N b -P 9999 (filter matches nothing)
#   B:all          iptables-trace --backend B -N b -P 7000, every datagram traced,
#                  lines to a file (reader included in the cost)
#   trace_syslog   (legacy) raw PREROUTING -j TRACE on the datagrams, logged by
#                  the kernel's syslog logger (nf_log_syslog / nf_log_ipv4,
#                  nf_log_all_netns=1), read from /dev/kmsg by `cat` to a file
#   trace_nolog    (legacy) the same TRACE rule with no logger bound in b: every
#                  packet marked, nothing listening (the original's marking)
#   nft_monitor    (nft) `nft monitor trace` in b, datagrams marked by an inet
#                  table (prerouting -350, udp dport 7000 meta nftrace set 1)
#   nftrace_all    (nft) that marking table on every packet, nobody listening
#   mark_nomatch   the backends' marking table alone, written by hand: inet
#                  table, prerouting and output base chains at -350, one rule
#                  `udp dport 9999 meta nftrace set 1` (no match): the
#                  nf_tables side of B:nomatch without the tracer
#   chains_only    the same two base chains with a non-matching rule that does
#                  not set nftrace (`udp dport 9999 counter`): the extra base
#                  chains without the nft_trace_enabled static key
# For the tracer modes also: its CPU time during the batch (schedstat, ns),
# its start-up and teardown times, and its own event/lost counts.
#
# Prints "ITR-BENCH vm_tbl ..." lines; scripts/bench.sh makes the table.
# Knobs (guest environment, defaults): ITR_BENCH_ROUNDS=2, ITR_BENCH_PKTS=3000,
# ITR_BENCH_RULESETS="legacy nft", ITR_BENCH_BACKENDS="module bpf netlink" (also
# bpf-kprobes: the bpf backend with ITR_TABLE_PROBES=kprobes),
# ITR_BENCH_NOTEXT=1 (also B:all_notext, B:all with --no-rule-text),
# ITR_BENCH_LEAK=1 (after the nft rounds: leave one `nft monitor trace` running
# the way bench/vm/nft-perf.sh used to, measure `none` with it and after killing it).
# Runs once per boot (with vmtest's module backend; it starts every backend itself).
# Run: scripts/vmtest.sh --kernel 6.1 --backend module --icount --scenario bench/vm/table.sh
# itr-timeout: 3000
. "${ITR_LIB:-${0%/*}/lib.sh}"
need_tracer
need_cmd itr-net
need_cmd nft
need_cmd iptables-nft
itr-net now >/dev/null 2>&1 || skip "itr-net lacks the benchmark commands (udp-timed, now, wait-file, kill-wait)"
[ "$ITR_BACKEND" = module ] || skip "runs every backend itself: once per boot, with vmtest's module backend"

ROUNDS=${ITR_BENCH_ROUNDS:-2}
PKTS=${ITR_BENCH_PKTS:-3000}
RULESETS=${ITR_BENCH_RULESETS:-legacy nft}
BACKENDS=${ITR_BENCH_BACKENDS:-module bpf netlink}
bench() { echo "ITR-BENCH $*"; }
bench "vm_tbl_conf icount=${ITR_ICOUNT:-off} kernel=$(uname -r) rounds=$ROUNDS pkts=$PKTS rulesets=\"$RULESETS\" backends=\"$BACKENDS\""

# task_ns PID: CPU time of all the threads of a process, ns (schedstat)
task_ns() {
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d\n", s }'
}

# snap FILE: "pid cpu_ns comm" of every process; top FILE1 FILE2: the three
# processes (other than the sender) that used the most CPU between the two
snap() {
	for _d in /proc/[0-9]*; do
		read -r _c _rest < "$_d/schedstat" 2>/dev/null && read -r _n < "$_d/comm" 2>/dev/null &&
			echo "${_d#/proc/} $_c $_n"
	done > "$1"
}
top3() {
	awk 'NR == FNR { c[$1] = $2; next } { d = $2 - c[$1]; if ($3 != "itr-net" && d > 0) print d, $3 "/" $1 }' "$1" "$2" |
		sort -rn | head -n 3 | awk '{ printf "%s%s=%d", (NR > 1 ? "," : ""), $2, $1 }'
}
# ticks of /proc/stat's cpu line: user nice system idle iowait irq softirq
cpustat() { awk '$1 == "cpu" { print $2 + $3, $4, $5, $8 }' /proc/stat; }

rule51() {
	if [ "$RS" = legacy ]; then IPT_NS=b ipt_rule_pkts filter INPUT 51
	else in_ns b iptables-nft -nvxL INPUT --line-numbers | awk '$1 == 51 { print $2 }'; fi
}

# send MODE: one batch, "ITR-BENCH vm_tbl_batch ..." (cpu_ns: the tracer's CPU time in it)
send() {
	_before=$(rule51)
	snap snap0
	_s0=$(cpustat)
	_c0=0; [ -n "$TRACER_PID" ] && _c0=$(task_ns "$TRACER_PID")
	_r=$(in_ns a itr-net udp-timed "$NS2_V4" 7000 40000 "$PKTS") || fail "$RS $1: udp-timed"
	_c1=0; [ -n "$TRACER_PID" ] && _c1=$(task_ns "$TRACER_PID")
	_s1=$(cpustat)
	snap snap1
	_got=$(($(rule51) - _before))
	_sent=$(echo "$_r" | awk '{ print $2 }') _ns=$(echo "$_r" | awk '{ print $4 }')
	[ "$_got" -eq "$_sent" ] || log "$RS $1: $_sent sent, $_got counted by rule 51"
	[ "$_got" -gt 0 ] || fail "$RS $1: no datagram reached rule 51"
	bench "vm_tbl_batch ruleset=$RS mode=$1 round=$ROUND pkts=$_got ns=$_ns ns_per_pkt=$((_ns / _got)) tracer_cpu_ns=$((_c1 - _c0))"
	bench "vm_tbl_cpu ruleset=$RS mode=$1 round=$ROUND ticks_user_sys_idle_softirq=$(echo "$_s0 $_s1" | awk '{ printf "%d,%d,%d,%d", $5 - $1, $6 - $2, $7 - $3, $8 - $4 }') top_ns=$(top3 snap0 snap1) procs=$(wc -l < snap1)"
}

# start MODE ARGS...: launch the tracer (stderr to MODE.err), time it to its ready file
start() {
	_m=$1; shift
	rm -f "$ITR_WORK/ready"
	_t0=$(itr-net now)
	iptables-trace --ready-file "$ITR_WORK/ready" "$@" > "$_m.trace" 2> "$_m.err" &
	TRACER_PID=$!
	_t1=$(itr-net wait-file "$ITR_WORK/ready" 120) || { show_file "$_m.err"; fail "$RS $_m: tracer not ready after 120 s"; }
	bench "vm_tbl_start ruleset=$RS mode=$_m round=$ROUND ms=$(((_t1 - _t0) / 1000000))"
	# -v: the start-up steps ("iptables-trace: start-up:   <step> <ms> ms")
	sed -n 's/^iptables-trace: start-up: *\(.*\) \([0-9.]*\) ms$/\2|\1/p' "$_m.err" | while IFS='|' read -r ms step; do
		bench "vm_tbl_step ruleset=$RS mode=$_m round=$ROUND ms=$ms step=\"$step\""
	done
}
stop() {
	_c0=$(task_ns "$TRACER_PID")
	_ns=$(itr-net kill-wait "$TRACER_PID" 2 60) || fail "$RS $1: tracer did not exit within 60 s of SIGINT"
	wait "$TRACER_PID"; _rc=$?
	TRACER_PID=
	[ "$_rc" -eq 0 ] || { show_file "$1.err"; fail "$RS $1: tracer exit status $_rc"; }
	_ev=$(sed -n 's/.*iptables-trace: events \([0-9]*\), lost \([0-9]*\).*/\1 \2/p' "$1.err" | tail -n 1)
	bench "vm_tbl_stop ruleset=$RS mode=$1 round=$ROUND ms=$((_ns / 1000000)) events=${_ev% *} lost=${_ev#* } lines=$(wc -l < "$1.trace")"
	bench "vm_tbl_summary ruleset=$RS mode=$1 round=$ROUND text=\"$(grep -i 'events' "$1.err" | tail -n 2 | tr '\n"' ' _')\""
}

# nft_table NAME RULE: an inet table with the backends' two base chains at -350
nft_table() {
	in_ns b nft -f - <<NFT || fail "$RS: nft table $1"
table inet $1 {
	chain prerouting { type filter hook prerouting priority -350; policy accept; $2; }
	chain output { type filter hook output priority -350; policy accept; $2; }
}
NFT
}

ruleset() {
	ip -all netns delete 2>/dev/null
	netns_pair a b
	if [ "$RS" = legacy ]; then
		ipt=iptables-legacy
		in_ns b iptables-legacy -t raw -nL >/dev/null
	else
		ipt=iptables-nft
	fi
	i=0
	while [ $i -lt 50 ]; do
		in_ns b $ipt -A INPUT -s "10.0.$i.0/24" -j DROP || fail "$RS: adding rule $i"
		i=$((i + 1))
	done
	in_ns b $ipt -A INPUT -p udp --dport 7000 -j DROP   # rule 51
	[ "$(rule51)" = 0 ] || fail "$RS: rule 51 not found"
}

one_round() {
	bench "vm_tbl_state ruleset=$RS round=$ROUND procs=$(ls -d /proc/[0-9]* | wc -l) nft_tables_b=$(in_ns b nft list tables | wc -l) nft_tables_init=$(nft list tables | wc -l) $(grep -E '^(nf_tables|nfnetlink) ' /proc/modules | awk '{ printf "%s_users=%s ", $1, $3 }')"
	send none
	for be in $BACKENDS; do
		# "bpf-kprobes": the bpf backend with ITR_TABLE_PROBES=kprobes (its
		# kprobes beside its fentry/fexit, in the same boot)
		case $be in
		bpf-kprobes) export ITR_TABLE_PROBES=kprobes; set -- bpf ;;
		*) unset ITR_TABLE_PROBES; set -- "$be" ;;
		esac
		start "$be:nomatch" -v --backend "$1" -N "$(netns_inode b)" -P 9999
		send "$be:nomatch"
		stop "$be:nomatch"
		start "$be:all" --backend "$1" -N "$(netns_inode b)" -P 7000
		send "$be:all"
		settle 1   # let the reader drain
		stop "$be:all"
		if [ "${ITR_BENCH_NOTEXT:-0}" = 1 ]; then
			# the same without rule text: what reading and checking the
			# rulesets costs a traced packet
			start "$be:all_notext" --backend "$1" -N "$(netns_inode b)" -P 7000 --no-rule-text
			send "$be:all_notext"
			settle 1
			stop "$be:all_notext"
		fi
	done
	unset ITR_TABLE_PROBES
	if [ "$RS" = legacy ]; then
		# kernel TRACE + syslog, read from /dev/kmsg
		in_ns b iptables-legacy -t raw -A PREROUTING -p udp --dport 7000 -j TRACE || fail "TRACE rule"
		_lg=$(in_ns b cat /proc/sys/net/netfilter/nf_log/2)
		for _l in nf_log_syslog nf_log_ipv4; do
			[ "$_lg" = NONE ] || break
			in_ns b sh -c "echo $_l > /proc/sys/net/netfilter/nf_log/2" 2>/dev/null
			_lg=$(in_ns b cat /proc/sys/net/netfilter/nf_log/2)
		done
		_all=$(cat /proc/sys/net/netfilter/nf_log_all_netns)
		echo 1 > /proc/sys/net/netfilter/nf_log_all_netns
		cat /dev/kmsg > kmsg.out &
		_kp=$!
		settle 1
		send trace_syslog
		settle 1
		kill "$_kp"; wait "$_kp" 2>/dev/null
		bench "vm_tbl_anchor ruleset=$RS mode=trace_syslog round=$ROUND logger=$_lg lines=$(grep -c 'TRACE: ' kmsg.out)"
		echo "$_all" > /proc/sys/net/netfilter/nf_log_all_netns
		# the same rule, no logger bound in b
		in_ns b sh -c 'echo NONE > /proc/sys/net/netfilter/nf_log/2'
		send trace_nolog
		in_ns b sh -c "echo $_lg > /proc/sys/net/netfilter/nf_log/2"
		in_ns b iptables-legacy -t raw -D PREROUTING -p udp --dport 7000 -j TRACE
	else
		nft_table itr_bench_mark "udp dport 7000 meta nftrace set 1"
		# not through in_ns (a function: $! would be a subshell, and TERM
		# would leave nft running; lib.sh makes ip a function too):
		# /usr/sbin/ip netns exec execs nft in place
		/usr/sbin/ip netns exec b nft monitor trace > m.out 2>&1 &
		_mp=$!
		settle 1
		send nft_monitor
		settle 1
		# TERM: a background job of a non-interactive shell ignores SIGINT.
		kill "$_mp" 2>/dev/null; wait "$_mp" 2>/dev/null
		kill -0 "$_mp" 2>/dev/null && fail "nft monitor trace survived TERM"
		bench "vm_tbl_anchor ruleset=$RS mode=nft_monitor round=$ROUND lines=$(wc -l < m.out)"
		send nftrace_all
		in_ns b nft delete table inet itr_bench_mark
	fi
	nft_table itr_bench_mark "udp dport 9999 meta nftrace set 1"
	send mark_nomatch
	in_ns b nft delete table inet itr_bench_mark
	nft_table itr_bench_mark "udp dport 9999 counter"
	send chains_only
	in_ns b nft delete table inet itr_bench_mark
}

for RS in $RULESETS; do
	case $RS in legacy|nft) ;; *) fail "ITR_BENCH_RULESETS: unknown ruleset $RS" ;; esac
	ruleset
	ROUND=0
	send warmup > /dev/null
	ROUND=1
	while [ $ROUND -le "$ROUNDS" ]; do
		log "$RS: round $ROUND of $ROUNDS, $PKTS datagrams per batch"
		one_round
		ROUND=$((ROUND + 1))
	done
	if [ "$RS" = nft ] && [ "${ITR_BENCH_LEAK:-1}" = 1 ]; then
		# What bench/vm/nft-perf.sh did (BENCHMARKS.md section 6): `nft monitor
		# trace` started through in_ns and stopped with TERM to $!, the
		# subshell. Is the nft left behind what made every later mode slower?
		ROUND=leak
		nft_table itr_bench_mark "udp dport 7000 meta nftrace set 1"
		in_ns b nft monitor trace > m2.out 2>&1 &
		_mp=$!
		settle 1
		send leak_monitor
		settle 1
		kill "$_mp" 2>/dev/null; wait "$_mp" 2>/dev/null
		in_ns b nft delete table inet itr_bench_mark
		_left=$(for _d in /proc/[0-9]*; do [ "$(cat "$_d/comm" 2>/dev/null)" = nft ] && echo "${_d#/proc/}"; done)
		bench "vm_tbl_leak ruleset=$RS nft_left=\"$(echo $_left)\" m2_lines=$(wc -l < m2.out)"
		send none_after_leak
		for _p in $_left; do kill "$_p"; done
		settle 1
		send none_after_kill
	fi
	assert_clean "$RS"
done
bench "vm_tbl_done uptime_s=$(cut -d' ' -f1 /proc/uptime)"
