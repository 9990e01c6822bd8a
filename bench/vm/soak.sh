#!/bin/sh
# Soak (issue 13): for ITR_SOAK_SECONDS (default 3600) of guest time, start
# and stop the tracer every few seconds, rotating the backends (module, bpf,
# netlink) and the way it ends (SIGINT, SIGTERM, SIGHUP, SIGKILL of the
# tracer alone, SIGKILL of tracer and guard together), while untraced UDP
# flows past it and iptables-legacy and nf_tables rules change under it.
# Each run: 20 traced datagrams sent once it is ready; the oracle is the
# kernel's counter of the rule that takes them. After each run:
#   - a run that was stopped with a signal it handles exits 0, and every
#     traced datagram's rule line is shown or the summary counts a loss;
#   - nothing is left (module, pins, nft table, state file, logger binding):
#     at once after a handled signal, after its guard's work (up to 10 s)
#     after SIGKILL, and after the next start's clean-up when both died;
#   - the kernel log has no WARNING/BUG/Oops and no TRACE line of ours.
# Ends with "ITR-SOAK ..." figures. Not part of the functional matrix:
#   scripts/vmtest.sh --kernel 6.1 --backend module --scenario bench/vm/soak.sh
# (the guest binary built for the kernel carries all three backends).
# itr-timeout: 4500
. "${ITR_LIB:-${0%/*}/lib.sh}"
needs kernel-module
need_tracer
need_cmd itr-net nft

SECS=${ITR_SOAK_SECONDS:-3600}
N=20
netns_pair a b
in_ns b iptables-legacy -t raw -nL >/dev/null
in_ns b iptables-legacy -A INPUT -p udp --dport 7000 -j DROP      # rule 1: the traced flow
in_ns b iptables-legacy -A INPUT -p udp --dport 7001 -j ACCEPT    # rule 2: untraced traffic
in_ns b nft add table inet soak
in_ns b nft add chain inet soak in '{ type filter hook input priority 10; policy accept; }'
IPT_NS=b
dmesg -c > /dev/null

start=$(cut -d. -f1 /proc/uptime); deadline=$((start + SECS))
now() { cut -d. -f1 /proc/uptime; }

# Untraced traffic and rule churn, both bounded by the deadline.
( while [ "$(now)" -lt "$deadline" ]; do in_ns a itr-net udp "$NS2_V4" 7001 41000 50 >/dev/null 2>&1; sleep 0.2; done ) &
TRAFFIC=$!
( i=0; while [ "$(now)" -lt "$deadline" ]; do
	i=$((i + 1))
	in_ns b iptables-legacy -A INPUT -p udp --dport $((7100 + i % 50)) -m comment --comment "churn $i" -j ACCEPT
	in_ns b nft add rule inet soak in udp dport $((7200 + i % 50)) counter comment "\"churn $i\""
	sleep 0.5
	in_ns b iptables-legacy -D INPUT 3 2>/dev/null
	in_ns b nft flush chain inet soak in
  done ) &
CHURN=$!
trap 'kill $TRAFFIC $CHURN 2>/dev/null; _itr_exit' EXIT

runs=0 handled=0 killed=0 killedboth=0 sent=0 shown=0 lost_runs=0 lost=0 late=0
pending_stale=no
while [ "$(now)" -lt "$deadline" ]; do
	runs=$((runs + 1))
	be=$(echo module bpf netlink | cut -d' ' -f$((runs % 3 + 1)))
	how=$(echo INT TERM HUP KILL BOTH | cut -d' ' -f$((RANDOM % 5 + 1)))
	out=run.trace
	rm -f "$out" "$out.err"
	ITR_TRACER_ARGS="--backend $be"
	tracer_start "$out" -N b --proto udp -P 7000 --no-rule-text
	if [ $pending_stale = yes ]; then
		assert_match "$out.err" "removed a stale instance|restored nf_log|removed stale" "run $runs ($be): the start after a kill of tracer and guard removes what they left"
		pending_stale=no
	fi
	k0=$(ipt_rule_pkts filter INPUT 1)
	in_ns a itr-net udp "$NS2_V4" 7000 40000 $N > /dev/null || fail "run $runs: udp"
	k=$(($(ipt_rule_pkts filter INPUT 1) - k0))
	sent=$((sent + k))
	wait_lines "$out" "$(rule_re filter INPUT 1 1)" "$k" 10 || late=$((late + 1))
	case $how in
	INT | TERM | HUP)
		tracer_stop "$how"
		assert_eq "$TRACER_RC" 0 "run $runs ($be, SIG$how): exit status"
		got=$(grep -Ec "$(rule_re filter INPUT 1 1)" "$out")
		l=$(sed -n 's/.*events [0-9]*, lost \([0-9]*\).*/\1/p' "$out.err" | tail -n 1)
		[ -n "$l" ] || { show_file "$out.err"; fail "run $runs ($be, SIG$how): no summary"; }
		shown=$((shown + got)); lost=$((lost + l))
		[ "$l" -gt 0 ] && lost_runs=$((lost_runs + 1))
		[ "$got" -eq "$k" ] || [ "$l" -gt 0 ] ||
			{ show_file "$out.err"; fail "run $runs ($be, SIG$how): $k datagrams, $got rule lines shown, none counted lost"; }
		assert_clean "run $runs ($be, SIG$how)"
		handled=$((handled + 1)) ;;
	KILL)
		tracer_kill9
		_i=0
		while [ -n "$(_left_behind)" ] && [ $_i -lt 200 ]; do sleep 0.1; _i=$((_i + 1)); done
		if [ -n "$(_left_behind)" ]; then
			show_file "$out.err"; ps w 2>/dev/null | grep -v ' \[' | tail -n 30
			fail "run $runs ($be, SIGKILL: its guard): after 20 s: $(_left_behind | head -n 1)"
		fi
		killed=$((killed + 1)) ;;
	BOTH)
		tracer_kill9 both
		pending_stale=yes
		killedboth=$((killedboth + 1)) ;;
	esac
	in_ns b nft list table inet iptables_trace >/dev/null 2>&1 && [ "$how" != BOTH ] &&
		fail "run $runs ($be, $how): nft table inet iptables_trace left in netns b"
	if dmesg | grep -Eq 'WARNING:|BUG:|Oops|TRACE: '; then
		dmesg | tail -n 40
		fail "run $runs ($be, $how): the kernel log has a warning or a TRACE line"
	fi
	rm -f "$out" "$out.err"
done
kill $TRAFFIC $CHURN 2>/dev/null; wait $TRAFFIC $CHURN 2>/dev/null
iptables-trace --cleanup > cleanup.out 2>&1 || { show_file cleanup.out; fail "final --cleanup"; }
assert_clean "end of the soak"
elapsed=$(($(now) - start))
echo "ITR-SOAK seconds=$elapsed runs=$runs handled=$handled sigkill=$killed sigkill_both=$killedboth traced_datagrams=$sent rule_lines_shown=$shown lost_events=$lost runs_with_loss=$lost_runs runs_with_late_lines=$late"
exit 0
