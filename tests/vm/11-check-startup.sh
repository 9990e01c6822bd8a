#!/bin/sh
# --check on a real kernel, and where start-up takes its answers from.
#  - --check passes (module backend ready), shows the table functions'
#    argument layout from kernel BTF (or the release on 5.10, which has no
#    module BTF) and from the module's .modinfo, and fails if they differ;
#    the layout is the one of this kernel's version (skb moved to the
#    second argument in 5.16).
#  - A normal start (-v) answers its kernel questions from sysfs alone and
#    takes the layout from the module: no BTF parse, no /proc/kallsyms,
#    the two slowest steps of start-up; follows nft_do_chain by fentry/fexit
#    where nf_tables has module BTF (6.x), else places its kprobes by
#    address (5.10); and then traces correctly.
. "${ITR_LIB:-${0%/*}/lib.sh}"
needs kernel-module
need_tracer

modprobe ip_tables 2>/dev/null; modprobe ip6_tables 2>/dev/null
iptables-trace --check > check.out 2>&1; rc=$?
cat check.out
assert_eq "$rc" 0 "--check exit status"
assert_match check.out '^module backend: ready' "module backend ready"
assert_count check.out "ipt_do_table: .*\(from the module's .modinfo" 1 "ipt layout from the module"
assert_count check.out "ip6t_do_table: .*\(from the module's .modinfo" 1 "ip6t layout from the module"
assert_count check.out 'ipt_do_table: .*\(from (BTF of|kernel version)' 1 "ipt layout from BTF or the release"

major=$(uname -r | cut -d. -f1) minor=$(uname -r | cut -d. -f2)
if [ "$major" -gt 5 ] || { [ "$major" -eq 5 ] && [ "$minor" -ge 16 ]; }; then want="skb=arg1 state=arg2 table=arg0"
else want="skb=arg0 state=arg1 table=arg2"; fi
assert_count check.out "ipt_do_table: $want" 2 "ipt layout of a $major.$minor kernel, both sources"
assert_count check.out "ip6t_do_table: $want" 2 "ip6t layout of a $major.$minor kernel, both sources"

netns_pair a b
in_ns b iptables-legacy -A INPUT -p icmp -j ACCEPT
modprobe nf_tables 2>/dev/null || skip "no nf_tables module"
tracer_start tr -v -N b --proto icmp
assert_match tr.err 'start-up: +kernel facts \(sysfs(, modules\.builtin)?\) ' "kernel facts from sysfs alone"
assert_match tr.err "start-up: +signatures \(from the module's .modinfo" "layout from the module at start-up"
# (the line naming the nft_do_chain mechanism names a BTF file, tested by access())
grep -v 'nf_tables chain calls via' tr.err > tr.startup
assert_no_match tr.startup 'kallsyms|BTF' "no /proc/kallsyms read, no BTF parsed by us at start-up"
if [ -e /sys/kernel/btf/nf_tables ]; then
	# 6.x: nft_do_chain through trampolines (no probe to place)
	assert_match tr.err 'module: nf_tables chain calls via fentry/fexit \(/sys/kernel/btf/nf_tables\)' "nft_do_chain via fentry/fexit"
	assert_match tr.err 'start-up: +perf buffer \(nft_do_chain: fentry/fexit' "no nft kprobes placed"
else
	# Every probe placed by address (the module resolves them by reference):
	# no kallsyms_lookup_name() walk in the kernel either.
	assert_match tr.err 'module: nf_tables chain calls via kprobes: no /sys/kernel/btf/nf_tables' "nft_do_chain via kprobes"
	assert_match tr.err 'start-up: +nft probes \(by address\) and perf buffer' "nft probes attached by address"
fi
addr=$(cat /sys/module/iptables_trace/parameters/nft_do_chain_addr)
case $addr in ''|0|*[!0-9]*) fail "nft_do_chain_addr is '$addr', want a kernel address" ;; esac
in_ns a itr-net ping "$NS2_V4" 4711 2 2 || fail "ping"
wait_lines tr "$(rule_re filter INPUT 1 1)" 2 10 || { show_file tr; fail "two requests at filter INPUT rule 1"; }
tracer_stop
assert_eq "$TRACER_RC" 0 "tracer exit status"
