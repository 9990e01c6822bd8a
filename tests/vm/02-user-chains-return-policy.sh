#!/bin/sh
# Scenario 2: a DROP in a user-defined chain reached by a jump from INPUT; a
# RETURN from another user chain; a policy DROP. The trace tells rule, return
# and policy apart; the table line says DROP (ACCEPT for the packet a later rule accepts).
# itr-timeout: 150
. "${ITR_LIB:-${0%/*}/lib.sh}"
need_tracer

netns_pair a b
IPT_NS=b
in_ns b iptables-legacy -N itr-ret
in_ns b iptables-legacy -A itr-ret -p tcp -j ACCEPT
in_ns b iptables-legacy -N itr-drop
in_ns b iptables-legacy -A itr-drop -s "$NS1_V4" -j DROP
in_ns b iptables-legacy -A INPUT -j itr-ret
in_ns b iptables-legacy -A INPUT -p icmp --icmp-type echo-request -j itr-drop
in_ns b iptables-legacy -A INPUT -p udp --dport 7000 -j ACCEPT
in_ns b iptables-legacy -P INPUT DROP

snap() { for c in INPUT itr-ret itr-drop; do ipt_snapshot filter $c "$1.$c"; done; }
check() { # check TAG PKT_ERE
	for c in INPUT itr-ret itr-drop; do oracle_check trace "$2" filter $c "$1.$c" "$1-after.$c"; done
}
tracer_start trace -N "$(netns_inode b)"

ICMP='I_request:10\.99\.0\.1->10\.99\.0\.2 '
snap p1; in_ns a itr-net ping "$NS2_V4" 4242 1 1 >/dev/null && fail "ping should be dropped"; snap p1-after
UDPX='U:10\.99\.0\.1:40001->10\.99\.0\.2:7001 '
snap p2; in_ns a itr-net udp "$NS2_V4" 7001 40001; sleep 0.5; snap p2-after
UDPA='U:10\.99\.0\.1:40002->10\.99\.0\.2:7000 '
snap p3; in_ns a itr-net udp "$NS2_V4" 7000 40002; sleep 0.5; snap p3-after
wait_lines trace "$UDPA.*$DONE_RE" 1 15
settle
tracer_stop
assert_eq "$TRACER_RC" 0 "tracer exit status"
show_file trace

check p1 "$ICMP"; check p2 "$UDPX"; check p3 "$UDPA"
H='ipttrace=\[pf=PF_INET in=veth0 out= '
# ICMP echo: INPUT 1 (jump) -> itr-ret returns -> INPUT 2 (jump) -> itr-drop 1 DROP.
assert_count trace "$ICMP.*$H$(rule_re filter INPUT 1 1)" 1 "ICMP: jump to itr-ret"
assert_count trace "$ICMP.*$H$(rule_re filter itr-ret 1 return)" 1 "ICMP: return from itr-ret"
assert_count trace "$ICMP.*$H$(rule_re filter INPUT 1 2)" 1 "ICMP: jump to itr-drop"
assert_count trace "$ICMP.*$H$(rule_re filter itr-drop 1 1)" 1 "ICMP: DROP rule in itr-drop"
assert_table trace "$ICMP.*$(table_re PF_INET filter INPUT DROP)" 1 "ICMP: table verdict DROP"
[ "$(line_no trace "$ICMP.*chain=itr-ret .*rulenum=return")" -lt "$(line_no trace "$ICMP.*chain=itr-drop ")" ] ||
	fail "ICMP: the return from itr-ret must come before the DROP in itr-drop"
# UDP 7001: INPUT 1 -> return -> policy DROP.
assert_count trace "$UDPX.*$H$(rule_re filter itr-ret 1 return)" 1 "UDP 7001: return from itr-ret"
assert_count trace "$UDPX.*$H$(rule_re filter INPUT 1 policy)" 1 "UDP 7001: policy of INPUT"
assert_table trace "$UDPX.*$(table_re PF_INET filter INPUT DROP)" 1 "UDP 7001: table verdict DROP"
assert_no_match trace "$UDPX.*chain=itr-drop" "UDP 7001 never enters itr-drop"
# UDP 7000: INPUT 1 -> return -> INPUT 3 ACCEPT.
assert_count trace "$UDPA.*$H$(rule_re filter INPUT 1 3)" 1 "UDP 7000: INPUT rule 3"
assert_table trace "$UDPA.*$(table_re PF_INET filter INPUT ACCEPT)" 1 "UDP 7000: table verdict ACCEPT"
assert_no_match trace "$UDPA.*rulenum=policy" "UDP 7000: no policy hit"
costs_positive trace 'iptables='
assert_clean "after SIGINT"
