#!/bin/sh
# Stopping during set-up (issue 13, item 10), netlink backend, in a netns:
# SIGINT / SIGTERM / SIGHUP while set-up is held at each of its steps
# (ITR_TEST_PAUSE_AT), then signals at arbitrary moments of an unheld
# set-up. Each run must exit 0 as a stop while tracing does, say nothing
# but the test hook's own line, and leave nothing: no `inet iptables_trace`
# table, nf_log/2 and nf_log/10 as they were, no state file.
#
# usage: sh setup_interrupt.sh <path-to-iptables-trace>
# Exit 77 = skipped (reason printed).

BIN=$1
. "${0%/*}/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root"
need_cmd ip nft timeout pgrep
[ -x "$BIN" ] || need "no iptables-trace binary at '$BIN'"
modprobe nfnetlink_log 2>/dev/null
[ -e /proc/net/netfilter/nfnetlink_log ] || need "no nfnetlink_log in this kernel"

netns_test itrsiA$$ itrsiB$$
ip -n $A addr add 10.77.0.1/24 dev v$$a; ip -n $B addr add 10.77.0.2/24 dev v$$b
inB() { ip netns exec $B "$@"; }
LOG2=$(inB cat /proc/sys/net/netfilter/nf_log/2); LOG10=$(inB cat /proc/sys/net/netfilter/nf_log/10)
INODE=$(stat -L -c %i /run/netns/$B)
STATE=/run/iptables-trace/netlink-$INODE.state

has_table() { inB nft list tables 2>/dev/null | grep -q 'inet iptables_trace'; }
nothing_left() {  # nothing_left LABEL
    _bad=""
    has_table && _bad="$_bad nft-table"
    [ "$(inB cat /proc/sys/net/netfilter/nf_log/2)" = "$LOG2" ] || _bad="$_bad nf_log/2"
    [ "$(inB cat /proc/sys/net/netfilter/nf_log/10)" = "$LOG10" ] || _bad="$_bad nf_log/10"
    [ -e "$STATE" ] && _bad="$_bad state-file"
    [ -z "$_bad" ] || { fail "$1: left behind:$_bad"; return 1; }
    return 0
}

# One instance per machine: another test run (another worktree) may hold
# the lock. Its processes are waited out before each run, within one budget
# for the whole script (ctest gives it 300 s); a run that still meets one
# is tried again.
lock_budget=200
lock_free() {
    while pgrep -x iptables-trace >/dev/null 2>&1 && [ $lock_budget -gt 0 ]; do
        sleep 1; lock_budget=$((lock_budget - 1))
    done
}
lost_lock() { grep -q "another iptables-trace is running" "$T/err" 2>/dev/null && [ $lock_budget -gt 0 ]; }

# launch [ENV...]: the tracer in B with the environment given, stderr in
# $T/err. TPID set.
launch() {
    while :; do
        lock_free
        rm -f "$T/err"
        env "$@" "$BIN" --backend netlink -N $B -H 10.77.0.1 >"$T/out" 2>"$T/err" &
        TPID=$!; PIDS="$PIDS $TPID"
        sleep 0.2
        if lost_lock; then wait $TPID 2>/dev/null; lock_budget=$((lock_budget - 1)); continue; fi
        return 0
    done
}

# ---- held at each step -------------------------------------------------------
# Every step of the app and the netlink backend, in order; what each step
# has set up by then is checked to be there, so that its removal is real.
sigs="INT TERM HUP"
i=0
for stage in lock leftovers backend-chosen nflog-module recover nflog-bind state-file logger nft-table backend-started; do
    sig=$(echo $sigs | cut -d' ' -f$((i % 3 + 1))); i=$((i + 1))
    launch ITR_TEST_PAUSE_AT=$stage
    _w=0
    while ! grep -q "paused at $stage " "$T/err" 2>/dev/null && kill -0 $TPID 2>/dev/null && [ $_w -lt 100 ]; do
        sleep 0.1; _w=$((_w + 1))
    done
    if ! grep -q "paused at $stage " "$T/err"; then
        fail "$stage: never paused there:"; cat "$T/err"; kill -9 $TPID 2>/dev/null; wait $TPID 2>/dev/null; continue
    fi
    case $stage in
    state-file) [ -e "$STATE" ] || fail "$stage: no state file while held (the check would prove nothing)" ;;
    logger) [ "$(inB cat /proc/sys/net/netfilter/nf_log/2)" = nfnetlink_log ] || fail "$stage: logger not bound while held" ;;
    nft-table | backend-started) has_table || fail "$stage: no nft table while held" ;;
    esac
    before=$fails
    stop_tracer $sig
    [ "$RC" = 0 ] || fail "$stage/SIG$sig: exit status $RC, want 0 (as a stop while tracing)"
    extra=$(grep -v "paused at $stage (ITR_TEST_PAUSE_AT)" "$T/err")
    [ -z "$extra" ] || fail "$stage/SIG$sig: said more than the hook's line: $extra"
    [ -s "$T/out" ] && fail "$stage/SIG$sig: wrote to stdout before tracing"
    nothing_left "$stage/SIG$sig"
    [ $fails = $before ] && ok "$stage/SIG$sig: exit 0, silent, nothing left"
done

# ---- signals at arbitrary moments ------------------------------------------------
# No hold: the signal lands wherever set-up is (an ACK wait included) or
# just after it. Either way: exit 0 and no error line.
signum() { case $1 in HUP) echo 129 ;; INT) echo 130 ;; TERM) echo 143 ;; esac; }  # 128 + number
early=0
for delay in 0 0.005 0.01 0.02 0.03 0.05 0.08 0.12; do
    sig=$(echo $sigs | cut -d' ' -f$((i % 3 + 1))); i=$((i + 1))
    while :; do
        lock_free
        "$BIN" --backend netlink -N $B -H 10.77.0.1 >"$T/out" 2>"$T/err" &
        TPID=$!; PIDS="$PIDS $TPID"
        sleep $delay
        stop_tracer $sig
        if lost_lock; then lock_budget=$((lock_budget - 1)); continue; fi
        break
    done
    before=$fails
    want=0
    # Before main() installs the handlers (the dynamic loader's time) the
    # default action ends the process; nothing is set up then, and it says nothing.
    if [ "$RC" != 0 ] && [ "$RC" = "$(signum $sig)" ] && [ ! -s "$T/err" ]; then
        want=$RC; early=$((early + 1))
    fi
    [ "$RC" = "$want" ] || fail "after ${delay}s/SIG$sig: exit status $RC: $(cat "$T/err")"
    bad=$(grep -iE 'error|fail|no answer|interrupted|hint:' "$T/err")
    [ -z "$bad" ] || fail "after ${delay}s/SIG$sig: error line: $bad"
    nothing_left "after ${delay}s/SIG$sig"
    [ $fails = $before ] && ok "after ${delay}s/SIG$sig: exit $RC, no error line, nothing left"
done

[ $early -lt 4 ] || fail "$early of 8 unheld runs ended before main: the handlers come too late"
[ $fails = 0 ] || exit 1
echo PASS
