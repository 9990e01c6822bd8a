#!/bin/sh
# nf_tables rule events through the netlink backend, between two namespaces:
# the issue's example (iptables-nft INPUT -> BLOCK -> DROP) with no flag but
# the filter, iptables-nft counters and iptables-nft-save as oracles, --json;
# a native inet table (comment, jump, goto, policy drop) with nft counters;
# IPv6; legacy and iptables-nft rules together, in order; a rule inserted
# while tracing; `nft monitor trace` beside the tracer as a second oracle;
# no table of ours left on any exit path.
#
# usage: sh nft_netlink_backend.sh <path-to-iptables-trace>
# Exit 77 = skipped (reason printed).

BIN=$1
. "${0%/*}/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root"
need_cmd ip nft iptables-nft ip6tables-nft iptables-nft-save iptables-legacy ping python3 timeout
[ -x "$BIN" ] || need "no iptables-trace binary at '$BIN'"
modprobe nfnetlink_log 2>/dev/null

netns_test itrnfA$$ itrnfB$$
ip -n $A addr add 10.77.0.2/24 dev v$$a; ip -n $B addr add 10.77.0.1/24 dev v$$b
ip -n $A addr add 10.77.0.3/24 dev v$$a; ip -n $A addr add 10.77.0.4/24 dev v$$a
ip -n $A addr add fd77::2/64 dev v$$a nodad; ip -n $B addr add fd77::1/64 dev v$$b nodad
inB() { ip netns exec $B "$@"; }
inA() { ip netns exec $A "$@"; }

# The issue's example, as a Debian 12 user types it (iptables = iptables-nft).
inB iptables-nft -N BLOCK || need "iptables-nft does not work here (nf_tables)"
inB iptables-nft -A INPUT -p icmp -j BLOCK
inB iptables-nft -A BLOCK -s 10.77.0.2/32 -j DROP

# With no --backend: auto. Where the module backend cannot run (this
# machine: no kprobes), auto must pick netlink and the nft lines must come.
AUTO=""
"$BIN" --check 2>/dev/null | grep -q '^module backend: cannot run here' && AUTO=1
if [ -n "$AUTO" ]; then RUN="$BIN"; else RUN="$BIN --backend netlink"; fi

stop() { stop_tracer "$@"; }
no_table() {  # no nft table of ours in B
    if inB nft list tables 2>/dev/null | grep -q iptables_trace; then fail "$1: nft table left behind"; else ok "$1: no table of ours left"; fi
}
ipt_pkts() {  # ipt_pkts <cmd> <chain> <rulenum>: the oracle's packet counter
    inB $1 -nvxL $2 --line-numbers | awk -v n=$3 '$1 == n { print $2 }'
}
nft_pkts() {  # nft_pkts <family> <table> <chain> <handle>: a rule's nft counter
    inB nft -a list chain $1 $2 $3 2>/dev/null | sed -n "s/.*counter packets \([0-9]*\) bytes.* # handle $4\$/\1/p"
}
handle_of() {  # handle_of <family> <table> <chain> <n>: handle of the nth rule
    inB nft -a list chain $1 $2 $3 2>/dev/null | grep -E '# handle [0-9]+$' | grep -v '{' | sed -n "$4s/.*# handle \([0-9]*\)\$/\1/p"
}
save_line() {  # save_line <save cmd> <chain> <n>: the nth -A line of that chain
    inB $1 -t filter 2>/dev/null | grep -E "^-A $2 " | sed -n "$3p"
}
count() { grep -cF -- "$1" "$T/out"; }

# ---- the issue's example: two dropped pings, nft monitor trace beside ----------
inB iptables-nft -Z
( inB timeout 8 nft -a monitor trace >"$T/mon" 2>&1 & )
sleep 0.3
start -H 10.77.0.2 --proto icmp || exit 1
if [ -n "$AUTO" ]; then
    grep -q "tracing with the netlink backend" "$T/err" || fail "auto: did not pick the netlink backend: $(cat "$T/err")"
