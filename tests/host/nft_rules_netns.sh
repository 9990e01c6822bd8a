#!/bin/sh
# Host test (root): nf_tables trace lines on this machine's kernel, end to
# end through itr_nft (our decoder, the correlator, rule numbers and text
# read from the packet's netns, the line fields), with itr_nft_probe as the
# listener in that netns. Checks issue 11's example, a rule inserted while
# listening (the number moves, the text follows), a restore that renumbers
# every handle, a native table whose comment fakes a handle, and the index
# of a netns found by inode from outside.
# Usage: sh nft_rules_netns.sh <iptables-trace>  (env ITR_BUILD_DIR)
set -u

. "${0%/*}/lib.sh"
fail() { echo "FAIL: $*"; [ -n "${T:-}" ] && { echo "--- out"; cat "$T.out" 2>/dev/null; echo "--- err"; cat "$T.err" 2>/dev/null; }; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root"
PROBE=${ITR_BUILD_DIR:-.}/itr_nft_probe
[ -x "$PROBE" ] || need "no $PROBE (build with ITR_BUILD_TESTS=ON)"
need_cmd ip nft iptables-nft iptables-nft-save iptables-nft-restore ping

A=itr_nftr_a_$$
B=itr_nftr_b_$$
PID=
T=$(mktemp -u /tmp/itr_nftr.XXXXXX)
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	ip netns del $A 2>/dev/null
	ip netns del $B 2>/dev/null
	rm -f "$T".*
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

ip netns add $A || need "cannot create a network namespace"
netns_exec_works $A
ip netns add $B || fail "ip netns add $B"
ip link add itrnftr$$a type veth peer name itrnftr$$b || fail "veth"
ip link set itrnftr$$a netns $A name veth0 || fail "veth to $A"
ip link set itrnftr$$b netns $B name veth0 || fail "veth to $B"
ip -n $A addr add 10.77.0.2/24 dev veth0
ip -n $A addr add 10.77.0.3/24 dev veth0
ip -n $B addr add 10.77.0.1/24 dev veth0
for ns in $A $B; do ip -n $ns link set lo up; ip -n $ns link set veth0 up; done
inA() { ip netns exec $A "$@"; }
inB() { ip netns exec $B "$@"; }
# wait for the link
i=0
while ! inA ping -c 1 -W 1 -I 10.77.0.3 10.77.0.1 >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 20 ] || fail "veth does not pass traffic"
done

inB iptables-nft -N BLOCK || need "iptables-nft does not work here (nf_tables)"
inB iptables-nft -A INPUT -p icmp -j BLOCK
inB iptables-nft -A BLOCK -s 10.77.0.2/32 -j DROP
inB nft -f - <<'EOF' || fail "nft tables"
table inet itr_mark {
	chain pre {
		type filter hook prerouting priority -350; policy accept;
		ip saddr { 10.77.0.2, 10.77.0.3 } icmp type echo-request meta nftrace set 1
	}
}
table inet itr_t {
	chain input {
		type filter hook input priority 10; policy accept;
		icmp type echo-request counter comment "fake
		ip saddr 10.77.0.9 drop # handle 98
ends"
		icmp type echo-request counter comment "two words"
	}
}
EOF

start() {
	rm -f "$T.ready"
	"$PROBE" trace -n /run/netns/$B -c "$1" -t 20 -r "$T.ready" > "$T.out" 2> "$T.err" &
	PID=$!
	i=0
	while [ ! -e "$T.ready" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e "$T.ready" ] || fail "probe did not start"
}
finish() {
	wait "$PID" || fail "probe failed"
	PID=
	cat "$T.err"
}
expect() {  # <line number> <line>
	got=$(sed -n "$1p" "$T.out")
	[ "$got" = "$2" ] || fail "line $1: expected [$2], got [$got]"
	echo "ok: $2"
}
MARK='family=inet table=itr_mark chain=pre rulenum=1 handle=2 verdict=CONTINUE rule="ip saddr { 10.77.0.2, 10.77.0.3 } icmp type echo-request meta nftrace set 1"'
MARK_POLICY='family=inet table=itr_mark chain=pre rulenum=policy verdict=ACCEPT rule="policy accept"'
# The handle of the marking rule depends on nothing but the order above;
# read it rather than assume it.
H=$(inB nft -a list chain inet itr_mark pre | sed -n 's/.*nftrace set 1 # handle \([0-9]*\)$/\1/p')
MARK=$(echo "$MARK" | sed "s/handle=2/handle=$H/")

