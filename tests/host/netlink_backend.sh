#!/bin/sh
# Netlink backend end to end: two namespaces joined by a veth, legacy
# iptables rules in the second, traffic from the first; lines checked
# against iptables counters; every exit path leaves no nft table of ours and
# the logger bindings as they were.
#
# usage: sh netlink_backend.sh <path-to-iptables-trace>
# ITR_NETLINK_PROBE=<path to itr_netlink_probe> runs the same checks through
# the library's test driver instead of the app.
# Exit 77 = skipped (reason printed).

BIN=$1
. "${0%/*}/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root"
need_cmd ip nft iptables-legacy ip6tables-legacy ping python3 timeout
if [ -n "$ITR_NETLINK_PROBE" ]; then
    RUN="$ITR_NETLINK_PROBE"
else
    [ -x "$BIN" ] || need "no iptables-trace binary at '$BIN'"
    RUN="$BIN --backend netlink"
fi
modprobe nfnetlink_log 2>/dev/null
[ -e /proc/net/netfilter/nfnetlink_log ] || need "no nfnetlink_log in this kernel"

netns_test itrnlA$$ itrnlB$$
ip -n $A addr add 10.99.0.1/24 dev v$$a; ip -n $B addr add 10.99.0.2/24 dev v$$b
ip -n $A addr add 10.99.0.9/24 dev v$$a
ip -n $A addr add fd99::1/64 dev v$$a nodad; ip -n $B addr add fd99::2/64 dev v$$b nodad

inB() { ip netns exec $B "$@"; }
inA() { ip netns exec $A "$@"; }
inB iptables-legacy -N USERC || skip "iptables-legacy does not work here (kernel without CONFIG_NETFILTER_XTABLES_LEGACY?)"
inB iptables-legacy -A INPUT -p icmp -j USERC                                  # 1
inB iptables-legacy -A USERC -s 10.99.0.9 -j DROP                              # USERC 1
inB iptables-legacy -A INPUT -p icmp --icmp-type echo-request -j ACCEPT        # 2
inB iptables-legacy -A INPUT -p tcp --dport 81 -j REJECT --reject-with tcp-reset  # 3
inB iptables-legacy -A INPUT -p udp --dport 9999 -j DROP                       # 4
inB ip6tables-legacy -A INPUT -p ipv6-icmp --icmpv6-type echo-request -j ACCEPT  # 1
LOG2=$(inB cat /proc/sys/net/netfilter/nf_log/2); LOG10=$(inB cat /proc/sys/net/netfilter/nf_log/10)

stop() { stop_tracer "$@"; }
restored() {  # no nft table of ours, logger bindings as before
    if inB nft list tables 2>/dev/null | grep -q iptables_trace; then fail "$1: nft table left behind"; return; fi
    [ "$(inB cat /proc/sys/net/netfilter/nf_log/2)" = "$LOG2" ] || { fail "$1: nf_log/2 not restored"; return; }
    [ "$(inB cat /proc/sys/net/netfilter/nf_log/10)" = "$LOG10" ] || { fail "$1: nf_log/10 not restored"; return; }
    ok "$1: restored"
}
pkts() {  # pkts <iptables cmd> <chain> <rulenum>
    inB $1 -nvxL $2 --line-numbers | awk -v n=$3 '$1 == n { print $2 }'
}
lines() { grep -cE "$1" "$T/out"; }

# ---- ICMP: ACCEPT after a RETURN from a user chain ---------------------------
inB iptables-legacy -Z; inB ip6tables-legacy -Z
start -H 10.99.0.1 --proto icmp || exit 1
inA ping -c 3 -i 0.2 -W 1 -I 10.99.0.1 10.99.0.2 >/dev/null
sleep 0.5; stop INT
n=$(pkts iptables-legacy INPUT 2)
[ "$n" = 3 ] || fail "icmp: expected counter 3, got $n"
[ "$(lines 'table=filter chain=INPUT hook=1 rulenum=1\]')" = "$n" ] || fail "icmp: INPUT rule 1 lines != $n"
[ "$(lines 'table=filter chain=USERC hook=1 rulenum=return\]')" = "$n" ] || fail "icmp: USERC return lines != $n"
[ "$(lines 'table=filter chain=INPUT hook=1 rulenum=2\]')" = "$n" ] || fail "icmp: INPUT rule 2 lines != $n"
[ "$(lines 'table=filter chain=OUTPUT hook=3 rulenum=policy\]')" = "$n" ] || fail "icmp: OUTPUT policy lines != $n"
grep -q 'table=filter chain=USERC hook=1 rulenum=1\]' "$T/out" && fail "icmp: USERC DROP hit by an unrelated packet"
ok "icmp accept/return/policy: $n packets"
restored "SIGINT"

