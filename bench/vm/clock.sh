#!/bin/sh
# Benchmark helper (not a test of the tracer): how the guest's clocks behave,
# printed as "ITR-BENCH vm_clock ..." lines, so that a run with QEMU -icount
# (scripts/vmtest.sh --icount) can be compared with one without.
#
#   sleep_ms     `sleep 1` measured with CLOCK_MONOTONIC (itr-net now): about
#                1000 whatever the mode; with -icount sleep=off an idle vCPU
#                jumps to its next timer, so this costs almost no host time
#   timeout_ms   `timeout 1 sleep 5`: a guest timeout still fires after 1 s
#                of guest time (and the exit status is the timeout's)
#   loop_ms      a fixed shell loop (20000 iterations): guest time that
#                grows with the instructions executed; with -icount it is
#                the same from boot to boot and under any host load
#   uptime_s     guest uptime at the end (compare with vmtest's GUEST_S,
#                the host seconds of the whole boot)
# Run: scripts/vmtest.sh --kernel 6.1 --backend module --icount --scenario bench/vm/clock.sh
# itr-timeout: 120
. "${ITR_LIB:-${0%/*}/lib.sh}"
need_cmd itr-net
itr-net now >/dev/null 2>&1 || skip "itr-net lacks the benchmark commands (now)"
[ "$ITR_BACKEND" = module ] || skip "backend-independent: runs once, with the module backend"

t0=$(itr-net now); sleep 1; t1=$(itr-net now)
sleep_ms=$(((t1 - t0) / 1000000))
t0=$(itr-net now); timeout 1 sleep 5; trc=$?; t1=$(itr-net now)
timeout_ms=$(((t1 - t0) / 1000000))
loops=""
n=0
while [ $n -lt 3 ]; do
	t0=$(itr-net now)
	i=0; while [ $i -lt 20000 ]; do i=$((i + 1)); done
	t1=$(itr-net now)
	loops="$loops${loops:+,}$(((t1 - t0) / 1000000))"
	n=$((n + 1))
done
echo "ITR-BENCH vm_clock icount=${ITR_ICOUNT:-off} sleep_ms=$sleep_ms timeout_ms=$timeout_ms timeout_rc=$trc loop_ms=$loops uptime_s=$(cut -d' ' -f1 /proc/uptime)"
[ "$sleep_ms" -ge 990 ] && [ "$sleep_ms" -lt 1500 ] || fail "sleep 1 took $sleep_ms ms of guest time"
[ "$timeout_ms" -ge 990 ] && [ "$timeout_ms" -lt 1500 ] || fail "timeout 1 took $timeout_ms ms of guest time"
[ "$trc" -ne 0 ] || fail "timeout 1 sleep 5 exited 0"
