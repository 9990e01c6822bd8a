#!/bin/sh
# Benchmark (not a test): the netlink backend under a bounded flood, on this
# machine's own kernel. Two fresh network namespaces joined by a veth
# (10.99.0.1 in A, 10.99.0.2 in B, nothing else is ever addressed); in B a
# legacy filter INPUT chain of 10 non-matching rules, then a DROP for UDP
# port 7000 (no ICMP error goes back). A sends COUNT datagrams as fast as
# it can (itr-net udp-timed, bounded); the tracer runs with -N B -H 10.99.0.1
# --proto udp, so every datagram is traced (TRACE records delivered by
# nfnetlink_log).
#
# Runs, each on a fresh flood:
#   app     iptables-trace --backend netlink (its socket buffer: 8 MiB, SO_RCVBUFFORCE)
#   rcvbuf=0, 8M, 32M  itr_netlink_probe --rcvbuf N (0 = the kernel default, net.core.rmem_default)
# Prints one line per run:
#   netlink run=... rcvbuf=... sent=... flood_pps=... records_read=... lost=... read_per_s=...
# read_per_s counts records from the first datagram until the output stopped
# growing (drain included). lost is the backend's own count (sequence gaps, a
# lower bound after a buffer overrun); expected is datagrams x records per
# datagram (measured in a slow calibration run).
#
# usage: sh bench/netlink_flood.sh BUILD_DIR [COUNT]   (root; COUNT default 100000)
BUILD=${1:?usage: netlink_flood.sh BUILD_DIR [COUNT]}
COUNT=${2:-100000}
SRC=$(cd "$(dirname "$0")/.." && pwd)
skip() { echo "netlink SKIP $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root"
for c in ip iptables-legacy gcc timeout; do command -v $c >/dev/null 2>&1 || skip "$c not installed"; done
APP=$BUILD/iptables-trace PROBE=$BUILD/itr_netlink_probe
[ -x "$APP" ] && [ -x "$PROBE" ] || skip "no $APP or $PROBE (build first)"
[ -e /proc/net/netfilter/nfnetlink_log ] || modprobe nfnetlink_log 2>/dev/null
[ -e /proc/net/netfilter/nfnetlink_log ] || skip "no nfnetlink_log"

T=$(mktemp -d)
NET=$T/itr-net
gcc -O2 -o "$NET" "$SRC/scripts/vm/itr-net.c" || skip "cannot build itr-net"
A=itrbnA$$ B=itrbnB$$
TPID=
cleanup() {
	[ -n "$TPID" ] && kill -9 "$TPID" 2>/dev/null
	ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

ip netns add $A && ip netns add $B || skip "cannot create network namespaces"
ip link add b$$a type veth peer name b$$b || skip "cannot create a veth"
ip link set b$$a netns $A && ip link set b$$b netns $B
ip -n $A addr add 10.99.0.1/24 dev b$$a; ip -n $B addr add 10.99.0.2/24 dev b$$b
for n in $A $B; do ip -n $n link set lo up; done
ip -n $A link set b$$a up; ip -n $B link set b$$b up
ip -n $A neigh replace 10.99.0.2 lladdr "$(ip netns exec $B cat /sys/class/net/b$$b/address)" dev b$$a nud permanent
inA() { ip netns exec $A "$@"; }
inB() { ip netns exec $B "$@"; }
i=0
while [ $i -lt 10 ]; do inB iptables-legacy -A INPUT -s 10.0.$i.0/24 -j DROP || skip "iptables-legacy does not work"; i=$((i + 1)); done
inB iptables-legacy -A INPUT -p udp --dport 7000 -j DROP
sleep 1   # carrier

size() { wc -l < "$T/out" 2>/dev/null || echo 0; }

# run NAME COUNT CMD...: start the tracer, flood, wait until the output is stable, stop.
run() {
	name=$1 n=$2; shift 2
	rm -f "$T/ready" "$T/out" "$T/err"
	"$@" -N $B -H 10.99.0.1 --proto udp --ready-file "$T/ready" > "$T/out" 2> "$T/err" &
	TPID=$!
	"$NET" wait-file "$T/ready" 20 > /dev/null || { cat "$T/err"; echo "netlink FAIL $name: tracer not ready"; kill -9 $TPID; TPID=; return 1; }
	sleep 0.3
	t0=$("$NET" now)
	r=$(inA "$NET" udp-timed 10.99.0.2 7000 40000 "$n")
	# until the output stops growing (no new line for 300 ms; bounded: 60 s);
	# t1 is when it last grew
	cur=$(size) t1=$("$NET" now) stable=0 k=0
	while [ $stable -lt 6 ] && [ $k -lt 1200 ]; do
		sleep 0.05; k=$((k + 1)); c=$(size)
		if [ "$c" != "$cur" ]; then cur=$c t1=$("$NET" now) stable=0; else stable=$((stable + 1)); fi
	done
	"$NET" kill-wait $TPID 2 20 > /dev/null; wait $TPID; TPID=
	sent=$(echo "$r" | awk '{ print $2 }') fns=$(echo "$r" | awk '{ print $4 }')
	rd=$(grep -c 'ipttrace=' "$T/out")
	summ=$(grep -E 'events [0-9]+, lost' "$T/err" | tail -n 1)
	lost=$(echo "$summ" | sed -n 's/.*lost \(at least \)\{0,1\}\([0-9][0-9]*\).*/\2/p')
	[ -n "$lost" ] || lost=$(echo "$summ" | grep -q 'unknown number' && echo '?' || echo 0)
	overran=$(echo "$summ" | sed -n 's/.*overran \([0-9]*\) times.*/\1/p')
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
	LINE="run=$name sent=$sent flood_pps=$((sent * 1000000000 / fns)) records_read=$rd lost=$lost overruns=${overran:-0}"
	LINE="$LINE read_per_s=$(awk -v r="$rd" -v s="$secs" 'BEGIN { printf "%d", r / s }') secs=$secs"
}

# Calibration: records per datagram at a slow pace.
run calib 200 "$APP" --backend netlink || exit 1
per=$(awk -v r="$rd" -v s="$sent" 'BEGIN { printf "%.2f", r / s }')
echo "netlink calibration: $rd records for $sent datagrams ($per per datagram; chain: 10 non-matching rules + DROP)"
for spec in "app:$APP --backend netlink" "rcvbuf=0:$PROBE --rcvbuf 0" "rcvbuf=8M:$PROBE --rcvbuf 8388608" \
	    "rcvbuf=32M:$PROBE --rcvbuf 33554432"; do
	name=${spec%%:*} cmd=${spec#*:}
	# shellcheck disable=SC2086
	run "$name" "$COUNT" $cmd || continue
	echo "netlink $LINE expected=$(awk -v s="$sent" -v p="$per" 'BEGIN { printf "%d", s * p }')"
done
