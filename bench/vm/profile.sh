#!/bin/sh
# Profile (not a test): where a traced packet's time goes, with perf in the
# guest. The legacy ruleset of bench/vm/table.sh (UDP from netns a to b over
# a veth, 50 non-matching rules before rule 51 that drops the datagrams, an
# empty raw table), every datagram traced (-P 7000, lines to a file):
#   1. perf record of the tracer's own process (user and kernel stacks)
#   2. perf record of the whole guest (the softirq side too)
# and the top of `perf report` for each, as "# prof:" lines.
# Backends: ITR_PROF_BACKENDS (default "bpf"). Needs perf in the guest:
#   ITR_VM_EXTRA=/usr/bin/perf scripts/vmtest.sh --kernel 6.1 --backend bpf \
#       --binary build/iptables-trace --scenario bench/vm/profile.sh
# itr-timeout: 1500
. "${ITR_LIB:-${0%/*}/lib.sh}"
need_tracer
command -v perf >/dev/null || skip "no perf in the guest (ITR_VM_EXTRA=/usr/bin/perf)"
PKTS=${ITR_BENCH_PKTS:-3000}

netns_pair a b
in_ns b iptables-legacy -t raw -nL >/dev/null
i=0
while [ $i -lt 50 ]; do
	in_ns b iptables-legacy -A INPUT -s "10.0.$i.0/24" -j DROP || fail "rule $i"
	i=$((i + 1))
done
in_ns b iptables-legacy -A INPUT -p udp --dport 7000 -j DROP
echo 0 > /proc/sys/kernel/kptr_restrict 2>/dev/null
echo -1 > /proc/sys/kernel/perf_event_paranoid 2>/dev/null

report() { # report LABEL FILE
	perf report -i "$2" --stdio --no-children --sort dso,sym 2>/dev/null |
		grep -v '^#' | grep -v '^$' | grep '%' | head -n 45 | sed "s|^|# prof: $1 |"
}

# profile BACKEND TAG WHAT PERF-TARGET...: perf record over one batch, then its report
profile() {
	_be=$1 _tag=$2 _what=$3
	shift 3
	perf record -F 499 -g "$@" -o "$_be-$_tag.data" > /dev/null 2>&1 &
	_pp=$!
	sleep 1
	_r=$(in_ns a itr-net udp-timed "$NS2_V4" 7000 40000 "$PKTS")
	sleep 1
	kill -INT $_pp; wait $_pp
	echo "# prof: $_be $_what batch: $_r"
	report "$_be/$_tag" "$_be-$_tag.data"
}

for be in ${ITR_PROF_BACKENDS:-bpf}; do
	rm -f "$ITR_WORK/ready"
	iptables-trace --backend "$be" --ready-file "$ITR_WORK/ready" -N "$(netns_inode b)" -P 7000 \
		> "$be.trace" 2> "$be.err" &
	tp=$!
	itr-net wait-file "$ITR_WORK/ready" 120 > /dev/null || { show_file "$be.err"; fail "$be: not ready"; }
	in_ns a itr-net udp-timed "$NS2_V4" 7000 40000 200 > /dev/null   # warm-up
	profile "$be" proc "tracer-process" -p "$tp"
	profile "$be" all "whole-guest" -a
	kill -INT $tp; wait $tp
	tail -n 3 "$be.err" | sed "s/^/# prof: $be summary /"
done
