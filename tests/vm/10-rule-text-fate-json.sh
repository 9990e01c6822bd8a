#!/bin/sh
# Scenario 10: the answer to "which rule dropped it?". Rule text on every
# ipttrace line, exactly as iptables-save prints it in the packet's own netns;
# a policy says policy; a rule inserted while tracing does not shift later
# answers; --fate and --drops-only state the deciding rule; --json lines parse
# and agree with the iptables counters. Oracles: iptables-legacy-save and
# the counters of iptables -nvxL.
# itr-timeout: 240
. "${ITR_LIB:-${0%/*}/lib.sh}"
needs table-verdicts
need_tracer

netns_pair a b
IPT_NS=b
in_ns b iptables-legacy -N itr-drop
in_ns b iptables-legacy -A itr-drop -s "$NS1_V4" -p icmp -m comment --comment 'no "pings" from a' -j DROP
in_ns b iptables-legacy -A INPUT -p icmp -j itr-drop
in_ns b iptables-legacy -A INPUT -p udp -m multiport --dports 7000,7005 -j ACCEPT
in_ns b iptables-legacy -P INPUT DROP
# In a, the sender's own OUTPUT: read from a, not from b.
in_ns a iptables-legacy -A OUTPUT -p udp --dport 7000 -m comment --comment ns-a-out -j ACCEPT

# save_line NS CHAIN N: the N-th "-A CHAIN" line of filter in NS, as iptables-save prints it
save_line() { in_ns "$1" iptables-legacy-save -t filter | grep -E -- "^-A $2 " | sed -n "$3p"; }
# col_text TEXT: TEXT as the column output quotes it (backslash and double quote escaped)
col_text() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
has_fixed() { # has_fixed FILE STRING WHAT
	grep -qF -- "$2" "$1" || { show_file "$1"; fail "$3: no line contains: $2"; }
}

DROP_RULE=$(save_line b itr-drop 1)
UDP_RULE=$(save_line b INPUT 2)
A_RULE=$(save_line a OUTPUT 1)
case $DROP_RULE in *'pings'*) ;; *) fail "iptables-save did not give the commented rule: '$DROP_RULE'" ;; esac
ICMP='I_request:10\.99\.0\.1->10\.99\.0\.2 '
UDPX='U:10\.99\.0\.1:40001->10\.99\.0\.2:7001 '

# --- 1. rule text and --fate, with -N ------------------------------------------------
tracer_start trace -N "$(netns_inode b)" --fate
in_ns a itr-net ping "$NS2_V4" 4243 1 1 >/dev/null && fail "ping should be dropped"
in_ns a itr-net udp "$NS2_V4" 7001 40001
wait_lines trace "$UDPX.*fate=" 1 15 || true
settle
tracer_stop
assert_eq "$TRACER_RC" 0 "tracer exit status (fate)"
show_file trace
has_fixed trace "rulenum=1] rule=\"$(col_text "$DROP_RULE")\"" "DROP in a user chain shows its exact text"
has_fixed trace "fate=[DROP by filter/itr-drop rule 1: $DROP_RULE]" "fate of the ping"
has_fixed trace 'chain=INPUT hook=1 rulenum=policy] rule="policy DROP"' "policy DROP says policy"
has_fixed trace "fate=[DROP by filter/INPUT policy DROP]" "fate of UDP 7001"
assert_count trace "$ICMP.*fate=\[" 1 "one fate line for the ping's one table call"
assert_no_match trace 'rule\?=' "no answer is marked stale without a change"

# --- 2. a rule inserted at the top while tracing --------------------------------------
tracer_start trace2 -N "$(netns_inode b)" --proto udp
ipt_snapshot filter INPUT s1
in_ns a itr-net udp "$NS2_V4" 7000 40002
UDP1='U:10\.99\.0\.1:40002->10\.99\.0\.2:7000 '
wait_lines trace2 "$UDP1.*iptables=" 1 15 || fail "no trace for the first UDP 7000 datagram"
ipt_snapshot filter INPUT s2
cat s1 s2
in_ns b iptables-legacy -I INPUT 1 -p tcp --dport 1 -m comment --comment inserted -j ACCEPT
ipt_snapshot filter INPUT s2b
in_ns a itr-net udp "$NS2_V4" 7000 40003
UDP2='U:10\.99\.0\.1:40003->10\.99\.0\.2:7000 '
wait_lines trace2 "$UDP2.*iptables=" 1 15 || fail "no trace for the second UDP 7000 datagram"
ipt_snapshot filter INPUT s3
cat s2b s3
settle
tracer_stop
assert_eq "$TRACER_RC" 0 "tracer exit status (insert)"
show_file trace2
oracle_check trace2 "$UDP1" filter INPUT s1 s2
oracle_check trace2 "$UDP2" filter INPUT s2b s3
UDP_RULE_NOW=$(save_line b INPUT 3)
assert_eq "$UDP_RULE_NOW" "$UDP_RULE" "the UDP rule moved to number 3"
grep -E -- "$UDP1" trace2 | grep -qF "rulenum=2] rule=\"$(col_text "$UDP_RULE")\"" ||
	fail "before the insert: rule 2 with its text"
