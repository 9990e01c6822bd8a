#!/bin/sh
# Every event is either shown or counted as lost, also when the tracer is
# stopped right after a burst that overflowed its perf buffer: the kernel
# reports a loss only with the next sample it can take, so the last burst's
# losses come from the BPF side's own count of refused outputs. And what was
# buffered before Ctrl-C is still shown.
#
# In netns b: an instantiated (empty) raw table and one filter INPUT rule
# that drops UDP 7000. Each datagram makes exactly 4 events: raw and filter
# table returns, raw's policy and filter's rule 1 (nf_log_trace). The
# oracle is rule 1's packet counter; the tracer runs with a one-page buffer
# per CPU (about 15 events) so a burst of 1500 datagrams must overflow it.
. "${ITR_LIB:-${0%/*}/lib.sh}"
needs perf-loss
need_tracer
need_cmd jq

N=1500
netns_pair a b
in_ns b iptables-legacy -t raw -nL >/dev/null
in_ns b iptables-legacy -A INPUT -p udp --dport 7000 -j DROP
IPT_NS=b
before=$(ipt_rule_pkts filter INPUT 1)

tracer_start trace --json -B 1 -N b --proto udp -P 7000 --no-rule-text
in_ns a itr-net udp "$NS2_V4" 7000 40000 "$N" || fail "udp burst"
tracer_stop INT
assert_eq "$TRACER_RC" 0 "tracer exit status"
sent=$(($(ipt_rule_pkts filter INPUT 1) - before))
assert_eq "$sent" "$N" "datagrams counted by rule 1"

jq -c . trace > /dev/null 2> jq.err || { show_file jq.err; fail "--json output does not parse"; }
shown=$(jq -r 'select(.kind != "lost") | .kind' trace | wc -l)
lost=$(jq -r 'select(.kind == "lost") | .count' trace | awk '{ s += $1 } END { print s + 0 }')
summary_lost=$(sed -n 's/.*events \([0-9]*\), lost \([0-9]*\);.*/\2/p' trace.err | tail -n 1)
summary_events=$(sed -n 's/.*events \([0-9]*\), lost \([0-9]*\);.*/\1/p' trace.err | tail -n 1)
log "sent $N, shown $shown, lost $lost (summary: events $summary_events, lost $summary_lost)"
assert_ge "$lost" 1 "a one-page buffer overflowed"
assert_eq "$((shown + lost))" "$((4 * N))" "events shown + lost"
assert_eq "$summary_lost" "$lost" "lost in the summary and in the output"
assert_eq "$summary_events" "$shown" "events in the summary and in the output"
per_kind=$(jq -r 'select(.kind != "lost") | .kind' trace | sort | uniq -c | awk '{ printf "%s=%s ", $2, $1 }')
log "shown by kind: $per_kind"
