#!/bin/sh
# The test bed itself, without the tracer: namespaces joined by a veth,
# iptables-legacy and ip6tables-legacy counters as the oracle, itr-net traffic.
. "${ITR_LIB:-${0%/*}/lib.sh}"

netns_pair a b
IPT_NS=b
in_ns b iptables-legacy -A INPUT -p icmp -j ACCEPT
in_ns b iptables-legacy -A INPUT -p tcp --dport 8080 -j ACCEPT
in_ns b iptables-legacy -A INPUT -p udp --dport 5353 -j DROP
in_ns b iptables-legacy -P INPUT DROP
in_ns b ip6tables-legacy -A INPUT -p ipv6-icmp -j ACCEPT

ipt_snapshot filter INPUT before
in_ns a itr-net ping "$NS2_V4" 4242 3 2 || fail "ping across the veth"
ipt_snapshot filter INPUT after
assert_eq "$(ipt_moved before after | tr '\n' ' ')" "1 " "rules moved by 3 pings"
assert_eq "$(ipt_rule_pkts filter INPUT 1)" 3 "ICMP rule packets"

in_ns b itr-net tcp-serve "$NS2_V4" 8080 10 &
srv=$!
sleep 0.3
in_ns a itr-net tcp "$NS2_V4" 8080 40000 5 >/dev/null || fail "tcp connect"
wait $srv || fail "tcp server"
assert_ge "$(ipt_rule_pkts filter INPUT 2)" 3 "TCP rule packets"

in_ns a itr-net udp "$NS2_V4" 5353 40001 2 || fail "udp send"
assert_eq "$(ipt_rule_pkts filter INPUT 3)" 2 "UDP DROP rule packets"

ipt_snapshot filter INPUT before
in_ns a itr-net udp "$NS2_V4" 9 40002 1
ipt_snapshot filter INPUT after
assert_eq "$(ipt_moved before after | tr '\n' ' ')" "policy " "policy counter for an unmatched packet"

in_ns a itr-net ping "$NS2_V6" 77 2 2 || fail "ping6 across the veth"
assert_ge "$(ipt_rule_pkts -6 filter INPUT 1)" 2 "ICMPv6 rule packets"
assert_eq "$(netns_inode b)" "$(in_ns b stat -L -c %i /proc/self/ns/net)" "netns inode"
log "harness OK on $(uname -r)"
