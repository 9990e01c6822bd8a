#!/bin/sh
# Scenario 22: how the bpf backend follows ipt_do_table / ip6t_do_table and
# nft_do_chain.
#  - fentry/fexit where the kernel has BTF for them (6.1, 6.12: module BTF
#    of ip_tables, ip6_tables), kprobes where it has none (5.10: no module
#    BTF); -v and --check say which, and why.
#  - Either way the same table lines for the same packets, checked against
#    the iptables counters; ITR_TABLE_PROBES=kprobes forces the kprobes on a
#    kernel that allows both, and an unknown value is one error line.
#  - "# perf:" lines: UDP send time per datagram, no tracer / fentry /
#    kprobes, a filter that matches nothing and one that matches (rough,
#    TCG, one boot; not asserted).
# itr-timeout: 300
. "${ITR_LIB:-${0%/*}/lib.sh}"
[ "$ITR_BACKEND" = bpf ] || skip "the bpf backend's choice of table probes (the $ITR_BACKEND backend has its own)"
need_tracer

modprobe ip_tables 2>/dev/null; modprobe ip6_tables 2>/dev/null; modprobe nf_tables 2>/dev/null
ip -6 addr show dev lo | grep -q "::1/128" || fail "no ::1 on lo: the IPv6 half cannot run"
if kernel_before 5 11; then
	WANT='table calls via kprobes: no BTF for ipt_do_table'
	MECH=kprobes
else
	WANT='table calls via fentry/fexit \(ipt_do_table in ip_tables BTF, ip6t_do_table in ip6_tables BTF, nft_do_chain in nf_tables BTF\)'
	MECH=fentry
fi
# What the start-up ends with: --check attaches nothing, so it can only
# predict. On arm64 before 6.4 (ftrace direct calls, which let a trampoline
# reach a module function, came to arm64 in 6.4) the attach is refused
# (ENOTSUPP, seen on Debian's 6.1 arm64; 6.12 attaches) and the backend
# falls back to kprobes, saying so.
RUN_WANT=$WANT RUN_MECH=$MECH
if [ $MECH = fentry ] && [ "$(uname -m)" = aarch64 ] && kernel_before 6 4; then
	RUN_WANT='table calls via kprobes: fentry refused: attaching fentry_'
	RUN_MECH=kprobes
fi
log "expected: $WANT; at start-up: $RUN_WANT"

iptables-trace --check --backend bpf > check.out 2>&1
cat check.out
assert_match check.out "^bpf: $WANT" "--check names the mechanism"
if [ $MECH = fentry ]; then
	for p in fentry_ipt_do_table fexit_ipt_do_table fentry_ip6t_do_table fexit_ip6t_do_table \
		fentry_nft_do_chain fexit_nft_do_chain; do
		assert_match check.out "^  ok +$p \(" "--check: $p verified"
	done
	assert_match check.out '^  skip +kprobe_ipt_do_table_all ' "--check: kprobe table programs not loaded"
	assert_match check.out '^  skip +kprobe_nft_do_chain ' "--check: kprobe chain programs not loaded"
else
	assert_match check.out '^  ok +kprobe_ipt_do_table_all \(' "--check: kprobe_ipt_do_table_all verified"
	assert_match check.out '^  ok +kprobe_nft_do_chain \(' "--check: kprobe_nft_do_chain verified"
	assert_match check.out '^  skip +fentry_ipt_do_table ' "--check: fentry programs not loaded"
	assert_match check.out '^  skip +fentry_nft_do_chain ' "--check: fentry chain programs not loaded"
fi

iptables-legacy -A INPUT -p udp --dport 7777 -j ACCEPT
ip6tables-legacy -A INPUT -p udp --dport 7777 -j ACCEPT

