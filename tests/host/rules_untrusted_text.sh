#!/bin/sh
# Rule text from strings a namespace's owner writes (issue 13, item 9), with
# the real tool (netlink backend, legacy TRACE) in a netns:
#   1. a comment holding "\n-A INPUT -j DROP" before the rule the packets hit:
#      the kernel's rule 2 is shown with its own text, marked rule?=, never
#      as the comment's fake line;
#   2. an interface name holding "\n-A INPUT" (iptables prints it raw, so the
#      fake line is a perfect rule line): the chain's count differs from the
#      kernel's, and no text is given for its rules.
# Hit counts are checked against `iptables -nvxL --line-numbers`.
#
# usage: sh rules_untrusted_text.sh <path-to-iptables-trace>
# Exit 77 = skipped (reason printed).

BIN=$1
. "${0%/*}/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root"
need_cmd ip nft iptables-legacy iptables-legacy-save ping timeout
[ -x "$BIN" ] || need "no iptables-trace binary at '$BIN'"
RUN="$BIN --backend netlink"
modprobe nfnetlink_log 2>/dev/null
[ -e /proc/net/netfilter/nfnetlink_log ] || need "no nfnetlink_log in this kernel"

netns_test itruA$$ itruB$$
ip -n $A addr add 10.77.1.1/24 dev v$$a; ip -n $B addr add 10.77.1.2/24 dev v$$b
inA() { ip netns exec $A "$@"; }
inB() { ip netns exec $B "$@"; }
pkts() { inB iptables-legacy -nvxL INPUT --line-numbers | awk -v n=$1 '$1 == n { print $2 }'; }
hits() { grep -E 'table=filter chain=INPUT hook=1 rulenum=2\]' "$T/out"; }

# ---- 1. a comment holding a fake rule line -------------------------------------
inB iptables-legacy -A INPUT -p udp -m comment --comment "$(printf 'x\n-A INPUT -j DROP')" -j ACCEPT ||
    skip "iptables-legacy does not work here (kernel without CONFIG_NETFILTER_XTABLES_LEGACY?)"
inB iptables-legacy -A INPUT -p icmp --icmp-type echo-request -j ACCEPT
inB iptables-legacy-save -t filter | grep -q '^-A INPUT -j DROP" -j ACCEPT$' ||
    fail "comment: iptables-legacy-save does not print the fake line this test is about"
want=$(inB iptables-legacy-save -t filter | grep -E '^-A INPUT -p icmp' | sed -n 1p)
inB iptables-legacy -Z
start -H 10.77.1.1 --proto icmp || exit 1
inA ping -c 3 -i 0.2 -W 1 -I 10.77.1.1 10.77.1.2 >/dev/null
sleep 0.5; stop_tracer INT
n=$(pkts 2)
[ "$n" = 3 ] || fail "comment: INPUT rule 2 counter $n, want 3"
[ "$(hits | wc -l)" = "$n" ] || fail "comment: $(hits | wc -l) lines for INPUT rule 2, counter says $n"
[ "$(hits | grep -cF " rule?=\"$want\"")" = "$n" ] ||
    fail "comment: rule 2 not shown as rule?=\"$want\": $(hits | sed -n 1p)"
grep -qE 'rule\??="-A INPUT -j DROP' "$T/out" && fail "comment: the comment's fake line shown as a rule"
[ $fails = 0 ] && ok "comment: $n hits of rule 2, each rule?=\"$want\""

# ---- 2. an interface name holding a fake rule line --------------------------------
inB iptables-legacy -F INPUT
inB iptables-legacy -A INPUT -i "$(printf 'a\n-A INPUT')" -j ACCEPT 2>/dev/null
inB iptables-legacy -A INPUT -p icmp --icmp-type echo-request -j ACCEPT
saved=$(inB iptables-legacy-save -t filter | grep -c '^-A INPUT')
kernel=$(inB iptables-legacy -nvxL INPUT --line-numbers | grep -cE '^[0-9]+ ')
[ "$saved" = 3 ] && [ "$kernel" = 2 ] ||
    fail "iface: iptables-legacy-save shows $saved rules, the kernel $kernel (want 3 and 2)"
inB iptables-legacy -Z
before=$fails
start -H 10.77.1.1 --proto icmp || exit 1
inA ping -c 2 -i 0.2 -W 1 -I 10.77.1.1 10.77.1.2 >/dev/null
sleep 0.5; stop_tracer TERM
n=$(pkts 2)
[ "$n" = 2 ] || fail "iface: INPUT rule 2 counter $n, want 2"
[ "$(hits | wc -l)" = "$n" ] || fail "iface: $(hits | wc -l) lines for INPUT rule 2, counter says $n"
hits | grep -q ' rule?*=' && fail "iface: a text shown for a rule of a chain that does not split: $(hits | sed -n 1p)"
grep -q 'chain INPUT shows another number of rules than the kernel holds' "$T/err" ||
    fail "iface: no diagnostic about the chain: $(cat "$T/err")"
[ $fails = $before ] && ok "iface: $n hits of rule 2, no text, one diagnostic"

[ $fails = 0 ] || exit 1
echo PASS
