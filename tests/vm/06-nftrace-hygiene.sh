#!/bin/sh
# Scenario 6: nf_trace hygiene.
#  - an administrator's own TRACE rule on another flow still logs TRACE lines to
#    dmesg while the tracer runs (only our packets are silenced);
#  - our own packets log nothing to dmesg;
#  - a packet that does not match the filter never gets nf_trace (the module's
#    "marked" counter does not move for it);
#  - only the packets asked about carry nf_trace into nf_tables (how nf_tables
#    reports its rules, nfttrace= lines): nft monitor trace, beside the
#    tracer, sees port 7777 and never the packets the filter leaves out (a
#    positive control shows it works).
# itr-timeout: 200
. "${ITR_LIB:-${0%/*}/lib.sh}"
needs kernel-module
need_tracer
need_cmd nft

# TRACE output needs a logger bound for IPv4 in this netns.
[ -e /proc/sys/net/netfilter/nf_log/2 ] || skip "no nf_log sysctl (netfilter logging unavailable)"
grep -q nf_log /proc/sys/net/netfilter/nf_log/2 || echo nf_log_ipv4 > /proc/sys/net/netfilter/nf_log/2 2>/dev/null
grep -q nf_log /proc/sys/net/netfilter/nf_log/2 || skip "no IPv4 logger can be bound (nf_log_syslog / nf_log_ipv4 missing)"

iptables-legacy -t raw -A OUTPUT -p udp --dport 9999 -j TRACE
iptables-legacy -A INPUT -p udp -j ACCEPT
iptables-legacy -A OUTPUT -p udp -j ACCEPT
# An nftables chain after the filter table (priority 100 > 0) with a positive
# control: nftrace set on port 9998 only.
nft -f - <<'NFT' || fail "nft ruleset"
table ip itr6 {
	chain out {
		type filter hook output priority 100; policy accept;
		udp dport 9998 meta nftrace set 1
		udp dport 7777 counter
	}
}
NFT
nft monitor trace > monitor.txt 2>&1 &
MON=$!
sleep 1

dmesg > dmesg0.txt
tracer_start trace -P 7777 --proto udp
m0=$(mod_param marked)
[ -n "$m0" ] || fail "module counters not readable under /sys/module/iptables_trace/parameters/"
log "counters at start: marked=$m0 skipped=$(mod_param skipped) silenced=$(mod_param silenced) admin_passed=$(mod_param admin_passed)"

# Not matching the filter: no mark.
itr-net udp 127.0.0.1 6666 40050 5
sleep 0.5
m1=$(mod_param marked)
assert_eq "$m1" "$m0" "marked counter after 5 packets that do not match the filter"
# The administrator's TRACE flow, also not ours.
itr-net udp 127.0.0.1 9999 40051 2
sleep 0.5
assert_eq "$(mod_param marked)" "$m0" "marked counter after the administrator's TRACE flow"
# Our flow.
itr-net udp 127.0.0.1 7777 40052 3
# The positive control for nft monitor trace.
itr-net udp 127.0.0.1 9998 40053 1
wait_lines trace 'U:127\.0\.0\.1:40052->127\.0\.0\.1:7777 .*hook=INPUT' 3 15 || true
settle
m2=$(mod_param marked); s2=$(mod_param silenced); a2=$(mod_param admin_passed)
log "counters after traffic: marked=$m2 skipped=$(mod_param skipped) silenced=$s2 admin_passed=$a2"
[ "$m2" -gt "$m0" ] || fail "marked did not move for the packets that match the filter"
[ "${s2:-0}" -gt 0 ] || fail "silenced stayed 0: our own TRACE calls were not silenced"
tracer_stop TERM
assert_eq "$TRACER_RC" 0 "tracer exit status after SIGTERM"
show_file trace
show_file trace.err
sleep 1
kill -INT $MON 2>/dev/null; sleep 0.5; kill -9 $MON 2>/dev/null
show_file monitor.txt

dmesg > dmesg1.txt
# The lines dmesg1 adds to dmesg0. Not "NR == FNR": /init clears the ring
# before each scenario, so dmesg0 is often empty, and then NR == FNR holds
# for every line of dmesg1 too and nothing would count as new.
awk 'FILENAME == ARGV[1] { seen[$0] = 1; next } !($0 in seen)' dmesg0.txt dmesg1.txt > dmesg-new.txt
show_file dmesg-new.txt
assert_match trace 'U:127\.0\.0\.1:40052->127\.0\.0\.1:7777 .*chain=OUTPUT' "our flow is traced"
assert_no_match trace ':6666 |:9999 |:9998 ' "nothing but port 7777 is traced"
# After the TRACE target: raw OUTPUT's policy, filter OUTPUT rule 1, ... INPUT.
assert_match dmesg-new.txt 'TRACE: raw:OUTPUT:policy:2 .*DPT=9999' "the administrator's TRACE rule still logs (raw OUTPUT)"
assert_match dmesg-new.txt 'TRACE: filter:INPUT:rule:1 .*DPT=9999' "the administrator's TRACE rule still logs (filter INPUT)"
assert_no_match dmesg-new.txt 'TRACE: .*DPT=7777' "our packets log no TRACE line"
assert_no_match dmesg-new.txt 'TRACE: .*DPT=6666' "unmatched packets log no TRACE line"
assert_match monitor.txt 'dport 9998' "positive control: nft monitor trace sees nftrace packets"
assert_no_match monitor.txt 'dport 6666' "packets the filter leaves out carry no nf_trace"
assert_match trace 'U:127\.0\.0\.1:40052->127\.0\.0\.1:7777 .*nfttrace=\[family=ip table=itr6 chain=out rulenum=2 ' "the nftables chain's counter rule, seen by nf_tables' own trace"
# The exit summary keeps the final counters visible.
fm=$(summary_counter trace.err marked)
[ -n "$fm" ] || fail "no 'module: marked=N ...' summary on stderr"
[ "$fm" -ge "$m2" ] || fail "summary marked=$fm below the live value $m2"
nft delete table ip itr6
assert_clean "after SIGTERM"
