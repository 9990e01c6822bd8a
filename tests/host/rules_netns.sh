#!/bin/sh
# Host test (root): rule text is read from the packet's own network
# namespace, a rule inserted while tracing is noticed, and packets moving
# counters are not mistaken for a ruleset change.
# Usage: sh rules_netns.sh <iptables-trace>  (env ITR_BUILD_DIR)
set -u

. "${0%/*}/lib.sh"
fail() { echo "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root"
PROBE=${ITR_BUILD_DIR:-.}/itr_rules_probe
[ -x "$PROBE" ] || need "no $PROBE (build with ITR_BUILD_TESTS=ON)"
need_cmd ip iptables-legacy ip6tables-legacy iptables-legacy-save unshare nsenter ping

A=itr_rules_a_$$
B=itr_rules_b_$$
SLEEPER=
cleanup() {
    ip netns del $A 2>/dev/null
    ip netns del $B 2>/dev/null
    [ -n "$SLEEPER" ] && kill "$SLEEPER" 2>/dev/null
    rm -f "${TMP:-/nonexistent}".*
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
TMP=$(mktemp -u /tmp/itr_rules.XXXXXX)

ip netns add $A || need "cannot create a network namespace"
netns_exec_works $A
ip netns add $B || fail "ip netns add $B"
ip netns exec $A iptables-legacy -A INPUT -s 10.1.0.0/16 -j ACCEPT 2>/dev/null ||
    skip "legacy iptables does not work here (kernel without CONFIG_NETFILTER_XTABLES_LEGACY?)"
ip netns exec $B iptables-legacy -N BLOCK || fail "iptables -N"
ip netns exec $B iptables-legacy -A INPUT -j BLOCK || fail "iptables -A"
ip netns exec $B iptables-legacy -A BLOCK -p icmp -m comment --comment 'block "ping" here' -j DROP || fail "iptables -A"
ip netns exec $B ip6tables-legacy -A INPUT ! -s fe80::/10 -p tcp -m multiport --dports 22,80 -j REJECT ||
    fail "ip6tables -A"

INO_A=$(stat -L -c %i /run/netns/$A) || fail "stat"
INO_B=$(stat -L -c %i /run/netns/$B) || fail "stat"
echo "netns A=$INO_A B=$INO_B"

expect_line() {  # <file> <line number> <expected>
    got=$(sed -n "$2p" "$1")
    [ "$got" = "$3" ] || fail "line $2: expected [$3], got [$got]"
    echo "ok: $3"
}

# 1. Each netns answers with its own rules.
cat > $TMP.q <<EOQ
$INO_A 4 filter INPUT 1 rule
$INO_B 4 filter INPUT 1 rule
$INO_B 4 filter BLOCK 1 rule
$INO_B 4 filter BLOCK 2 return
$INO_B 4 filter INPUT 2 policy
$INO_A 4 filter INPUT 2 policy
$INO_B 6 filter INPUT 1 rule
$INO_A 4 filter INPUT 7 rule
EOQ
"$PROBE" lookup < $TMP.q > $TMP.out 2> $TMP.err || { cat $TMP.err; fail "probe lookup"; }
cat $TMP.err
expect_line $TMP.out 1 "stale=0 kind=rule text=-A INPUT -s 10.1.0.0/16 -j ACCEPT"
expect_line $TMP.out 2 "stale=0 kind=rule text=-A INPUT -j BLOCK"
expect_line $TMP.out 3 'stale=0 kind=rule text=-A BLOCK -p icmp -m comment --comment "block \"ping\" here" -j DROP'
expect_line $TMP.out 4 "stale=0 kind=return text=return"
expect_line $TMP.out 5 "stale=0 kind=policy text=policy ACCEPT"
expect_line $TMP.out 6 "stale=0 kind=policy text=policy ACCEPT"
expect_line $TMP.out 7 "stale=0 kind=rule text=-A INPUT ! -s fe80::/10 -p tcp -m multiport --dports 22,80 -j REJECT --reject-with icmp6-port-unreachable"
expect_line $TMP.out 8 "stale=1 kind=rule text=-"

# 2. A netns that only a process holds (no /run/netns entry) is found too.
unshare -n sleep 60 &
SLEEPER=$!
sleep 0.3
nsenter -t $SLEEPER -n iptables-legacy -t mangle -A PREROUTING -p udp --dport 53 -j MARK --set-mark 7 ||
    fail "iptables in the unshared netns"
INO_C=$(stat -L -c %i /proc/$SLEEPER/ns/net)
echo "$INO_C 4 mangle PREROUTING 1 rule" | "$PROBE" lookup > $TMP.out 2> $TMP.err || fail "probe lookup C"
expect_line $TMP.out 1 "stale=0 kind=rule text=-A PREROUTING -p udp -m udp --dport 53 -j MARK --set-xmark 0x7/0xffffffff"

# 3. A rule inserted at the top while the reader runs: the fingerprint
# changes and rule 1 is the new rule, with a certain answer.
FP1=$("$PROBE" fp $INO_B 4 filter) || fail "fp"
{
    echo "$INO_B 4 filter INPUT 1 rule"
    sleep 0.4
    ip netns exec $B iptables-legacy -I INPUT 1 -p tcp --dport 443 -j ACCEPT
    sleep 0.4
    echo "$INO_B 4 filter INPUT 1 rule"
    echo "$INO_B 4 filter INPUT 2 rule"
    echo "$INO_B 4 filter INPUT 3 policy"
} | "$PROBE" lookup > $TMP.out 2> $TMP.err || fail "probe lookup (insert)"
cat $TMP.err
expect_line $TMP.out 1 "stale=0 kind=rule text=-A INPUT -j BLOCK"
expect_line $TMP.out 2 "stale=0 kind=rule text=-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT"
expect_line $TMP.out 3 "stale=0 kind=rule text=-A INPUT -j BLOCK"
expect_line $TMP.out 4 "stale=0 kind=policy text=policy ACCEPT"
grep -q "changes 1 " $TMP.err || fail "the change was not counted once"
FP2=$("$PROBE" fp $INO_B 4 filter) || fail "fp"
[ "$FP1" != "$FP2" ] || fail "fingerprint unchanged after an insert ($FP1)"
echo "ok: fingerprint $FP1 -> $FP2 after the insert"

# 4. Traffic through a rule moves its counters, not the fingerprint.
ip netns exec $B ip link set lo up || fail "lo up"
ip netns exec $B ping -c 3 -i 0.2 -W 1 127.0.0.1 >/dev/null 2>&1  # dropped by BLOCK
PKTS=$(ip netns exec $B iptables-legacy -L BLOCK -n -v -x | awk '/DROP/ {print $1}')
[ "${PKTS:-0}" -gt 0 ] || fail "the ping did not reach the DROP rule (counter ${PKTS:-none})"
FP3=$("$PROBE" fp $INO_B 4 filter) || fail "fp"
[ "$FP2" = "$FP3" ] || fail "fingerprint changed with counters only: $FP2 -> $FP3"
echo "ok: fingerprint $FP3 unchanged after $PKTS packets hit the rule"

# 5. A table that does not exist is reported absent, and not created.
[ "$("$PROBE" fp $INO_A 4 security)" = "absent" ] || fail "security table should be absent"
ip netns exec $A cat /proc/net/ip_tables_names | grep -q security && fail "the fingerprint created the table"
echo "ok: absent table not created"

echo "PASS"
exit 0
