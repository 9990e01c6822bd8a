#!/bin/sh
# Scenario 20: a native inet table as nftables users write it: named sets
# (IPv4 and IPv6) in rules, an anonymous verdict map (jump, goto, drop), a
# user chain with an explicit `return` and an implicit end, a goto whose
# chain ends (back to the base chain's policy), comments and counters, a
# base chain with policy drop; UDP over IPv4 and IPv6.
# Oracles: the nft rule counters (`nft -a list`), the rule positions,
# handles and text from `nft -a -s list`, and `nft -a monitor trace` run
# beside the tracer on the same packets: per packet, the sequence of
# (chain, handle, verdict) it prints is the one of the tracer's nfttrace=
# lines. The explicit `return` is a rule line (its number, handle, text,
# verdict=RETURN) on every kernel, whether the kernel reports it as a RETURN
# with a handle (up to 6.6) or as a RULE (since 6.7); the implicit end of a
# user chain is rulenum=return.
# itr-timeout: 150
. "${ITR_LIB:-${0%/*}/lib.sh}"
needs nft-rule-events
need_tracer
need_cmd nft

netns_pair a b
# A source that is not in the set: a's 10.99.0.3, used for b's 10.99.0.4.
ip -n a addr add 10.99.0.3/32 dev veth0
ip -n b addr add 10.99.0.4/32 dev veth0
ip -n a route add 10.99.0.4/32 dev veth0 src 10.99.0.3
static_neigh a 10.99.0.4 b
static_neigh b 10.99.0.3 a

in_ns b nft -f - <<'NFT' || skip "nft cannot load a native inet table here"
table inet itr20 {
	set allowed4 {
		type ipv4_addr
		elements = { 10.99.0.1 }
	}
	set allowed6 {
		type ipv6_addr
		elements = { fd00:99::1 }
	}
	chain input {
		type filter hook input priority 10; policy drop;
		ip saddr != @allowed4 counter drop comment "v4 source not in allowed4"
		ip saddr @allowed4 counter jump screen comment "v4 source in allowed4"
		ip6 saddr @allowed6 counter jump screen comment "v6 source in allowed6"
		udp dport vmap { 7001 : jump a, 7002 : goto b, 7003 : drop }
		meta l4proto udp counter comment "on to the policy"
	}
	chain screen {
		udp dport 7005 counter return comment "explicit return"
		udp dport 7009 counter drop comment "dropped in screen"
	}
	chain a {
		udp sport 40001 counter accept comment "a accepts sport 40001"
		counter comment "a falls through"
	}
	chain b {
		counter comment "b counts, then its end"
	}
}
NFT

# The Nth rule of a chain as `nft -a -s list` prints it (rule lines are
# indented by two tabs): its handle, its text.
TAB=$(printf '\t')
listing() { in_ns b nft -a -s list chain inet itr20 "$1" | grep -E "^$TAB$TAB.* # handle [0-9]+\$"; }
handle_of() { listing "$1" | sed -n "$2s/.* # handle \([0-9]*\)\$/\1/p"; }
text_of() { listing "$1" | sed -n "$2{s/^[[:space:]]*//; s/ # handle [0-9]*\$//; p}"; }
for c in "input 5" "screen 2" "a 2" "b 1"; do
	set -- $c
	[ "$(listing "$1" | wc -l)" -eq "$2" ] || { listing "$1"; fail "chain $1 should list $2 rules"; }
done

in_ns b nft -a monitor trace > monitor.txt 2>&1 &
MON=$!
sleep 1
tracer_start trace -N "$(netns_inode b)" --proto udp
# The packets: name, then itr-net's address, port, source port.
V4=$NS2_V4 V6=$NS2_V6
in_ns a itr-net udp 10.99.0.4 7001 40000 # p0: not in allowed4: dropped by input 1
in_ns a itr-net udp "$V4" 7001 40001     # p1: screen ends, vmap jump a, a accepts
in_ns a itr-net udp "$V4" 7001 40002     # p2: ... a falls through, its end, input 5, policy
in_ns a itr-net udp "$V4" 7002 40003     # p3: vmap goto b, b's end, policy
in_ns a itr-net udp "$V4" 7003 40004     # p4: vmap drop
in_ns a itr-net udp "$V4" 7005 40005     # p5: explicit return in screen, input 5, policy
in_ns a itr-net udp "$V4" 7009 40009     # p6: dropped in screen
in_ns a itr-net udp "$V6" 7001 40001     # p7: IPv6: screen ends, vmap jump a, a accepts
in_ns a itr-net udp "$V6" 7002 40062     # p8: IPv6: vmap goto b, b's end, policy
in_ns a itr-net udp "$V6" 7005 40065     # p9: IPv6: explicit return, input 5, policy
wait_lines trace '40065->\[fd00:99::2\]:7005 .*table=itr20 chain=input rulenum=policy' 1 15 ||
	{ show_file trace; show_file trace.err; fail "no policy line for the last packet"; }
