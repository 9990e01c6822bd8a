#!/bin/sh
# Scenario 8: lifecycle. -c N, SIGINT, SIGTERM, SIGHUP, a closed stdout pipe
# (head -n 1), an error half-way through set-up, kill -9 of the tracer (its
# guard cleans up), kill -9 of tracer and guard followed by a new run and by
# --cleanup. After each: no module in /proc/modules, no pins in bpffs.
# (The guest checks dmesg for BUG/WARNING/Oops and the taint after the scenario.)
# itr-timeout: 400
. "${ITR_LIB:-${0%/*}/lib.sh}"
needs kernel-module
need_tracer

iptables-legacy -A INPUT -p icmp -j ACCEPT
iptables-legacy -A OUTPUT -p icmp -j ACCEPT
ping_some() { itr-net ping 127.0.0.1 "${1:-4848}" "${2:-1}" 2 >/dev/null; }
events() { grep -c 'I_re' "$1"; }

log "-c 3"
tracer_start c.trace --proto icmp -c 3
ping_some 4848 3
tracer_wait 30
assert_eq "$TRACER_RC" 0 "exit status with -c 3"
assert_eq "$(events c.trace)" 3 "event lines with -c 3"
head -n 1 c.trace | grep -q '^TIME' || fail "-c 3: no header line"
assert_clean "-c 3"

for sig in INT TERM HUP; do
	log "SIG$sig"
	tracer_start s.$sig --proto icmp
	ping_some
	wait_lines s.$sig 'I_reply' 1 15 || true
	tracer_stop $sig
	assert_eq "$TRACER_RC" 0 "exit status after SIG$sig"
	assert_ge "$(events s.$sig)" 1 "events before SIG$sig"
	assert_clean "SIG$sig"
done

log "stdout closed: | head -n 1"
mkfifo pipe
head -n 1 < pipe > head.out &
HEADPID=$!
_itr_n=$((_itr_n + 1))
iptables-trace $ITR_TRACER_ARGS --ready-file ready.pipe --proto icmp > pipe 2> pipe.err &
TRACER_PID=$!
i=0; while [ ! -e ready.pipe ] && [ $i -lt $((ITR_READY_TIMEOUT * 10)) ]; do sleep 0.1; i=$((i + 1)); done
[ -e ready.pipe ] || { show_file pipe.err; fail "tracer into a pipe never got ready"; }
ping_some 4848 3
i=0; while kill -0 $TRACER_PID 2>/dev/null && [ $i -lt 30 ]; do ping_some 4848 1; i=$((i + 1)); done
tracer_wait 20
assert_eq "$TRACER_RC" 0 "exit status when stdout's reader is gone"
wait $HEADPID
assert_eq "$(wc -l < head.out)" 1 "head got one line"
assert_clean "closed stdout"

log "error half-way through set-up: a module file that cannot be inserted"
printf 'not a module\n' > bogus.ko
iptables-trace $ITR_TRACER_ARGS --kmod "$ITR_WORK/bogus.ko" --proto icmp -c 1 > bad.out 2> bad.err
rc=$?
show_file bad.err
[ "$rc" -ne 0 ] || fail "a bogus module file must make the run fail"
assert_clean "failed module insertion"

log "error half-way through set-up: a perf buffer the guest cannot allocate"
iptables-trace $ITR_TRACER_ARGS -B 1G --proto icmp -c 1 > big.out 2> big.err &
TRACER_PID=$!
( sleep 2; ping_some 4848 1 ) &
tracer_wait 60
show_file big.err
[ "$TRACER_RC" -ne 0 ] || note_big=1
assert_clean "perf buffer allocation failure"

log "kill -9 of the tracer: its guard removes the module and pins at once, no new run needed"
tracer_start g.trace --proto icmp
G=$(guard_of "$TRACER_PID")
[ -n "$G" ] || fail "no guard process beside the tracer"
ping_some 4848 1
tracer_kill9
wait_clean 10 "kill -9 of the tracer, its guard"
show_file g.trace.err
assert_match g.trace.err "guard: pid [0-9]+ ended without releasing" "the guard says what happened"
kill -0 "$G" 2>/dev/null && fail "the guard is still running after its work"

log "kill -9 of tracer and guard (a cgroup kill): marking stops with the owner; then a new run cleans up and traces"
tracer_start k.trace --proto icmp
assert_eq "$(mod_param armed)" 1 "the module is armed while its owner runs"
assert_eq "$(mod_param owner_pid)" "$TRACER_PID" "the module names its owner"
ping_some 4848 1
m0=$(mod_param marked)
assert_ge "$m0" 1 "packets marked while the owner runs"
tracer_kill9 both
module_loaded || fail "with its guard killed too, the module should outlive a kill -9 (only a new run or --cleanup removes it)"
assert_eq "$(mod_param armed)" 0 "the module disarmed itself when its owner died"
ping_some 4848 2
assert_eq "$(mod_param marked)" "$m0" "no packet marked after the owner died"
[ -n "$(pins_left)" ] && log "stale pins: $(pins_left)"
tracer_start k2.trace --proto icmp
ping_some
wait_lines k2.trace 'I_reply' 1 15 || true
tracer_stop INT
assert_eq "$TRACER_RC" 0 "exit status of the run after kill -9"
assert_ge "$(events k2.trace)" 1 "the run after kill -9 traces"
show_file k2.trace.err
assert_clean "run after kill -9"

log "kill -9 of tracer and guard, then --cleanup"
tracer_start k3.trace --proto icmp
tracer_kill9 both
stale=no; { module_loaded || [ -n "$(pins_left)" ]; } && stale=yes
iptables-trace --cleanup > cleanup.out 2> cleanup.err
rc=$?
show_file cleanup.out; show_file cleanup.err
assert_eq "$rc" 0 "--cleanup exit status"
if [ $stale = yes ]; then
	grep -Eqi 'remov|unload|clean' cleanup.out cleanup.err || fail "--cleanup did not say what it removed"
fi
assert_clean "--cleanup"
iptables-trace --cleanup > /dev/null 2>&1 || fail "--cleanup with nothing to remove must succeed"
[ -n "${note_big:-}" ] && log "note: -B 1G did not fail in a 256M guest (no mid-set-up error exercised by it)"
exit 0
