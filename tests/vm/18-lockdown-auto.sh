#!/bin/sh
# Scenario 18: a Secure Boot machine, as far as a VM can be one: booted with
# lockdown=integrity (scripts/vmtest.sh --append "lockdown=integrity
# module.sig_enforce=1"), the kernel refuses our unsigned module. `auto`
# must say so and pick the bpf backend, which then traces with table
# verdicts; the module is never inserted.
# itr-timeout: 120
. "${ITR_LIB:-${0%/*}/lib.sh}"
[ "$ITR_BACKEND" = bpf ] || skip "runs once, with the backend auto picks under lockdown (bpf)"
need_tracer
grep -q '\[integrity\]\|\[confidentiality\]' /sys/kernel/security/lockdown 2>/dev/null ||
	skip "not booted with lockdown (vmtest.sh --append lockdown=integrity)"
log "lockdown: $(cat /sys/kernel/security/lockdown)"

iptables-legacy -A OUTPUT -p udp --dport 7788 -j ACCEPT
ITR_TRACER_ARGS="--backend auto -v" tracer_start trace -P 7788 --proto udp
itr-net udp 127.0.0.1 7788 40080 2
wait_lines trace "$(table_re PF_INET filter OUTPUT ACCEPT)" 2 15 ||
	{ show_file trace; show_file trace.err; fail "no OUTPUT verdicts under lockdown"; }
settle
module_loaded && fail "our module was inserted under lockdown"
tracer_stop INT
assert_eq "$TRACER_RC" 0 "tracer exit status"
show_file trace.err
assert_match trace.err 'using the bpf backend: the module backend cannot run here \(modules: kernel lockdown \(integrity\) refuses unsigned modules\)' "auto says why the module backend was passed over"
assert_match trace.err 'tracing with the bpf backend' "auto picked the bpf backend"
assert_count trace "U:127\.0\.0\.1:40080->127\.0\.0\.1:7788 .*$(table_re PF_INET filter OUTPUT ACCEPT)" 2 "OUTPUT verdicts of both datagrams"
assert_clean "after SIGINT"