settle
tracer_stop INT
assert_eq "$TRACER_RC" 0 "tracer exit status"
sleep 0.5
kill -TERM $MON 2>/dev/null; sleep 0.3; kill -9 $MON 2>/dev/null; wait $MON 2>/dev/null
show_file trace
grep -F ' inet itr20 ' monitor.txt > monitor.itr20
show_file monitor.itr20

# ---- the oracle: counters ------------------------------------------------------
# nft_pkts CHAIN N: the packet counter of rule N
nft_pkts() { in_ns b nft -a list chain inet itr20 "$1" | grep -E "^$TAB$TAB.* # handle [0-9]+\$" |
	sed -n "$2s/.*counter packets \([0-9]*\) bytes.*/\1/p"; }
for c in "input 1 1" "input 2 6" "input 3 3" "input 5 3" "screen 1 2" "screen 2 1" "a 1 2" "a 2 1" "b 1 2"; do
	set -- $c
	assert_eq "$(nft_pkts "$1" "$2")" "$3" "nft counter of $1 rule $2"
	# Each counted packet is one rule line with that rule's handle.
	n=$(grep -cF "table=itr20 chain=$1 rulenum=$2 handle=$(handle_of "$1" "$2") verdict=" trace)
	[ "$n" = "$3" ] || { show_file trace; fail "$1 rule $2: the counter says $3 packets, the trace has $n lines"; }
done

# ---- each packet's lines, exactly ---------------------------------------------------
# A line's tail: nfttrace=[...] rule="TEXT" (TEXT escaped as the tool prints it).
esc_text() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
tail_rule() { # tail_rule CHAIN N VERDICT
	printf 'nfttrace=[family=inet table=itr20 chain=%s rulenum=%s handle=%s verdict=%s] rule="%s"' \
		"$1" "$2" "$(handle_of "$1" "$2")" "$3" "$(esc_text "$(text_of "$1" "$2")")"
}
tail_return() { printf 'nfttrace=[family=inet table=itr20 chain=%s rulenum=return verdict=RETURN] rule="return"' "$1"; }
tail_policy() { printf 'nfttrace=[family=inet table=itr20 chain=input rulenum=policy verdict=DROP] rule="policy drop"'; }
# expect PKT TAIL...: the packet's itr20 lines are exactly these tails, in order
expect() {
	_p=$1; shift
	: > want.txt
	for _t in "$@"; do printf '%s\n' "$_t" >> want.txt; done
	grep -F -- "$_p" trace | grep -F 'nfttrace=[family=inet table=itr20 ' | sed 's/.*\(nfttrace=\[\)/\1/' > got.txt
	cmp -s want.txt got.txt || { echo "--- want"; cat want.txt; echo "--- got"; cat got.txt; fail "packet $_p: its nfttrace= lines differ"; }
}
P4='U:10.99.0.1:' P6='U:[fd00:99::1]:'
D4='->10.99.0.2:' D6='->[fd00:99::2]:'
expect "U:10.99.0.3:40000->10.99.0.4:7001 " "$(tail_rule input 1 DROP)"
expect "${P4}40001${D4}7001 " "$(tail_rule input 2 JUMP:screen)" "$(tail_return screen)" \
	"$(tail_rule input 4 JUMP:a)" "$(tail_rule a 1 ACCEPT)"
expect "${P4}40002${D4}7001 " "$(tail_rule input 2 JUMP:screen)" "$(tail_return screen)" \
	"$(tail_rule input 4 JUMP:a)" "$(tail_rule a 2 CONTINUE)" "$(tail_return a)" \
	"$(tail_rule input 5 CONTINUE)" "$(tail_policy)"
expect "${P4}40003${D4}7002 " "$(tail_rule input 2 JUMP:screen)" "$(tail_return screen)" \
	"$(tail_rule input 4 GOTO:b)" "$(tail_rule b 1 CONTINUE)" "$(tail_return b)" "$(tail_policy)"
expect "${P4}40004${D4}7003 " "$(tail_rule input 2 JUMP:screen)" "$(tail_return screen)" "$(tail_rule input 4 DROP)"
expect "${P4}40005${D4}7005 " "$(tail_rule input 2 JUMP:screen)" "$(tail_rule screen 1 RETURN)" \
	"$(tail_rule input 5 CONTINUE)" "$(tail_policy)"
expect "${P4}40009${D4}7009 " "$(tail_rule input 2 JUMP:screen)" "$(tail_rule screen 2 DROP)"
expect "${P6}40001${D6}7001 " "$(tail_rule input 3 JUMP:screen)" "$(tail_return screen)" \
	"$(tail_rule input 4 JUMP:a)" "$(tail_rule a 1 ACCEPT)"
expect "${P6}40062${D6}7002 " "$(tail_rule input 3 JUMP:screen)" "$(tail_return screen)" \
	"$(tail_rule input 4 GOTO:b)" "$(tail_rule b 1 CONTINUE)" "$(tail_return b)" "$(tail_policy)"