grep -E -- "$UDP2" trace2 | grep -qF "rulenum=3] rule=\"$(col_text "$UDP_RULE")\"" ||
	fail "after the insert: rule 3 with the same text (not the inserted rule's)"
grep -E -- "$UDP2" trace2 | grep -qF 'inserted' && fail "after the insert: the inserted rule's text was given"

# --- 3. rule text read from each packet's own netns (no -N) ---------------------------
tracer_start trace3 -H "$NS2_V4" -P 7000 --proto udp
in_ns a itr-net udp "$NS2_V4" 7000 40004
UDP3='U:10\.99\.0\.1:40004->10\.99\.0\.2:7000 '
wait_lines trace3 "$UDP3.*chain=INPUT" 1 15 || true
settle
tracer_stop
show_file trace3
grep -E -- "$UDP3" trace3 | grep -F "chain=OUTPUT" | grep -qF "rule=\"$(col_text "$A_RULE")\"" ||
	fail "netns a: its OUTPUT rule text, read from a"
grep -E -- "$UDP3" trace3 | grep -F "chain=INPUT" | grep -qF "rule=\"$(col_text "$UDP_RULE")\"" ||
	fail "netns b: its INPUT rule text, read from b"

# --- 4. --drops-only --------------------------------------------------------------------
tracer_start trace4 -N "$(netns_inode b)" --drops-only
in_ns a itr-net ping "$NS2_V4" 4244 2 1 >/dev/null
in_ns a itr-net udp "$NS2_V4" 7000 40005 2
wait_lines trace4 'fate=' 2 15 || true
settle
tracer_stop
assert_eq "$TRACER_RC" 0 "tracer exit status (drops-only)"
show_file trace4
assert_count trace4 "I_request:10\.99\.0\.1->10\.99\.0\.2 .*fate=\[DROP by filter/itr-drop rule 1: " 2 "two dropped pings"
assert_no_match trace4 'ipttrace=|iptables=' "--drops-only prints no per-rule or per-table lines"
assert_no_match trace4 'fate=\[ACCEPT' "--drops-only prints no accepted packet"

# --- 5. --json: every line parses; fields agree with the counters ------------------------
if ! command -v jq >/dev/null 2>&1; then
	echo "SKIP part 5: jq is not in the guest"
	assert_clean "end"
	exit 0
fi
ipt_snapshot filter INPUT j1
ipt_snapshot filter itr-drop j1d
tracer_start trace5 -N "$(netns_inode b)" --json --fate
in_ns a itr-net udp "$NS2_V4" 7005 40006 3
in_ns a itr-net ping "$NS2_V4" 4245 1 1 >/dev/null
wait_lines trace5 '"kind":"fate"' 4 15 || true
settle
tracer_stop
assert_eq "$TRACER_RC" 0 "tracer exit status (json)"
ipt_snapshot filter INPUT j2
ipt_snapshot filter itr-drop j2d
show_file trace5
n=$(wc -l < trace5)
jq -c . trace5 > trace5.parsed 2> jq.err || { show_file jq.err; fail "--json output does not parse"; }
assert_eq "$(wc -l < trace5.parsed)" "$n" "one JSON value per line"
moved() { # moved OLD NEW RULE: counter delta
	echo $(( $(awk -v r="$3" '$1 == r { print $2 }' "$2") - $(awk -v r="$3" '$1 == r { print $2 }' "$1") ))
}
udp_moved=$(moved j1 j2 3)
json_udp=$(jq -r 'select(.kind == "rule" and .dport == 7005 and .chain == "INPUT") | "\(.rulenum) \(.rule_kind) \(.rule)"' trace5 | sort | uniq -c)
assert_eq "$(echo $json_udp)" "$udp_moved 3 rule $UDP_RULE" "JSON rule events for UDP 7005 vs the counter of INPUT rule 3"
drop_moved=$(moved j1d j2d 1)
json_drop=$(jq -r 'select(.kind == "fate" and .dropped and .proto == "icmp") | "\(.table)/\(.chain) \(.rulenum) \(.verdict) \(.rule)"' trace5 | sort | uniq -c)
assert_eq "$(echo $json_drop)" "$drop_moved filter/itr-drop 1 DROP $DROP_RULE" "JSON fate of the ping vs the counter of itr-drop rule 1"
acc=$(jq -r 'select(.kind == "fate" and .dport == 7005) | "\(.verdict) \(.dropped) \(.decided) \(.icmp)"' trace5 | sort | uniq -c)
assert_eq "$(echo $acc)" "3 ACCEPT false true null" "JSON fates of the UDP datagrams"
jq -s -e '[.[] | select(.kind == "table")] | length > 0 and (map(.cost_ns > 0 and .verdict_raw != null and .chain == null) | all)' trace5 >/dev/null ||
	fail "JSON table events: cost, verdict, null chain"
assert_clean "end"
