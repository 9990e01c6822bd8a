#!/bin/sh
# Scenario 1: IPv4 ICMP through filter INPUT/OUTPUT ACCEPT rules. Each ipttrace
# line names the table, chain, hook and rule number whose counter moved; each
# filter iptables= line says ACCEPT with a cost above zero.
# itr-timeout: 150
. "${ITR_LIB:-${0%/*}/lib.sh}"
need_tracer

iptables-legacy -A INPUT -p udp -j ACCEPT
iptables-legacy -A INPUT -p icmp -j ACCEPT
iptables-legacy -A OUTPUT -p icmp --icmp-type echo-request -j ACCEPT
iptables-legacy -A OUTPUT -p icmp -j ACCEPT

tracer_start trace --proto icmp
ipt_snapshot filter INPUT in0; ipt_snapshot filter OUTPUT out0
itr-net ping 127.0.0.1 4242 1 2 || fail "ping 127.0.0.1"
ipt_snapshot filter INPUT in1; ipt_snapshot filter OUTPUT out1
wait_lines trace 'I_reply:127\.0\.0\.1->127\.0\.0\.1 .*table=filter (chain=INPUT )?hook=(INPUT|1)' 1 15
settle
tracer_stop INT
assert_eq "$TRACER_RC" 0 "tracer exit status after SIGINT"
show_file trace

head -n 1 trace | grep -q '^TIME' || fail "first line is not the column header"
REQ='I_request:127\.0\.0\.1->127\.0\.0\.1 '
REP='I_reply:127\.0\.0\.1->127\.0\.0\.1 '
# The oracle: exactly the rules whose counters moved.
oracle_check trace 'I_(request|reply):127\.0\.0\.1' filter INPUT in0 in1
oracle_check trace 'I_(request|reply):127\.0\.0\.1' filter OUTPUT out0 out1
# And the exact lines: request matches OUTPUT rule 1, reply OUTPUT rule 2, both INPUT rule 2.
assert_count trace "$REQ.*ipttrace=\[pf=PF_INET in= out=lo $(rule_re filter OUTPUT 3 1)" 1 "request, filter OUTPUT rule 1"
assert_count trace "$REP.*ipttrace=\[pf=PF_INET in= out=lo $(rule_re filter OUTPUT 3 2)" 1 "reply, filter OUTPUT rule 2"
assert_count trace "$REQ.*ipttrace=\[pf=PF_INET in=lo out= $(rule_re filter INPUT 1 2)" 1 "request, filter INPUT rule 2"
assert_count trace "$REP.*ipttrace=\[pf=PF_INET in=lo out= $(rule_re filter INPUT 1 2)" 1 "reply, filter INPUT rule 2"
for p in "$REQ" "$REP"; do
	assert_table trace "$p.*$(table_re PF_INET filter OUTPUT ACCEPT)" 1 "filter OUTPUT table line"
	assert_table trace "$p.*$(table_re PF_INET filter INPUT ACCEPT)" 1 "filter INPUT table line"
done
assert_no_match trace 'rulenum=(policy|return)' "no policy or return hit"
costs_positive trace 'I_(request|reply)'
# The packet columns: 84-byte ICMP echo (20 + 64), netns of the host.
assert_match trace "\[$(netns_inode)\] .* lo +.* 84 +${REQ}"
assert_clean "after SIGINT"
