#!/bin/sh
# Scenario 21: a TEE copy of a traced packet (issue 13 item 4).
# xt_TEE (nf_dup_ipv4/6) copies the packet inside the table call the module
# marked and sends the copy through OUTPUT and POSTROUTING right there, nested
# in that call: the copy is a new skb that inherits nf_trace=1 from the mark.
# The namespaces are made after the tracer started, so they hold no nf_tables
# marking table of ours (where one marks the flow, its packets and their
# copies carry nf_trace through nf_tables by design): the only nf_trace the
# packets get is the module's. With no administrator's TRACE rule on that flow:
#  - nothing of ours reaches the kernel log (no TRACE: line for port 7777,
#    the module's admin_passed counter does not move), while an
#    administrator's TRACE rule on another flow still logs (positive control);
#  - the tracer reports the packets (the original in mangle PREROUTING; the
#    copy, a packet of the traced flow too, in mangle OUTPUT);
#  - no copy leaves with nf_trace=1: "nft monitor trace" in that namespace,
#    with an nftables chain in POSTROUTING after every xtables table, sees no
#    packet of port 7777, but does see the administrator's TRACEd flow
#    (positive control), and the chain's counter sees every copy;
#  - the same after the tracer has stopped; no kernel warning.
# IPv4 and IPv6.
# itr-timeout: 200
. "${ITR_LIB:-${0%/*}/lib.sh}"
# The module's own marking (issue 13, items 4 and 5). The bpf and netlink
# backends mark through their nf_tables table, made in the namespaces that
# exist at start; this scenario makes its namespaces afterwards.
needs kernel-module
need_tracer
need_cmd nft
modprobe xt_TEE 2>/dev/null
[ -d /sys/module/xt_TEE ] || skip "xt_TEE is not available (scripts/vm/mkinitramfs.sh should carry it)"
[ -e /proc/sys/net/netfilter/nf_log_all_netns ] || skip "no net.netfilter.nf_log_all_netns (kernel log from a namespace)"

dmesg > dmesg0.txt
# Before the namespaces exist (see above); port 7777 is used nowhere else.
tracer_start trace -P 7777 --proto udp
if has_cap kernel-module; then
	a0=$(mod_param admin_passed)
	[ -n "$a0" ] || fail "module counters not readable"
fi

netns_pair a b
# Kernel log lines from namespace b, with loggers bound there.
LOG_ALL=$(cat /proc/sys/net/netfilter/nf_log_all_netns)
echo 1 > /proc/sys/net/netfilter/nf_log_all_netns
# Whatever the outcome: the sysctl is kernel-wide, later scenarios expect it as it was.
MON=
trap 'echo "$LOG_ALL" > /proc/sys/net/netfilter/nf_log_all_netns; [ -z "$MON" ] || kill -TERM $MON 2>/dev/null; _itr_exit' EXIT
in_ns b sh -c 'echo nf_log_ipv4 > /proc/sys/net/netfilter/nf_log/2' 2>/dev/null
in_ns b sh -c 'echo nf_log_ipv6 > /proc/sys/net/netfilter/nf_log/10' 2>/dev/null
in_ns b grep -q nf_log /proc/sys/net/netfilter/nf_log/2 || skip "no IPv4 logger can be bound in a namespace"
in_ns b grep -q nf_log /proc/sys/net/netfilter/nf_log/10 || skip "no IPv6 logger can be bound in a namespace"

# The copies go to a neighbour in b's own veth subnet (a's MAC, a drops them:
# no forwarding there). Permanent entries: no neighbour discovery.
static_neigh b 10.99.0.3 a
static_neigh b fd00:99::3 a
in_ns b iptables-legacy -t mangle -A PREROUTING -p udp --dport 7777 -j TEE --gateway 10.99.0.3 ||
	fail "iptables TEE rule"
in_ns b ip6tables-legacy -t mangle -A PREROUTING -p udp --dport 7777 -j TEE --gateway fd00:99::3 ||
	fail "ip6tables TEE rule"
in_ns b iptables-legacy -A OUTPUT -p udp -j ACCEPT
in_ns b ip6tables-legacy -A OUTPUT -p udp -j ACCEPT
# The administrator's own TRACE, on another flow: b -> a port 9998.
in_ns b iptables-legacy -t raw -A OUTPUT -p udp --dport 9998 -j TRACE
in_ns b ip6tables-legacy -t raw -A OUTPUT -p udp --dport 9998 -j TRACE
in_ns b nft -f - <<'NFT' || fail "nft ruleset"
table inet itr21 {
	chain post {
		type filter hook postrouting priority 300; policy accept;
		udp dport 7777 counter
		udp dport 9998 counter
	}
}
NFT
in_ns b nft list table inet iptables_trace >/dev/null 2>&1 && fail "b has a marking table of ours: the scenario's premise is gone"
# nft_pkts N: packets counted by rule N of that chain
nft_pkts() {
	in_ns b nft list chain inet itr21 post | grep -F 'counter packets' |
		sed -n "${1}s/.*counter packets \([0-9]*\).*/\1/p"
}
in_ns b nft monitor trace > monitor.txt 2>&1 &
MON=$!
sleep 1

