#!/bin/sh
# A host without ip6_tables (IPv6 tables not built or not loadable): the
# module backend still starts and traces IPv4. Before the fix user space
# passed ip6t_skb_arg=0 and, on 5.16+ kernels (skb in argument 1), module
# init refused it as an ABI mismatch, so the backend did not start at all.
# The guest's ip6_tables module is made unloadable for this scenario only.
# itr-timeout: 150
. "${ITR_LIB:-${0%/*}/lib.sh}"
needs kernel-module
need_tracer

MODDIR=/lib/modules/$(uname -r)
ko=$(find "$MODDIR" -name 'ip6_tables.ko' | head -n 1)
[ -n "$ko" ] || skip "ip6_tables is built in or absent: nothing to take away"
restore() {
	[ -f "$ko.away" ] && mv "$ko.away" "$ko"
	modprobe ip6_tables 2>/dev/null
	modprobe ip6table_filter 2>/dev/null
	return 0
}
trap 'restore; _itr_exit' EXIT
for m in $(awk '{ print $1 }' /proc/modules | grep -E '^(ip6table_|ip6t_)'); do rmmod "$m" 2>/dev/null; done
rmmod ip6_tables 2>/dev/null
grep -q '^ip6_tables ' /proc/modules && skip "ip6_tables is in use and cannot be unloaded here"
mv "$ko" "$ko.away"
modprobe ip6_tables 2>/dev/null && fail "ip6_tables still loads: the scenario's premise does not hold"

iptables-legacy -A INPUT -p icmp -j ACCEPT
tracer_start trace --proto icmp
itr-net ping 127.0.0.1 4545 1 2 || fail "ping 127.0.0.1"
wait_lines trace 'I_reply:127\.0\.0\.1->127\.0\.0\.1 .*iptables=\[pf=PF_INET table=filter hook=INPUT' 1 15 ||
	{ show_file trace; fail "no IPv4 table line"; }
tracer_stop INT
assert_eq "$TRACER_RC" 0 "tracer exit status"
show_file trace.err
assert_match trace "$(rule_re filter INPUT 1 1)" "the IPv4 rule line"
assert_no_match trace 'PF_INET6' "no IPv6 lines without ip6_tables"
assert_clean "after SIGINT"
