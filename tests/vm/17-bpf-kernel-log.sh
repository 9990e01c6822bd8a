#!/bin/sh
# Scenario 17: the bpf backend and the kernel log, as the README states it.
# Without a module nothing can silence one packet's TRACE lines, so while
# the bpf backend runs, nf_log/2 and nf_log/10 of the traced netns point at
# nfnetlink_log and the tracer holds its group 0:
#  - our packets log nothing to the kernel log;
#  - an administrator's own TRACE rule logs nothing there either while it
#    runs (its records reach the tracer, which drops them), and logs again
#    once it has stopped (the previous logger is back);
#  - the administrator's TRACE packets are not reported as ours (nf_log_trace
#    fires for them too: only the packet of a traced table call counts).
# itr-timeout: 150
. "${ITR_LIB:-${0%/*}/lib.sh}"
[ "$ITR_BACKEND" = bpf ] || skip "what the bpf backend does to the kernel log (the $ITR_BACKEND backend: scenarios 06, 08)"
need_tracer

[ -e /proc/sys/net/netfilter/nf_log/2 ] || skip "no nf_log sysctl (netfilter logging unavailable)"
grep -q nf_log /proc/sys/net/netfilter/nf_log/2 || echo nf_log_ipv4 > /proc/sys/net/netfilter/nf_log/2 2>/dev/null
grep -q nf_log /proc/sys/net/netfilter/nf_log/2 || echo nf_log_syslog > /proc/sys/net/netfilter/nf_log/2 2>/dev/null
LOGGER=$(cat /proc/sys/net/netfilter/nf_log/2)
case $LOGGER in nf_log*) ;; *) skip "no IPv4 logger can be bound (nf_log_syslog / nf_log_ipv4 missing)" ;; esac

iptables-legacy -t raw -A OUTPUT -p udp --dport 9999 -j TRACE
iptables-legacy -A INPUT -p udp --dport 7777 -j ACCEPT
iptables-legacy -A INPUT -p udp -j ACCEPT

# new_dmesg BEFORE AFTER OUT: the lines AFTER adds to BEFORE
new_dmesg() { awk 'FILENAME == ARGV[1] { seen[$0] = 1; next } !($0 in seen)' "$1" "$2" > "$3"; }

# Positive control: the administrator's rule logs before the tracer runs.
dmesg > d0.txt
itr-net udp 127.0.0.1 9999 40070 1
sleep 0.5
dmesg > d1.txt
new_dmesg d0.txt d1.txt before.txt
assert_match before.txt 'TRACE: raw:OUTPUT:.*DPT=9999' "control: the administrator's TRACE rule logs before the tracer runs"

tracer_start trace -P 7777 --proto udp
assert_eq "$(cat /proc/sys/net/netfilter/nf_log/2)" nfnetlink_log "nf_log/2 while the bpf backend runs"
# Group 0 is held for records nobody reads: metadata only (copy_mode 1).
cat /proc/net/netfilter/nfnetlink_log
assert_eq "$(awk '$1 == 0 { print $4 }' /proc/net/netfilter/nfnetlink_log)" 1 "group 0: copy_mode META"
itr-net udp 127.0.0.1 9999 40071 2
itr-net udp 127.0.0.1 7777 40072 3
wait_lines trace "U:127\\.0\\.0\\.1:40072->127\\.0\\.0\\.1:7777 .*$(table_re PF_INET filter INPUT ACCEPT)" 3 15 ||
	{ show_file trace; show_file trace.err; fail "no INPUT verdicts for the traced datagrams"; }
settle
sleep 0.5
dmesg > d2.txt
tracer_stop TERM
assert_eq "$TRACER_RC" 0 "tracer exit status after SIGTERM"
show_file trace
show_file trace.err
new_dmesg d1.txt d2.txt during.txt
show_file during.txt
assert_eq "$(cat /proc/sys/net/netfilter/nf_log/2)" "$LOGGER" "nf_log/2 after the tracer stopped"

# After: the administrator's rule logs again.
itr-net udp 127.0.0.1 9999 40073 1
sleep 0.5
dmesg > d3.txt
new_dmesg d2.txt d3.txt after.txt

assert_no_match during.txt 'TRACE: ' "no TRACE line reaches the kernel log while the bpf backend runs"
assert_match after.txt 'TRACE: raw:OUTPUT:.*DPT=9999' "the administrator's TRACE rule logs again once the tracer stopped"
P='U:127\.0\.0\.1:40072->127\.0\.0\.1:7777 '
assert_count trace "$P.*$(rule_re filter INPUT 1 1)" 3 "our datagrams' rule line (INPUT rule 1)"
assert_count trace "$P.*$(table_re PF_INET filter INPUT ACCEPT)" 3 "INPUT verdicts of our 3 datagrams"
assert_no_match trace ':9999 ' "the administrator's TRACE packets are not reported"
assert_clean "after SIGTERM"

# kill -9: what outlives the process (its kretprobe events in tracefs, the
# marking table where the kernel has no owner flag, the logger binding) is
# removed at once by its guard; with the guard killed too, by --cleanup. Each
# time the administrator's logger is back.
KE=/sys/kernel/tracing/kprobe_events
tracer_start trace8 -P 7777 --proto udp
grep -q '^r[0-9]*:itr/itr_' "$KE" 2>/dev/null || log "no kretprobe event of ours in $KE (made through the PMU)"
tracer_kill9
wait_clean 10 "kill -9 of the tracer, its guard"
assert_no_match "$KE" '^r[0-9]*:itr/itr_' "no kretprobe event of ours left after the guard"
assert_eq "$(cat /proc/sys/net/netfilter/nf_log/2)" "$LOGGER" "nf_log/2 after kill -9, the guard"
assert_match trace8.err "guard: pid [0-9]+ ended without releasing" "the guard says what happened"
tracer_start trace9 -P 7777 --proto udp
tracer_kill9 both
iptables-trace --cleanup > cleanup.out 2>&1 || { show_file cleanup.out; fail "--cleanup after kill -9"; }
show_file cleanup.out
assert_no_match "$KE" '^r[0-9]*:itr/itr_' "no kretprobe event of ours left after --cleanup"
assert_eq "$(cat /proc/sys/net/netfilter/nf_log/2)" "$LOGGER" "nf_log/2 after kill -9 and --cleanup"
assert_clean "after kill -9 and --cleanup"