# ---- DROP in a user chain -----------------------------------------------------
inB iptables-legacy -Z
start -H 10.99.0.9 || exit 1
inA ping -c 2 -i 0.2 -W 1 -I 10.99.0.9 10.99.0.2 >/dev/null
sleep 0.5; stop TERM
n=$(pkts iptables-legacy USERC 1)
[ "$n" = 2 ] || fail "user-chain drop: counter $n"
[ "$(lines 'table=filter chain=USERC hook=1 rulenum=1\]')" = "$n" ] || fail "user-chain drop: lines != $n"
grep -q 'chain=INPUT hook=1 rulenum=2\]' "$T/out" && fail "user-chain drop: packet seen after its DROP"
ok "drop in user chain: $n packets"
# Rule text: exactly what iptables-save prints in B for that rule.
want=$(inB iptables-legacy-save -t filter | grep -E '^-A USERC ' | sed -n 1p)
got=$(grep 'chain=USERC hook=1 rulenum=1\]' "$T/out" | sed -n '1s/.*\] rule="\(.*\)"$/\1/p')
[ -n "$want" ] && [ "$got" = "$want" ] || fail "user-chain drop: rule text '$got', iptables-save says '$want'"
restored "SIGTERM"

# ---- --json: every line parses, fields agree with the counters -------------------
inB iptables-legacy -Z
start -H 10.99.0.1 --proto icmp --json || exit 1
inA ping -c 2 -i 0.2 -W 1 -I 10.99.0.1 10.99.0.2 >/dev/null
sleep 0.5; stop INT
n=$(pkts iptables-legacy INPUT 2)
want=$(inB iptables-legacy-save -t filter | grep -E '^-A INPUT ' | sed -n 2p)
python3 - "$T/out" "$n" "$want" <<'PY' || fail "json: see above"
import json, sys
path, n, want = sys.argv[1], int(sys.argv[2]), sys.argv[3]
evs = [json.loads(l) for l in open(path)]
hits = [e for e in evs if e["kind"] == "rule" and e["chain"] == "INPUT" and e["rulenum"] == 2]
assert len(hits) == n, f"{len(hits)} rule events for INPUT 2, counter {n}"
for e in hits:
    assert e["rule"] == want, (e["rule"], want)
    assert e["rule_kind"] == "rule" and e["table"] == "filter" and e["hook_name"] == "INPUT"
    assert e["saddr"] == "10.99.0.1" and e["daddr"] == "10.99.0.2" and e["proto"] == "icmp"
    assert e["icmp"]["type"] == 8 and e["verdict"] is None and e["cost_ns"] is None, e
pol = [e for e in evs if e["kind"] == "rule" and e["chain"] == "OUTPUT"]
assert pol and all(e["rule_kind"] == "policy" and e["rule"] == "policy ACCEPT" for e in pol), pol[:1]
PY
ok "json: $n rule events for INPUT 2 with iptables-save's text"
restored "json"
$RUN -N $B --drops-only >/dev/null 2>"$T/err2" && fail "--drops-only with the netlink backend was accepted"
[ "$(grep -c . "$T/err2")" = 1 ] || fail "--drops-only refusal is not one line: $(cat "$T/err2")"

# ---- TCP REJECT, UDP DROP -----------------------------------------------------
inB iptables-legacy -Z
start -H 10.99.0.2 -P 81 || exit 1
inA python3 -c 'import socket
for i in range(2):
    s = socket.socket(); s.settimeout(1)
    try: s.connect(("10.99.0.2", 81))
    except OSError: pass
    s.close()'
sleep 0.5; stop HUP
n=$(pkts iptables-legacy INPUT 3)
[ "$n" -ge 1 ] || fail "tcp reject: counter $n"
[ "$(lines 'table=filter chain=INPUT hook=1 rulenum=3\]')" = "$n" ] || fail "tcp reject: lines != counter $n"
ok "tcp reject: $n packets"
restored "SIGHUP"

