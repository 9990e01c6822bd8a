#!/bin/sh
# Scenario 5: TCP and UDP across a veth between two namespaces; each filter
# really filters: -N, -P, -H (IPv4 and IPv6), --proto, --icmpid, -p.
# A packet that does not match produces no line, one that matches does.
# itr-timeout: 300
. "${ITR_LIB:-${0%/*}/lib.sh}"
needs table-verdicts pid-filter
need_tracer

netns_pair a b
ip -n b addr add 10.99.0.3/24 dev veth0
ip -n b addr add fd00:99::3/64 dev veth0 nodad
static_neigh a 10.99.0.3 b
static_neigh a fd00:99::3 b
for ns in a b; do
	in_ns $ns iptables-legacy -A INPUT -j ACCEPT
	in_ns $ns iptables-legacy -A OUTPUT -j ACCEPT
	in_ns $ns ip6tables-legacy -A INPUT -j ACCEPT
	in_ns $ns ip6tables-legacy -A OUTPUT -j ACCEPT
done
A=$(netns_inode a) B=$(netns_inode b)
in_ns a itr-net ping fd00:99::3 1 1 2 >/dev/null   # neighbour discovery out of the way
in_ns a itr-net ping "$NS2_V6" 1 1 2 >/dev/null

stop_and_show() { # stop_and_show FILE WAIT_ERE
	wait_lines "$1" "$2" 1 15 || true
	settle
	tracer_stop
	assert_eq "$TRACER_RC" 0 "tracer exit status ($1)"
	show_file "$1"
}

log "TCP and UDP, no filter but the netns: -N picks b"
in_ns b itr-net tcp-serve "$NS2_V4" 8080 20 &
tracer_start n.trace -N "$B"
in_ns a itr-net tcp "$NS2_V4" 8080 40030 5 >/dev/null || fail "TCP connect"
in_ns a itr-net udp "$NS2_V4" 7000 40031
stop_and_show n.trace 'U:10\.99\.0\.1:40031->10\.99\.0\.2:7000 .*iptables='
assert_match n.trace "\[$B\] .*T_SYN:10\.99\.0\.1:40030->10\.99\.0\.2:8080 .*chain=INPUT" "TCP SYN in b"
assert_match n.trace "\[$B\] .*T_(SYN,ACK|ACK,SYN):10\.99\.0\.2:8080->10\.99\.0\.1:40030 .*chain=OUTPUT" "TCP SYN,ACK out of b"
assert_match n.trace "\[$B\] .*U:10\.99\.0\.1:40031->10\.99\.0\.2:7000 .*chain=INPUT" "UDP in b"
assert_no_match n.trace "\[$A\]" "-N b: no line from netns a"
tracer_start n2.trace -N "$A"
in_ns a itr-net udp "$NS2_V4" 7000 40032
stop_and_show n2.trace 'U:.*40032'
assert_match n2.trace "\[$A\] .*U:10\.99\.0\.1:40032->10\.99\.0\.2:7000 .*chain=OUTPUT" "-N a: UDP out of a"
assert_no_match n2.trace "\[$B\]" "-N a: no line from netns b"

log "-P 7000"
tracer_start p.trace -P 7000
in_ns a itr-net udp "$NS2_V4" 7001 40033
in_ns a itr-net udp "$NS2_V4" 7000 40034
stop_and_show p.trace 'U:.*40034'
assert_match p.trace 'U:10\.99\.0\.1:40034->10\.99\.0\.2:7000 .*ipttrace=' "-P 7000 matches"
assert_no_match p.trace ':7001 |:40033' "-P 7000 leaves port 7001 out"

log "-H 10.99.0.3 (IPv4)"
tracer_start h4.trace -H 10.99.0.3
in_ns a itr-net udp "$NS2_V4" 7000 40035
in_ns a itr-net udp 10.99.0.3 7000 40036
stop_and_show h4.trace 'U:.*40036'
assert_match h4.trace 'U:10\.99\.0\.1:40036->10\.99\.0\.3:7000 .*ipttrace=' "-H 10.99.0.3 matches"
assert_no_match h4.trace '10\.99\.0\.2' "-H 10.99.0.3 leaves 10.99.0.2 out"

log "-H fd00:99::3 (IPv6)"
tracer_start h6.trace -H fd00:99::3
in_ns a itr-net udp "$NS2_V6" 7000 40037
in_ns a itr-net udp fd00:99::3 7000 40038
stop_and_show h6.trace 'U:.*40038'
assert_match h6.trace 'U:\[fd00:99::1\]:40038->\[fd00:99::3\]:7000 .*ipttrace=\[pf=PF_INET6' "-H fd00:99::3 matches"
assert_no_match h6.trace 'fd00:99::2\]|40037' "-H fd00:99::3 leaves fd00:99::2 out"
assert_no_match h6.trace 'pf=PF_INET ' "-H IPv6: no IPv4 lines"

log "--proto udp"
in_ns b itr-net tcp-serve "$NS2_V4" 8081 20 &
tracer_start pr.trace -N "$B" --proto udp
in_ns a itr-net tcp "$NS2_V4" 8081 40039 5 >/dev/null || fail "TCP connect"
in_ns a itr-net ping "$NS2_V4" 5 1 2 >/dev/null
in_ns a itr-net udp "$NS2_V4" 7000 40040
stop_and_show pr.trace 'U:.*40040'
assert_match pr.trace 'U:10\.99\.0\.1:40040->10\.99\.0\.2:7000 ' "--proto udp matches UDP"
assert_no_match pr.trace ' (T_[A-Z,]+|I_request|I_reply|I):' "--proto udp leaves TCP and ICMP out"

log "--proto icmp --icmpid 1111"
tracer_start ic.trace -N "$B" --proto icmp --icmpid 1111
in_ns a itr-net ping "$NS2_V4" 2222 1 2 >/dev/null
in_ns a itr-net ping "$NS2_V4" 1111 1 2 >/dev/null
in_ns a itr-net ping "$NS2_V4" 2222 1 2 >/dev/null
stop_and_show ic.trace 'I_reply:.*hook=OUTPUT'
# Exactly one echo request (INPUT of b) and one reply (OUTPUT of b): one rule line and one table line each.
assert_count ic.trace 'I_request:10\.99\.0\.1->10\.99\.0\.2 .*ipttrace=' 1 "--icmpid: one request rule line"
assert_count ic.trace 'I_reply:10\.99\.0\.2->10\.99\.0\.1 .*ipttrace=' 1 "--icmpid: one reply rule line"
assert_count ic.trace 'I_request:.*iptables=' 1 "--icmpid: one request table line"

log "-p PID"
mkfifo go1 go2
in_ns a sh -c 'echo $$ > pid1; read x < go1; exec itr-net udp 10.99.0.2 7100 40041' &
in_ns a sh -c 'echo $$ > pid2; read x < go2; exec itr-net udp 10.99.0.2 7200 40042' &
wait_lines pid1 . 1 5 && wait_lines pid2 . 1 5 || fail "sender processes did not start"
tracer_start pid.trace -p "$(cat pid1)"
echo go > go2; echo go > go1
stop_and_show pid.trace 'U:.*40041.*iptables=\[.*hook=OUTPUT'
assert_match pid.trace "U:10\.99\.0\.1:40041->10\.99\.0\.2:7100 .*chain=OUTPUT" "-p: the chosen sender's packet"
assert_match pid.trace " $(cat pid1) " "-p: PID column"
assert_no_match pid.trace ':7200 ' "-p: the other sender's packet is left out"
assert_clean "end"