in_ns a itr-net udp "$NS2_V4" 7777 40061 3
in_ns a itr-net udp "$NS2_V6" 7777 40062 3
in_ns b itr-net udp "$NS1_V4" 9998 40063 1
in_ns b itr-net udp "$NS1_V6" 9998 40064 1
V4='U:10\.99\.0\.1:40061->10\.99\.0\.2:7777 '
V6='U:\[fd00:99::1\]:40062->\[fd00:99::2\]:7777 '
wait_lines trace "$V4.*table=mangle chain=OUTPUT" 3 15 || true
wait_lines trace "$V6.*table=mangle chain=OUTPUT" 3 15 || true
settle
if has_cap kernel-module; then
	log "module counters: marked=$(mod_param marked) silenced=$(mod_param silenced) admin_passed=$(mod_param admin_passed) admin_traced=$(mod_param admin_traced) copies=$(mod_param copies)"
	a1=$(mod_param admin_passed)
fi
c_tee=$(nft_pkts 1) c_admin=$(nft_pkts 2)
log "postrouting counters while tracing: copies=$c_tee admin-flow=$c_admin"
tracer_stop
assert_eq "$TRACER_RC" 0 "tracer exit status"
show_file trace
show_file trace.err
dmesg > dmesg1.txt
awk 'FILENAME == ARGV[1] { seen[$0] = 1; next } !($0 in seen)' dmesg0.txt dmesg1.txt > dmesg-new.txt
show_file dmesg-new.txt

# After the tracer: the same traffic, nothing marked, nothing logged.
in_ns a itr-net udp "$NS2_V4" 7777 40065 2
in_ns a itr-net udp "$NS2_V6" 7777 40066 2
sleep 1
kill -TERM $MON 2>/dev/null; wait $MON 2>/dev/null; MON=
show_file monitor.txt
dmesg > dmesg2.txt
awk 'FILENAME == ARGV[1] { seen[$0] = 1; next } !($0 in seen)' dmesg1.txt dmesg2.txt > dmesg-after.txt

# The positive controls first: a failure below is then not a dead oracle.
assert_match dmesg-new.txt 'TRACE: raw:OUTPUT:policy:2 .*DPT=9998' "the administrator's TRACE rule logs (IPv4)"
assert_match dmesg-new.txt 'TRACE: raw:OUTPUT:policy:2 .*SRC=fd00:0*99:.*DPT=9998' "the administrator's TRACE rule logs (IPv6)"
assert_match monitor.txt 'dport 9998' "nft monitor trace sees the administrator's TRACEd flow in POSTROUTING"
assert_eq "$c_admin" 2 "the administrator's flow leaving b (one packet a family)"
assert_eq "$c_tee" 6 "TEE copies leaving b (3 IPv4 + 3 IPv6)"

# The tracer saw the packets.
assert_match trace "$V4.*table=mangle chain=PREROUTING" "IPv4 original traced in mangle PREROUTING"
assert_match trace "$V6.*table=mangle chain=PREROUTING" "IPv6 original traced in mangle PREROUTING"
if has_cap kernel-module; then
	# The copies are reported as packets of the traced flow (they match the filter).
	assert_match trace "$V4.*table=mangle chain=OUTPUT" "IPv4 TEE copy traced in mangle OUTPUT"
	assert_match trace "$V6.*table=mangle chain=OUTPUT" "IPv6 TEE copy traced in mangle OUTPUT"
fi
assert_no_match trace ':9998 ' "the administrator's flow is not traced by us"

# What the issue is about.
assert_no_match dmesg-new.txt 'TRACE: .*DPT=7777' "TRACE lines of our packets or their TEE copies in the kernel log"
assert_no_match monitor.txt 'dport 7777' "TEE copies leaving with nf_trace=1 (nft monitor trace in POSTROUTING)"
if has_cap kernel-module; then
	assert_eq "$a1" "$a0" "admin_passed counter (our copies taken for an administrator's trace)"
fi
assert_eq "$(nft_pkts 1)" 10 "TEE copies leaving b, tracer stopped"
assert_no_match dmesg-after.txt 'TRACE: .*DPT=7777' "TRACE lines after the tracer stopped"
assert_no_match dmesg2.txt '\] (WARNING|BUG|Oops)|Call Trace' "kernel warnings"
in_ns b nft delete table inet itr21
assert_clean "after the tracer"