expect "${P6}40065${D6}7005 " "$(tail_rule input 3 JUMP:screen)" "$(tail_rule screen 1 RETURN)" \
	"$(tail_rule input 5 CONTINUE)" "$(tail_policy)"
assert_count trace 'nfttrace=\[family=inet table=itr20 ' 41 "no other nfttrace= lines of itr20"
# Where the backend reports base-chain verdicts: one nft= line per packet,
# after its rule lines (p1 and p7 accepted, the rest dropped).
if has_cap nft-chains; then
	N='nft=\[family=inet table=itr20 chain=input hook=INPUT verdict'
	assert_count trace "$N=ACCEPT cost=" 2 "nft= lines: p1 and p7 accepted"
	assert_count trace "$N=DROP cost=" 8 "nft= lines: the other packets dropped"
	last=$(grep -F "U:[fd00:99::1]:40065->" trace | tail -n 1)
	case $last in
	*"nft=[family=inet table=itr20 chain=input hook=INPUT verdict=DROP cost="*) ;;
	*) fail "p9's last line is not its nft= verdict DROP: $last" ;;
	esac
else
	assert_no_match trace 'nft=\[' "the $ITR_BACKEND backend has no nft= chain verdicts"
fi
assert_no_match trace 'table=iptables_trace' "our own table's events are not shown"

# ---- nft monitor trace saw the same (chain, handle, verdict) per packet ---------------
# Both sides become "KEY CHAIN HANDLE VERDICT" lines, KEY = saddr/sport/dport.
# A chain's implicit end is left out on both sides (nft monitor prints it up
# to 6.6 only, the tracer prints rulenum=return for a user chain and leaves
# out the base chain's own end); a RETURN verdict has no handle in nft
# monitor up to 6.6 ("verdict return"), so it is compared without one.
awk '
	$7 == "packet:" {
		s = ""; sp = ""; dp = ""
		for (i = 8; i < NF; i++) {
			if (($i == "ip" || $i == "ip6") && $(i + 1) == "saddr") s = $(i + 2)
			if ($i == "udp" && $(i + 1) == "sport") sp = $(i + 2)
			if ($i == "udp" && $(i + 1) == "dport") dp = $(i + 2)
		}
		key[$3] = s "/" sp "/" dp
		next
	}
	!($3 in key) { next }
	$7 == "policy" { print key[$3], $6, "policy", toupper($8); next }
	$7 == "verdict" { if ($8 == "return") print key[$3], $6, "-", "RETURN"; next }
	$7 == "rule" {
		h = "?"
		if (match($0, / # handle [0-9]+ \(verdict /)) { h = substr($0, RSTART + 10); sub(/ .*/, "", h) }
		v = $0; sub(/.*\(verdict /, "", v); sub(/\)[[:space:]]*$/, "", v)
		n = split(v, w, " "); v = toupper(w[1]); if (n > 1) v = v ":" w[2]
		if (v == "RETURN") h = "-"
		print key[$3], $6, h, v
	}' monitor.itr20 > monitor.seq
awk '
	/nfttrace=\[family=inet table=itr20 / {
		for (i = 1; i <= NF; i++) if ($i ~ /^U:/) col = $i
		sub(/^U:/, "", col)
		dp = col; sub(/.*:/, "", dp)
		sub(/->.*/, "", col)
		if (col ~ /^\[/) { s = col; sub(/^\[/, "", s); sub(/\].*/, "", s); sp = col; sub(/.*\]:/, "", sp) }
		else { s = col; sub(/:[0-9]+$/, "", s); sp = col; sub(/.*:/, "", sp) }
		ch = $0; sub(/.* chain=/, "", ch); sub(/ .*/, "", ch)
		rn = $0; sub(/.* rulenum=/, "", rn); sub(/[] ].*/, "", rn)
		v = $0; sub(/.* verdict=/, "", v); sub(/\].*/, "", v)
		if (rn == "return") next
		if (rn == "policy") { print s "/" sp "/" dp, ch, "policy", v; next }
		h = $0; sub(/.* handle=/, "", h); sub(/ .*/, "", h)
		if (v == "RETURN") h = "-"
		print s "/" sp "/" dp, ch, h, v
	}' trace > tracer.seq
# Each key's lines in order; keys sorted (a stable sort keeps the order).
sort -s -k1,1 monitor.seq > monitor.sorted
sort -s -k1,1 tracer.seq > tracer.sorted
[ -s tracer.sorted ] || fail "no nfttrace= lines of itr20 to compare"
cmp -s monitor.sorted tracer.sorted || {
	echo "--- nft monitor trace"; cat monitor.sorted; echo "--- tracer"; cat tracer.sorted
	fail "nft monitor trace and the tracer disagree on the rules the packets went through"
}
assert_eq "$(wc -l < tracer.sorted | tr -d ' ')" 32 "compared (chain, handle, verdict) entries"
log "nft monitor trace agrees: $(wc -l < tracer.sorted | tr -d ' ') entries, $(cut -d' ' -f1 tracer.sorted | sort -u | wc -l | tr -d ' ') packets"
assert_clean "after SIGINT"
