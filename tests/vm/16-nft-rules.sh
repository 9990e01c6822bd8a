#!/bin/sh
# nf_tables rules on a real kernel, what most distributions ship: an
# iptables-nft ruleset (a user chain with a DROP, issue 11's example) and a
# native inet table (a comment, a jump, a policy drop). Each nfttrace= line
# names exactly the rules whose counters moved (iptables-nft -nvxL and nft
# counters are the oracle), with the rule's number in its chain and its
# text as iptables-nft-save / nft print it.
# itr-timeout: 150
. "${ITR_LIB:-${0%/*}/lib.sh}"
needs nft-rule-events
need_tracer
need_cmd nft
need_cmd iptables-nft

netns_pair a b
in_ns b iptables-nft -N BLOCK || skip "iptables-nft cannot write rules here (nf_tables)"
in_ns b iptables-nft -A INPUT -p icmp -j BLOCK
in_ns b iptables-nft -A BLOCK -s "$NS1_V4/32" -j DROP
in_ns b nft -f - <<'NFT' || fail "native table"
table inet itrt {
	chain sub {
		udp dport 7001 counter accept comment "let 7001 in"
	}
	chain input {
		type filter hook input priority 10; policy drop;
		meta l4proto icmp accept
		meta l4proto udp counter jump sub
	}
}
NFT
J=$(in_ns b iptables-nft-save -t filter | grep -E '^-A INPUT -p icmp')
D=$(in_ns b iptables-nft-save -t filter | grep -E '^-A BLOCK ')
[ -n "$J" ] && [ -n "$D" ] || fail "iptables-nft-save does not show the rules"
ipt_nft_pkts() { in_ns b iptables-nft -t filter -nvxL "$1" --line-numbers | awk -v n="$2" '$1 == n { print $2 }'; }
nft_counter() { in_ns b nft list chain inet itrt "$1" | grep -F -- "$2" | sed -n 's/.*counter packets \([0-9]*\).*/\1/p' | head -n 1; }

tracer_start trace -N "$(netns_inode b)" -H "$NS1_V4"
in_ns a itr-net ping "$NS2_V4" 4747 2 1 >/dev/null && fail "the pings should be dropped"
in_ns a itr-net udp "$NS2_V4" 7001 40061
in_ns a itr-net udp "$NS2_V4" 7002 40062
wait_lines trace 'U:10\.99\.0\.1:40062->10\.99\.0\.2:7002 .*chain=input rulenum=policy' 1 15 ||
	{ show_file trace; show_file trace.err; fail "no policy line for the datagram to 7002"; }
settle
tracer_stop INT
assert_eq "$TRACER_RC" 0 "tracer exit status"
show_file trace

# The oracle.
assert_eq "$(ipt_nft_pkts INPUT 1)" 2 "iptables-nft INPUT rule 1 counter"
assert_eq "$(ipt_nft_pkts BLOCK 1)" 2 "iptables-nft BLOCK rule 1 counter"
assert_eq "$(nft_counter input 'jump sub')" 2 "nft counter of the jump"
assert_eq "$(nft_counter sub 'dport 7001')" 1 "nft counter of the accept in sub"

esc() { printf '%s' "$1" | sed 's/[].[*^$\\/]/\\&/g'; }
REQ='I_request:10\.99\.0\.1->10\.99\.0\.2 '
F='nfttrace=\[family=ip table=filter'
assert_count trace "$REQ.*$F chain=INPUT rulenum=1 handle=[0-9]+ verdict=JUMP:BLOCK\] rule=\"$(esc "$J")\"\$" 2 "INPUT rule 1, its jump and text"
assert_count trace "$REQ.*$F chain=BLOCK rulenum=1 handle=[0-9]+ verdict=DROP\] rule=\"$(esc "$D")\"\$" 2 "BLOCK rule 1, its DROP and text"
assert_no_match trace "$REQ.*table=itrt" "a packet dropped in ip filter never reaches the inet table at priority 10"
N='nfttrace=\[family=inet table=itrt'
U1='U:10\.99\.0\.1:40061->10\.99\.0\.2:7001 '
U2='U:10\.99\.0\.1:40062->10\.99\.0\.2:7002 '
assert_count trace "$U1.*$N chain=input rulenum=2 handle=[0-9]+ verdict=JUMP:sub\]" 1 "7001: the jump, rule 2 of input"
assert_count trace "$U1.*$N chain=sub rulenum=1 .*verdict=ACCEPT" 1 "7001: accepted by sub rule 1"
assert_count trace "$U2.*$N chain=input rulenum=2 .*verdict=JUMP:sub\]" 1 "7002: the jump"
assert_count trace "$U2.*$N chain=sub rulenum=return" 1 "7002: the end of sub"
assert_count trace "$U2.*$N chain=input rulenum=policy .*verdict=DROP" 1 "7002: input's policy drop"
assert_match trace "$U1.*chain=sub rulenum=1 .*rule=\"udp dport 7001 counter accept comment \\\\\"let 7001 in\\\\\"\"\$" "the native rule's text as nft prints it, comment included"
assert_no_match trace 'table=iptables_trace' "our own table's events are not shown"
assert_clean "after SIGINT"