fi
inA ping -c 2 -i 0.2 -W 1 -I 10.77.0.2 10.77.0.1 >/dev/null
sleep 0.5; stop INT
n1=$(ipt_pkts iptables-nft INPUT 1); n2=$(ipt_pkts iptables-nft BLOCK 1)
h1=$(handle_of ip filter INPUT 1); h2=$(handle_of ip filter BLOCK 1)
t1=$(save_line iptables-nft-save INPUT 1); t2=$(save_line iptables-nft-save BLOCK 1)
[ "$n1" = 2 ] && [ "$n2" = 2 ] || fail "example: counters INPUT 1 = $n1, BLOCK 1 = $n2 (expected 2)"
want1="nfttrace=[family=ip table=filter chain=INPUT rulenum=1 handle=$h1 verdict=JUMP:BLOCK] rule=\"$t1\""
want2="nfttrace=[family=ip table=filter chain=BLOCK rulenum=1 handle=$h2 verdict=DROP] rule=\"$t2\""
[ "$(count "$want1")" = "$n1" ] || fail "example: '$want1' $(count "$want1") times, counter $n1"
[ "$(count "$want2")" = "$n2" ] || fail "example: '$want2' $(count "$want2") times, counter $n2"
[ "$(grep -c 'nfttrace=' "$T/out")" = $((n1 + n2)) ] || fail "example: other nft lines: $(cat "$T/out")"
grep -q 'iptables_trace' "$T/out" && fail "example: an event of our own table was shown"
grep -q 'I_request:10.77.0.2->10.77.0.1' "$T/out" || fail "example: packet columns: $(sed -n 2p "$T/out")"
grep -q '^iptables-trace: events 4, lost 0' "$T/err" || fail "example: summary: $(tail -1 "$T/err")"
ok "example: INPUT rule 1 (jump BLOCK) x$n1, BLOCK rule 1 (DROP) x$n2, with iptables-nft-save's text"
sed -n '2,3p' "$T/out" | cut -c 150-
no_table "example, SIGINT"
# nft monitor trace, on the same packets: the same (table, chain, handle,
# verdict) for each rule, our own table left out.
sleep 8
python3 - "$T/mon" "$T/out" <<'PY' || fail "example: nft monitor trace disagrees (above)"
import re, sys
from collections import Counter
mon, ours = Counter(), Counter()
for l in open(sys.argv[1]):
    m = re.match(r"trace id \S+ (\S+) (\S+) (\S+) rule .* # handle (\d+) \(verdict (\w+)(?: (\S+))?\)", l)
    if m and m.group(2) != "iptables_trace":
        v = m.group(5).upper() + (":" + m.group(6) if m.group(6) else "")
        mon[(m.group(1), m.group(2), m.group(3), m.group(4), v)] += 1
for l in open(sys.argv[2]):
    m = re.search(r"nfttrace=\[family=(\S+) table=(\S+) chain=(\S+) rulenum=\S+ handle=(\d+) verdict=(\S+)\]", l)
    if m:
        ours[m.groups()] += 1
print("nft monitor:", dict(mon)); print("ours:       ", dict(ours))
sys.exit(0 if mon == ours and mon else 1)
PY
ok "example: nft monitor trace saw the same rules"

# ---- --json: every line parses; fields agree with the oracles ---------------------
inB iptables-nft -Z
start -H 10.77.0.2 --proto icmp --json -c 3 || exit 1
inA ping -c 2 -i 0.2 -W 1 -I 10.77.0.2 10.77.0.1 >/dev/null
i=0; while kill -0 $TPID 2>/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 $TPID 2>/dev/null && fail "json: -c 3 did not stop the tracer"
stop INT
python3 - "$T/out" "$h2" "$t2" <<'PY' || fail "json: see above"
import json, sys
path, handle, text = sys.argv[1], int(sys.argv[2]), sys.argv[3]
evs = [json.loads(l) for l in open(path)]
assert len(evs) == 3 and all(e["kind"] == "nftrule" for e in evs), evs
keys = set(evs[0])
for k in ("family", "table", "chain", "rulenum", "rule_kind", "handle", "verdict", "target", "base_chain", "rule"):
    assert k in keys, k
