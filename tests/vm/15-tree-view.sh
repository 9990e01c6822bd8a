#!/bin/sh
# --tree on a real kernel: one block per packet and hook. Two pings from a
# are dropped in b by a rule in a user chain, one UDP datagram is dropped by
# INPUT's policy. Each block names exactly the rules whose counters moved
# (the oracle), in order, indented by jump depth, with iptables-save's text;
# the module backend marks the deciding rule and the verdict; the netlink
# backend, which sees no verdicts, says so. Blocks never interleave.
# itr-timeout: 150
. "${ITR_LIB:-${0%/*}/lib.sh}"
need_tracer

netns_pair a b
IPT_NS=b
in_ns b iptables-legacy -N itr-drop
in_ns b iptables-legacy -A itr-drop -s "$NS1_V4" -p icmp -j DROP
in_ns b iptables-legacy -A INPUT -p icmp -j itr-drop
in_ns b iptables-legacy -A INPUT -p udp --dport 7000 -j ACCEPT
in_ns b iptables-legacy -P INPUT DROP
J=$(in_ns b iptables-legacy-save -t filter | grep -E '^-A INPUT -p icmp')
D=$(in_ns b iptables-legacy-save -t filter | grep -E '^-A itr-drop ')
[ -n "$J" ] && [ -n "$D" ] || fail "iptables-legacy-save does not show the rules"

ipt_snapshot filter INPUT in0; ipt_snapshot filter itr-drop d0
tracer_start tree --tree -N "$(netns_inode b)" -H "$NS1_V4"
in_ns a itr-net ping "$NS2_V4" 4646 2 1 >/dev/null && fail "the pings should be dropped"
in_ns a itr-net udp "$NS2_V4" 7001 40051
sleep 1
ipt_snapshot filter INPUT in1; ipt_snapshot filter itr-drop d1
settle 1
tracer_stop INT
assert_eq "$TRACER_RC" 0 "tracer exit status"
show_file tree

# The oracle: two pings through INPUT rule 1 and itr-drop rule 1, the
# datagram through INPUT's policy.
assert_eq "$(ipt_moved in0 in1 | tr '\n' ' ')" "1 policy " "INPUT counters that moved"
assert_eq "$(ipt_moved d0 d1 | tr '\n' ' ')" "1 " "itr-drop counters that moved"

# One header per packet at INPUT; each block's lines follow its header
# (no other header in between: blocks never interleave).
assert_count tree '^[0-9:.]+ INPUT PF_INET I_request:10\.99\.0\.1->10\.99\.0\.2 ' 2 "ping blocks at INPUT"
assert_count tree '^[0-9:.]+ INPUT PF_INET U:10\.99\.0\.1:40051->10\.99\.0\.2:7001 ' 1 "datagram block at INPUT"
assert_count tree "^      rule 1: $(printf '%s' "$J" | sed 's/[].[*^$\\/]/\\&/g')\$" 2 "INPUT rule 1 with its text"
awk -v j="      rule 1: $J" -v d="        rule 1: $D" '
	/^[0-9]/ { if (blk ~ /I_request/ && !(seen_j && seen_d && order)) bad = 1; blk = $0; seen_j = seen_d = order = 0; next }
	$0 == j { seen_j = NR }
	index($0, d) == 1 { seen_d = NR; order = seen_j && seen_j < seen_d }
	END { if (blk ~ /I_request/ && !(seen_j && seen_d && order)) bad = 1; exit bad }' tree ||
	fail "a ping block lacks INPUT rule 1 followed by itr-drop rule 1, one level deeper"
assert_count tree '^      itr-drop$' 2 "the user chain entered, indented under INPUT"
assert_count tree '^      policy DROP' 1 "the datagram's policy"
if has_cap table-verdicts; then
	assert_count tree '^  filter -> DROP [0-9.]+[a-zµ]+s$' 3 "filter's verdict and cost, once per block"
	assert_count tree "^        rule 1: .*  <- DROP\$" 2 "the deciding rule marked"
	assert_count tree '^  => DROP by filter/itr-drop rule 1: ' 2 "why the pings stopped"
	assert_count tree '^  => DROP by filter/INPUT policy DROP' 1 "why the datagram stopped"
else
	assert_count tree '^  filter -> \(no verdict seen\)$' 3 "no verdicts from the $ITR_BACKEND backend"
	assert_no_match tree '<- |^  => ' "no decision is claimed without verdicts"
fi
assert_clean "after SIGINT"