inB iptables-legacy -Z
start --proto udp -P 9999 -c 2 || exit 1
inA python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3): s.sendto(b"x", ("10.99.0.2", 9999))'
i=0; while kill -0 $TPID 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 $TPID 2>/dev/null && fail "-c 2 did not stop the tracer"
stop INT
n=$(pkts iptables-legacy INPUT 4)
[ "$n" = 3 ] || fail "udp drop: counter $n"
[ "$(lines 'table=filter chain=INPUT hook=1 rulenum=4\]')" = 2 ] || fail "udp drop: -c 2 printed $(lines rulenum=4) lines"
ok "udp drop with -c 2"
restored "-c 2"

# ---- IPv6 ---------------------------------------------------------------------
inB ip6tables-legacy -Z
start -H fd99::1 || exit 1
inA ping -6 -c 2 -i 0.2 -W 1 fd99::2 >/dev/null
sleep 0.5; stop INT
n=$(pkts ip6tables-legacy INPUT 1)
[ "$n" = 2 ] || fail "ipv6: counter $n"
[ "$(lines 'pf=PF_INET6.*table=filter chain=INPUT hook=1 rulenum=1\]')" = "$n" ] || fail "ipv6: lines != $n"
ok "ipv6 icmp: $n packets"
restored "ipv6"

# ---- a non-matching packet gives no line --------------------------------------
start -H 10.99.0.1 -P 4444 || exit 1
inA ping -c 2 -i 0.2 -W 1 -I 10.99.0.1 10.99.0.2 >/dev/null
sleep 0.5; stop INT
grep -q 'ipttrace=' "$T/out" && fail "filter: a non-matching packet produced a line"
ok "filter: no line for a non-matching packet"

