#!/bin/sh
# Scenario 4: IPv6 through ip6tables-legacy: ICMPv6 echo through ACCEPT rules
# (oracle: the counters), UDP into a user chain that DROPs, a policy DROP.
# itr-timeout: 150
. "${ITR_LIB:-${0%/*}/lib.sh}"
need_tracer

netns_pair a b
IPT_NS=b
in_ns b ip6tables-legacy -N itr6-drop
# A conditional DROP: the kernel's TRACE labels an unconditional standard
# verdict at a chain's tail "return" (get_chainname_rulenum), whatever it is.
in_ns b ip6tables-legacy -A itr6-drop -s "$NS1_V6" -j DROP
in_ns b ip6tables-legacy -A INPUT -p udp --dport 7000 -j itr6-drop
in_ns b ip6tables-legacy -A INPUT -p ipv6-icmp --icmpv6-type echo-request -j ACCEPT
in_ns b ip6tables-legacy -A INPUT -p ipv6-icmp -j ACCEPT
in_ns b ip6tables-legacy -A OUTPUT -p ipv6-icmp --icmpv6-type echo-reply -j ACCEPT
in_ns b ip6tables-legacy -P INPUT DROP
# Neighbour discovery first, so it does not move counters during the checks.
in_ns a itr-net ping "$NS2_V6" 1 1 2 >/dev/null || fail "ICMPv6 warm-up ping"

snap() { for c in INPUT OUTPUT itr6-drop; do ipt_snapshot -6 filter $c "$1.$c"; done; }
B=$(netns_inode b)
tracer_start trace -N "$B" --proto icmp6 --icmpid 4343
snap e0; in_ns a itr-net ping "$NS2_V6" 4343 1 2 || fail "ping6 fd00:99::2"; snap e1
REQ='I_request:fd00:99::1->fd00:99::2 '
REP='I_reply:fd00:99::2->fd00:99::1 '
wait_lines trace "$REQ.*$DONE_RE" 1 15
settle
tracer_stop
assert_eq "$TRACER_RC" 0 "tracer exit status"
show_file trace
oracle_check trace 'I_(request|reply):' filter INPUT e0.INPUT e1.INPUT
# b's own MLD reports (not traced: other ICMPv6 types) may leave by OUTPUT's policy.
ORACLE_IGNORE=policy oracle_check trace 'I_(request|reply):' filter OUTPUT e0.OUTPUT e1.OUTPUT
assert_count trace "$REQ.*ipttrace=\[pf=PF_INET6 in=veth0 out= $(rule_re filter INPUT 1 2)" 1 "echo request: INPUT rule 2"
assert_table trace "$REQ.*$(table_re PF_INET6 filter INPUT ACCEPT)" 1 "echo request: table verdict"
assert_count trace "$REP.*ipttrace=\[pf=PF_INET6 in= out=veth0 $(rule_re filter OUTPUT 3 1)" 1 "echo reply: OUTPUT rule 1"
assert_table trace "$REP.*$(table_re PF_INET6 filter OUTPUT ACCEPT)" 1 "echo reply: table verdict"
assert_no_match trace 'pf=PF_INET ' "no IPv4 lines"
costs_positive trace 'iptables='

tracer_start trace2 -N "$B" --proto udp
snap u0
in_ns a itr-net udp "$NS2_V6" 7000 40020
in_ns a itr-net udp "$NS2_V6" 7001 40021
sleep 0.5; snap u1
U1='U:\[fd00:99::1\]:40020->\[fd00:99::2\]:7000 '
U2='U:\[fd00:99::1\]:40021->\[fd00:99::2\]:7001 '
wait_lines trace2 "$U2.*$DONE_RE" 1 15
settle
tracer_stop
show_file trace2
for c in INPUT itr6-drop; do oracle_check trace2 'U:' filter $c "u0.$c" "u1.$c"; done
assert_count trace2 "$U1.*$(rule_re filter INPUT 1 1)" 1 "UDP 7000: jump"
assert_count trace2 "$U1.*$(rule_re filter itr6-drop 1 1)" 1 "UDP 7000: DROP in itr6-drop"
assert_table trace2 "$U1.*$(table_re PF_INET6 filter INPUT DROP)" 1 "UDP 7000: verdict DROP"
assert_count trace2 "$U2.*$(rule_re filter INPUT 1 policy)" 1 "UDP 7001: policy"
assert_table trace2 "$U2.*$(table_re PF_INET6 filter INPUT DROP)" 1 "UDP 7001: verdict DROP"
assert_clean "after SIGINT"