# traced OUT: 3 IPv4 + 3 IPv6 datagrams to 7777 under a tracer started with
# "-v -P 7777", counters checked against the trace.
traced() {
	tracer_start "$1" -v --proto udp -P 7777
	a0=$(ipt_rule_pkts filter INPUT 1); b0=$(ipt_rule_pkts -6 filter INPUT 1)
	itr-net udp 127.0.0.1 7777 40101 3
	itr-net udp ::1 7777 40102 3
	a1=$(ipt_rule_pkts filter INPUT 1); b1=$(ipt_rule_pkts -6 filter INPUT 1)
	wait_lines "$1" "$(table_re PF_INET6 filter INPUT ACCEPT)" 3 15
	settle
	tracer_stop INT
	assert_eq "$TRACER_RC" 0 "tracer exit status ($1)"
	show_file "$1"
	show_file "$1.err"
	assert_eq "$((a1 - a0))" 3 "IPv4 INPUT rule counter ($1)"
	assert_eq "$((b1 - b0))" 3 "IPv6 INPUT rule counter ($1)"
	assert_count "$1" "U:127\\.0\\.0\\.1:40101->127\\.0\\.0\\.1:7777 .*$(table_re PF_INET filter INPUT ACCEPT)" 3 "IPv4 filter INPUT lines ($1)"
	assert_count "$1" "U:\\[?::1\\]?:40102->\\[?::1\\]?:7777 .*$(table_re PF_INET6 filter INPUT ACCEPT)" 3 "IPv6 filter INPUT lines ($1)"
	costs_positive "$1" 'U:'
	assert_clean "after $1"
}

traced trace
assert_match trace.err "bpf: $RUN_WANT" "-v names the mechanism"
if [ $RUN_MECH = fentry ]; then
	# a call the kernel skipped (the program already running on that CPU)
	# is counted in the summary, not silently missing
	assert_match trace.err 'trampoline_recursion_misses=[0-9]+' "the summary counts skipped trampoline calls"
fi

if [ $RUN_MECH = fentry ]; then
	export ITR_TABLE_PROBES=kprobes
	traced trace-kp
	unset ITR_TABLE_PROBES
	assert_match trace-kp.err 'bpf: table calls via kprobes: ITR_TABLE_PROBES=kprobes' "-v names the forced kprobes"
fi

# -H of one family: the other family's table function is not followed at
# all (no programs, no trampolines or probes to attach and remove).
tracer_start v4only -v -H 127.0.0.1 --proto udp -P 7777
itr-net udp 127.0.0.1 7777 40110 2
wait_lines v4only "U:127\\.0\\.0\\.1:40110->127\\.0\\.0\\.1:7777 .*$(table_re PF_INET filter INPUT ACCEPT)" 2 15 ||
	{ show_file v4only; fail "IPv4 lines with -H 127.0.0.1"; }
tracer_stop INT
assert_eq "$TRACER_RC" 0 "tracer exit status (-H 127.0.0.1)"
assert_match v4only.err 'bpf: ip6t_do_table not followed: -H takes IPv4 packets only' "-v says which function is left out"
assert_no_match v4only.err '(fentry|kprobe)_ip6t_do_table' "no ip6t program loaded"
assert_clean "after -H 127.0.0.1"

ITR_TABLE_PROBES=bogus iptables-trace -P 7777 > bad.out 2> bad.err; rc=$?
cat bad.err
assert_eq "$rc" 1 "exit status with ITR_TABLE_PROBES=bogus"
assert_match bad.err 'ITR_TABLE_PROBES=bogus: unknown value' "one clear error line"
assert_clean "after the bad value"

# Rough per-datagram cost, interleaved rounds in this boot.
N=20000
perf_round() { # perf_round LABEL PORT [TRACER-ENV]
	if [ "$1" != none ]; then
		env ${3:-} iptables-trace --ready-file "$ITR_WORK/.pr" --proto udp -P "$2" > perf.out 2> perf.err &
		_p=$!
		itr-net wait-file "$ITR_WORK/.pr" 60 > /dev/null || fail "perf tracer not ready"
	fi
	_r=$(itr-net udp-timed 127.0.0.1 7777 40200 $N)
	if [ "$1" != none ]; then
		kill -INT $_p; wait $_p; rm -f "$ITR_WORK/.pr"
	fi
	echo "$_r" | awk -v l="$1" -v port="$2" '{ printf "# perf: %-20s %6.0f ns/datagram\n", l " -P " port, $4 / $2 }'
}
if [ $RUN_MECH = fentry ]; then
	for r in 1 2; do
		perf_round none 0
		perf_round fentry 9 ITR_TABLE_PROBES=auto
		perf_round kprobes 9 ITR_TABLE_PROBES=kprobes
		perf_round fentry 7777 ITR_TABLE_PROBES=auto
		perf_round kprobes 7777 ITR_TABLE_PROBES=kprobes
	done
fi
assert_clean "at the end"