# ---- closed pipe ----------------------------------------------------------------
rm -f "$T/ready"
( $RUN -N $B -H 10.99.0.1 --ready-file "$T/ready" 2>"$T/err"; echo $? >"$T/rc" ) | head -n 1 >/dev/null &
i=0; while [ ! -e "$T/ready" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
inA ping -c 5 -i 0.2 -W 1 -I 10.99.0.1 10.99.0.2 >/dev/null
i=0; while [ ! -e "$T/rc" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -e "$T/rc" ] || fail "closed pipe: tracer still running"
wait
restored "closed pipe"

# ---- error half-way: the table name is taken by a live foreign owner ---------
inB nft add table inet iptables_trace "{ comment \"iptables-trace pid=1 start=0\"; }"
$RUN -N $B -H 10.99.0.1 >/dev/null 2>"$T/err" && fail "half-way: started despite a live table"
grep -q "iptables_trace" "$T/err" || fail "half-way: unclear message: $(cat "$T/err")"
inB nft delete table inet iptables_trace
restored "error half-way"

# ---- a second instance, then group 0 held by someone else (ulogd's place) ------------
start -H 10.99.0.1 || exit 1
FIRST=$TPID
$RUN -N $B -H 10.99.0.1 >/dev/null 2>"$T/err2" && fail "second instance: it started"
[ "$(grep -c . "$T/err2")" -le 2 ] && grep -q "another iptables-trace is running" "$T/err2" ||
    fail "second instance: unclear message: $(cat "$T/err2")"
TPID=$FIRST; stop INT
# The library's test driver takes no instance lock: it plays the foreign holder.
PROBE=${ITR_BUILD_DIR:-build}/itr_netlink_probe
if [ -z "$ITR_NETLINK_PROBE" ] && [ -x "$PROBE" ]; then
    RUN_SAVED=$RUN; RUN=$PROBE
    start -H 10.99.0.1 || exit 1
    FIRST=$TPID; RUN=$RUN_SAVED
    $RUN -N $B -H 10.99.0.1 >/dev/null 2>"$T/err2" && fail "group 0: started although group 0 is held"
    grep -q "group 0 is already taken" "$T/err2" || fail "group 0: unclear message: $(cat "$T/err2")"
    TPID=$FIRST; stop INT
else
    echo "note: group 0 held by another process not checked (no itr_netlink_probe)"
fi
restored "group 0 busy"

# ---- kill -9: the guard restores at once; both killed: the next start does -----
# The oracle is the sysctl itself: the administrator's logger is back with no
# new start, within the time the guard needs (it waits for the tracer to be
# reaped, then removes what the tracer left).
start -H 10.99.0.1 || exit 1
G=$(guard_of $TPID)
[ -n "$G" ] || fail "kill -9: no guard process beside the tracer"
kill -9 $TPID; wait $TPID 2>/dev/null
[ -n "$G" ] && { wait_gone "$G" || fail "kill -9: the guard did not end within 5 s"; }
restored "kill -9, the guard"
grep -q "guard: pid $TPID ended without releasing" "$T/err" || fail "kill -9: the guard did not say so on stderr"
grep -q "restored nf_log/2 to $LOG2" "$T/err" || fail "kill -9: the guard did not say it restored nf_log/2"
[ -e "/run/iptables-trace/netlink-$(stat -L -c %i /run/netns/$B).state" ] && fail "kill -9: state file left"
# A SIGKILL to the tracer and its guard together (a whole cgroup): the
# binding stays until the next start, which says so and restores it.
start -H 10.99.0.1 || exit 1
G=$(guard_of $TPID)
kill -9 $TPID $G; wait $TPID 2>/dev/null
[ "$(inB cat /proc/sys/net/netfilter/nf_log/2)" = nfnetlink_log ] || fail "kill -9 of both: the binding should stay"
start -H 10.99.0.1 || exit 1
grep -q "restored nf_log/2" "$T/err" || fail "kill -9 of both: restart did not say it restored the binding"
stop INT
restored "kill -9 of tracer and guard, then restart"

# ---- bounded flood: received vs lost, lost reported --------------------------------
inB iptables-legacy -Z
start -H 10.99.0.1 --proto icmp || exit 1
inA timeout 20 ping -f -c 20000 -q -I 10.99.0.1 10.99.0.2 >/dev/null
sleep 2; stop INT
got=$(grep -c 'ipttrace=' "$T/out")
echo "flood: 20000 pings, 80000 TRACE records expected, $got printed; $(grep -E 'events|lost' "$T/err" | tail -1)"
grep -qE 'lost' "$T/err" || fail "flood: the summary does not report losses"
# The oracle: INPUT rule 1 (-j USERC) and the return, rule 2 and the OUTPUT
# policy, four records per answered ping, from the counters.
exp=$(( $(pkts iptables-legacy INPUT 2) * 4 ))
lost=$(grep -E 'events' "$T/err" | tail -1 | sed -n 's/.*events [0-9]*, lost \([0-9][0-9]*\)\($\|;\).*/\1/p')
if [ -n "$lost" ]; then  # an exact count: it must add up
    [ $((got + lost)) -eq "$exp" ] || fail "flood: $got printed + $lost lost != $exp from the counters"
else
    grep -qE 'lost (at least|an unknown)' "$T/err" || fail "flood: loss count neither exact nor flagged"
fi
restored "flood"

# ---- a table of that name that is not ours is never deleted -----------------------
# Anyone with CAP_NET_ADMIN in the netns can make one; without our exact owner
# comment the start refuses (the name is taken) and says so, and the table
# stays.
inB nft add table inet iptables_trace '{ comment "my own table"; }'
inB nft add chain inet iptables_trace mine
$RUN -N $B -H 10.99.0.1 -c 1 --ready-file "$T/ready-foreign" >"$T/out" 2>"$T/err" < /dev/null &
TPID=$!; PIDS="$PIDS $TPID"
i=0; while kill -0 $TPID 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
kill -INT $TPID 2>/dev/null; wait $TPID 2>/dev/null; rc=$?
[ "$rc" -ne 0 ] && ok "foreign table: the start refused (exit $rc)" || fail "foreign table: the tracer ran over it"
grep -q "not removed: nft table inet iptables_trace" "$T/err" && ok "foreign table: said so" ||
    { cat "$T/err"; fail "foreign table: not reported"; }
inB nft list chain inet iptables_trace mine >/dev/null 2>&1 && ok "foreign table: intact" ||
    fail "foreign table: deleted"
inB nft delete table inet iptables_trace

[ $fails = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all netlink backend host checks passed"