assert all(set(e) == keys for e in evs)
drop = evs[1]
assert (drop["family"], drop["table"], drop["chain"], drop["rulenum"], drop["handle"]) == ("ip", "filter", "BLOCK", 1, handle), drop
assert drop["verdict"] == "DROP" and drop["target"] is None and drop["base_chain"] == "INPUT", drop
assert drop["rule"] == text and drop["rule_stale"] is False, drop
assert drop["saddr"] == "10.77.0.2" and drop["proto"] == "icmp" and drop["hook_name"] == "INPUT", drop
jump = evs[0]
assert jump["verdict"] == "JUMP" and jump["target"] == "BLOCK" and jump["verdict_raw"] == -3, jump
PY
ok "json: nftrule objects parse, with handle, target and iptables-nft-save's text"
no_table "-c 3"

# ---- native inet table: comment, jump, goto, policy drop; nft counters -------------
inB nft -f - <<'EOF'
table inet itrt {
    chain input {
        type filter hook input priority 10; policy drop;
        ip saddr 10.77.0.3 counter jump j1 comment "to j1: it's a \\ comment"
    }
    chain j1 {
        counter goto g1
    }
    chain g1 {
        counter
    }
}
EOF
[ $? = 0 ] || fail "native: could not load the ruleset"
start -H 10.77.0.3 --proto icmp || exit 1
inA ping -c 2 -i 0.2 -W 1 -I 10.77.0.3 10.77.0.1 >/dev/null
sleep 0.5; stop TERM
hi=$(handle_of inet itrt input 1); hj=$(handle_of inet itrt j1 1); hg=$(handle_of inet itrt g1 1)
ni=$(nft_pkts inet itrt input $hi); nj=$(nft_pkts inet itrt j1 $hj); ng=$(nft_pkts inet itrt g1 $hg)
[ "$ni" = 2 ] || fail "native: counter $ni"
textv=$(inB nft -a -s list chain inet itrt input | sed -n "s/^[[:space:]]*\(.*\) # handle $hi\$/\1/p" | sed 's/\\/\\\\/g; s/"/\\"/g')
for w in "chain=input rulenum=1 handle=$hi verdict=JUMP:j1] rule=\"$textv\" $ni" \
         "chain=j1 rulenum=1 handle=$hj verdict=GOTO:g1] rule=\"counter goto g1\" $nj" \
         "chain=g1 rulenum=1 handle=$hg verdict=CONTINUE] rule=\"counter\" $ng" \
         "chain=g1 rulenum=return verdict=RETURN] rule=\"return\" $ni" \
         "chain=input rulenum=policy verdict=DROP] rule=\"policy drop\" $ni"; do
    line="nfttrace=[family=inet table=itrt ${w% *}"
    [ "$(count "$line")" = "${w##* }" ] || fail "native: '$line' $(count "$line") times, expected ${w##* }"
done
ok "native inet table: comment, jump, goto, return, policy drop, x$ni"
grep 'table=itrt chain=input rulenum=1' "$T/out" | sed -n 1p | cut -c 150-
no_table "native, SIGTERM"
inB nft delete table inet itrt

# ---- IPv6 --------------------------------------------------------------------------
inB ip6tables-nft -A INPUT -p ipv6-icmp --icmpv6-type echo-request -s fd77::2 -j ACCEPT
inB ip6tables-nft -Z
start -H fd77::2 --proto icmp6 || exit 1
inA ping -6 -c 2 -i 0.2 -W 1 fd77::1 >/dev/null
sleep 0.5; stop INT
n=$(ipt_pkts ip6tables-nft INPUT 1); h=$(handle_of ip6 filter INPUT 1); t=$(save_line ip6tables-nft-save INPUT 1)
w="nfttrace=[family=ip6 table=filter chain=INPUT rulenum=1 handle=$h verdict=ACCEPT] rule=\"$t\""
[ "$n" = 2 ] && [ "$(count "$w")" = "$n" ] || fail "ipv6: '$w' $(count "$w") times, counter $n"
grep -q 'I_request:fd77::2->fd77::1' "$T/out" || fail "ipv6: packet columns: $(sed -n 2p "$T/out")"
ok "ipv6: ip6tables-nft rule x$n"
no_table "ipv6"