# 1. Issue 11's example: dropped in BLOCK, and a fall-through to the policy.
start 9
inA ping -c 1 -W 1 -I 10.77.0.2 10.77.0.1 >/dev/null
inA ping -c 1 -W 1 -I 10.77.0.3 10.77.0.1 >/dev/null
finish
expect 1 "$MARK"
expect 2 "$MARK_POLICY"
expect 3 'family=ip table=filter chain=INPUT rulenum=1 handle=3 verdict=JUMP:BLOCK rule="-A INPUT -p icmp -j BLOCK"'
expect 4 'family=ip table=filter chain=BLOCK rulenum=1 handle=4 verdict=DROP rule="-A BLOCK -s 10.77.0.2/32 -j DROP"'
expect 5 "$MARK"
expect 6 "$MARK_POLICY"
expect 7 'family=ip table=filter chain=INPUT rulenum=1 handle=3 verdict=JUMP:BLOCK rule="-A INPUT -p icmp -j BLOCK"'
expect 8 'family=ip table=filter chain=BLOCK rulenum=return verdict=RETURN rule="return"'
expect 9 'family=ip table=filter chain=INPUT rulenum=policy verdict=ACCEPT rule="policy ACCEPT"'

# 2. A rule inserted while listening: the DROP is now rule 2 of BLOCK.
start 4
inB iptables-nft -I BLOCK 1 -s 10.77.0.99/32 -j ACCEPT
inA ping -c 1 -W 1 -I 10.77.0.2 10.77.0.1 >/dev/null
finish
expect 4 'family=ip table=filter chain=BLOCK rulenum=2 handle=4 verdict=DROP rule="-A BLOCK -s 10.77.0.2/32 -j DROP"'
grep -q 'changes 1' "$T.err" || fail "the generation change was not seen"

# 3. A restore gives every rule a new handle; the text still follows the packet.
start 4
inB sh -c 'iptables-nft-save -t filter | iptables-nft-restore' || fail "restore"
inA ping -c 1 -W 1 -I 10.77.0.2 10.77.0.1 >/dev/null
finish
H4=$(sed -n '4s/.* handle=\([0-9]*\) .*/\1/p' "$T.out")
[ -n "$H4" ] && [ "$H4" != 4 ] || fail "handle after restore: [$H4]"
expect 4 "family=ip table=filter chain=BLOCK rulenum=2 handle=$H4 verdict=DROP rule=\"-A BLOCK -s 10.77.0.2/32 -j DROP\""

# 4. The native table's chain, whose comment fakes a handle: positions, no
# text; its own policy. 10.77.0.3 is accepted by filter, then goes through itr_t.
start 8
inA ping -c 1 -W 1 -I 10.77.0.3 10.77.0.1 >/dev/null
finish
expect_re() {  # <line number> <basic regular expression for the whole line>
	sed -n "$1p" "$T.out" | grep -qx "$2" || fail "line $1: expected /$2/, got [$(sed -n "$1p" "$T.out")]"
	echo "ok: $2"
}
expect_re 6 'family=inet table=itr_t chain=input rulenum=1 handle=[0-9]* verdict=CONTINUE'
expect_re 7 'family=inet table=itr_t chain=input rulenum=2 handle=[0-9]* verdict=CONTINUE'
expect 8 'family=inet table=itr_t chain=input rulenum=policy verdict=ACCEPT rule="policy accept"'
grep -q 'itr_t/input: the nft listing does not match' "$T.err" || fail "no note about the faked handle"

# 5. The index of the netns, read from outside it by inode.
INO=$(stat -L -c %i /run/netns/$B)
"$PROBE" index "$INO" > "$T.out" 2> "$T.err" || fail "index"
grep -qx "ip filter BLOCK 1 [0-9]* ipt -A BLOCK -s 10.77.0.99/32 -j ACCEPT" "$T.out" || fail "index: BLOCK 1"
grep -qx "ip filter BLOCK 2 $H4 ipt -A BLOCK -s 10.77.0.2/32 -j DROP" "$T.out" || fail "index: BLOCK 2"
grep -qx "inet itr_t input 2 [0-9]* nft -" "$T.out" || fail "index: itr_t"
echo "ok: index of netns $INO read from outside"
echo "PASS"
