#!/bin/sh
# IPv6 extension headers in the BPF packet parser: a Hop-by-Hop header and
# fragments. ip6tables without conntrack sees every fragment on its own; only
# the first carries the UDP header. Oracle: in b's INPUT, rule 1
# "-p udp --dport 7000" counts datagrams and first fragments (xt_udp refuses
# fragments with an offset), rule 2 "-p udp" counts the other fragments.
#  - -P 7000 traces exactly rule 1's packets: the parser found the ports
#    behind the Hop-by-Hop header and behind a first fragment's header;
#  - --proto udp without a port traces rule 2's fragments too (the upper
#    layer protocol is known, the ports are not).
. "${ITR_LIB:-${0%/*}/lib.sh}"
need_tracer
need_cmd jq

netns_pair a b
IPT_NS=b
in_ns b ip6tables-legacy -A INPUT -p udp --dport 7000 -j ACCEPT
in_ns b ip6tables-legacy -A INPUT -p udp -j ACCEPT
in_ns b ip6tables-legacy -A INPUT -p ipv6-icmp -j ACCEPT

send_all() {
	in_ns a itr-net udp "$NS2_V6" 7000 40000 3 4 1 || fail "udp with Hop-by-Hop"
	in_ns a itr-net udp "$NS2_V6" 7000 40001 2 3000 || fail "udp in fragments"
	in_ns a itr-net udp "$NS2_V6" 7000 40002 2 3000 1 || fail "udp in fragments with Hop-by-Hop"
}
# json_rule_lines FILE RULENUM: JSON rule events at filter INPUT RULENUM
json_rule_lines() {
	jq -c "select(.kind == \"rule\" and .table == \"filter\" and .chain == \"INPUT\" and .rulenum == $2)" "$1"
}

# 1. -P 7000: rule 1's packets, each with its ports
r1=$(ipt_rule_pkts -6 filter INPUT 1) r2=$(ipt_rule_pkts -6 filter INPUT 2)
tracer_start t1 --json -N b --proto udp -P 7000 --no-rule-text
send_all
d1=$(($(ipt_rule_pkts -6 filter INPUT 1) - r1)) d2=$(($(ipt_rule_pkts -6 filter INPUT 2) - r2))
assert_eq "$d1" 7 "rule 1: 3 + 2 + 2 datagrams or first fragments"
assert_ge "$d2" 4 "rule 2: the other fragments"
wait_lines t1 '"rulenum":1' "$d1" 15 || { show_file t1; fail "rule 1 lines"; }
settle
tracer_stop
assert_eq "$TRACER_RC" 0 "tracer exit status"
assert_eq "$(json_rule_lines t1 1 | wc -l)" "$d1" "traced rule-1 packets (-P 7000)"
assert_eq "$(json_rule_lines t1 1 | jq -r '"\(.dport) \(.l4proto)"' | sort -u | tr '\n' ' ')" "7000 17 " "their dport and protocol"
assert_eq "$(json_rule_lines t1 2 | wc -l)" 0 "no later fragment matches a port filter"
assert_eq "$(json_rule_lines t1 1 | jq -r '.sport' | sort -u | tr '\n' ' ')" "40000 40001 40002 " "the three senders"

# 2. --proto udp: the later fragments too, without ports
r1=$(ipt_rule_pkts -6 filter INPUT 1) r2=$(ipt_rule_pkts -6 filter INPUT 2)
tracer_start t2 --json -N b --proto udp --no-rule-text
send_all
d1=$(($(ipt_rule_pkts -6 filter INPUT 1) - r1)) d2=$(($(ipt_rule_pkts -6 filter INPUT 2) - r2))
wait_lines t2 '"rulenum":2' "$d2" 15 || { show_file t2; fail "rule 2 lines"; }
settle
tracer_stop
assert_eq "$(json_rule_lines t2 1 | wc -l)" "$d1" "traced rule-1 packets (--proto udp)"
assert_eq "$(json_rule_lines t2 2 | wc -l)" "$d2" "traced rule-2 fragments"
assert_eq "$(json_rule_lines t2 2 | jq -r '"\(.l4proto) \(.dport)"' | sort -u | tr '\n' ' ')" "17 null " "fragments: UDP, no ports"