# ---- legacy and iptables-nft rules at the same time, in order ------------------------
if inB iptables-legacy -t raw -A PREROUTING -s 10.77.0.2/32 -p icmp -j ACCEPT 2>/dev/null; then
    inB iptables-nft -t mangle -A PREROUTING -s 10.77.0.2/32 -p icmp -j ACCEPT
    start -H 10.77.0.2 --proto icmp || exit 1
    inA ping -c 2 -i 0.2 -W 1 -I 10.77.0.2 10.77.0.1 >/dev/null
    sleep 0.5; stop INT
    # Per packet: legacy raw PREROUTING (-300), nft mangle PREROUTING (-150),
    # nft filter INPUT, nft BLOCK.
    seq=$(grep -oE '(ipttrace|nfttrace)=\[[^]]*' "$T/out" | sed -E 's/.*table=([a-z]+) chain=([A-Z]+).*/\1.\2/' | tr '\n' ' ')
    want="raw.PREROUTING mangle.PREROUTING filter.INPUT filter.BLOCK raw.PREROUTING mangle.PREROUTING filter.INPUT filter.BLOCK "
    [ "$seq" = "$want" ] || fail "legacy + nft: order '$seq', expected '$want'"
    grep -q 'ipttrace=.*table=raw chain=PREROUTING.* rule="-A PREROUTING -s 10.77.0.2/32 -p icmp -j ACCEPT"' "$T/out" ||
        fail "legacy + nft: no legacy line with its text"
    ok "legacy and iptables-nft rules together, in order"
    inB iptables-legacy -t raw -F; inB iptables-nft -t mangle -F
    no_table "legacy + nft"
else
    echo "note: iptables-legacy does not work here: legacy + nft not checked"
fi

# ---- a rule inserted while tracing gets its new number --------------------------
inB iptables-nft -Z
start -H 10.77.0.2 --proto icmp || exit 1
inA ping -c 1 -W 1 -I 10.77.0.2 10.77.0.1 >/dev/null
sleep 0.3
inB iptables-nft -I BLOCK 1 -s 10.77.0.2/32 -p icmp -m comment --comment 'inserted "now"' -j DROP
sleep 0.3
inA ping -c 2 -i 0.2 -W 1 -I 10.77.0.2 10.77.0.1 >/dev/null
sleep 0.5; stop INT
hn=$(handle_of ip filter BLOCK 1); tn=$(save_line iptables-nft-save BLOCK 1 | sed 's/\\/\\\\/g; s/"/\\"/g')
nn=$(ipt_pkts iptables-nft BLOCK 1); no=$(ipt_pkts iptables-nft BLOCK 2)
wn="nfttrace=[family=ip table=filter chain=BLOCK rulenum=1 handle=$hn verdict=DROP] rule=\"$tn\""
wo="nfttrace=[family=ip table=filter chain=BLOCK rulenum=1 handle=$h2 verdict=DROP] rule=\"$t2\""
[ "$nn" = 2 ] && [ "$no" = 1 ] || fail "insert: counters new $nn, old $no"
[ "$(count "$wn")" = "$nn" ] || fail "insert: '$wn' $(count "$wn") times, counter $nn"
[ "$(count "$wo")" = "$no" ] || fail "insert: the old rule as rule 1 $(count "$wo") times, counter $no"
grep -q 'rule?=' "$T/out" && fail "insert: a stale answer: $(grep 'rule?=' "$T/out" | head -1)"
ok "insert while tracing: the new rule 1 x$nn, the old one (rule 1 before) x$no"
no_table "insert"

# ---- exit paths: -c, SIGHUP, kill -9 then the next start -----------------------
start -H 10.77.0.2 --proto icmp || exit 1
stop HUP
no_table "SIGHUP"
start -H 10.77.0.2 --proto icmp || exit 1
kill -9 $TPID; wait $TPID 2>/dev/null
start -H 10.77.0.2 --proto icmp || exit 1
stop INT
no_table "kill -9 then restart"
"$BIN" --cleanup >/dev/null 2>&1
no_table "--cleanup"

# --fate still refused by the netlink backend (no table verdicts).
"$BIN" -N $B --backend netlink --fate >/dev/null 2>"$T/err2" && fail "--fate with the netlink backend was accepted"

[ $fails = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all nft netlink backend host checks passed"
