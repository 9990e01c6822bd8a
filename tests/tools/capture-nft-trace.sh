#!/bin/sh
# Captures the nf_tables trace fixtures of tests/unit/data/nft-trace/<kernel>/
# on the running kernel, in namespaces it creates and removes (root).
#
#   sh tests/tools/capture-nft-trace.sh OUTDIR CAPTURE ITR_NET
#
# CAPTURE: itr_nft_trace_capture (build/, or g++ -static for a VM guest);
# ITR_NET: scripts/vm/itr-net (gcc -static -O2 -o itr-net scripts/vm/itr-net.c).
# Needs ip, nft, iptables-nft, ip6tables-nft and their -save. Addresses:
# 10.77.0.0/24 and fd77::/64 only; every packet is sent by itr-net, bounded.
#
# For each scenario S it writes to OUTDIR:
#   S.trace.hex    the NFNLGRP_NFTRACE messages (itr_nft_trace_capture)
#   S.monitor.txt  `nft monitor trace` run beside it on the same packets (the oracle)
#   S.ruleset.txt  `nft -a -s list ruleset` of the traced netns, after the traffic
#   S.dump.hex     NFT_MSG_GETGEN and NFT_MSG_GETRULE dump replies there (CAPTURE -D)
#   S.ipt4.save / S.ipt6.save  iptables-nft-save / ip6tables-nft-save there
set -u

[ $# -eq 3 ] || { echo "usage: $0 OUTDIR CAPTURE ITR_NET" >&2; exit 2; }
OUT=$1 CAP=$(realpath "$2") NET=$(realpath "$3")
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
mkdir -p "$OUT" || exit 1

P=itrcap$$
NSS=""
cleanup() {
	for ns in $NSS; do ip netns del "$ns" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
die() { echo "capture-nft-trace: $*" >&2; exit 1; }

mkns() {
	ip netns add "$1" || die "ip netns add $1"
	NSS="$NSS $1"
	ip -n "$1" link set lo up
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}
addr() {  # NS DEV ADDR/LEN
	case $3 in
	*:*) ip -n "$1" addr add "$3" dev "$2" nodad || die "addr $3" ;;
	*) ip -n "$1" addr add "$3" dev "$2" || die "addr $3" ;;
	esac
}
# link NS1 DEV1 ADDRS1 NS2 DEV2 ADDRS2: a veth, addresses ("a/len a/len ..."),
# permanent neighbours both ways (no ARP or ND in the traces).
link() {
	ip link add "$P-x" type veth peer name "$P-y" || die "veth"
	ip link set "$P-x" netns "$1" name "$2" || die "move veth"
	ip link set "$P-y" netns "$4" name "$5" || die "move veth"
	for a in $3; do addr "$1" "$2" "$a"; done
	for a in $6; do addr "$4" "$5" "$a"; done
	ip -n "$1" link set "$2" up
	ip -n "$4" link set "$5" up
	m1=$(ip netns exec "$1" cat "/sys/class/net/$2/address")
	m2=$(ip netns exec "$4" cat "/sys/class/net/$5/address")
	for a in $6; do ip -n "$1" neigh replace "${a%/*}" lladdr "$m2" dev "$2" nud permanent; done
	for a in $3; do ip -n "$4" neigh replace "${a%/*}" lladdr "$m1" dev "$5" nud permanent; done
}
# mark NS RULE...: a table of ours whose prerouting chain (priority -350)
# sets nftrace on the packets of the scenario only.
mark() {
	ns=$1
	shift
	{
		echo "table inet itr_mark {"
		echo "  chain pre {"
		echo "    type filter hook prerouting priority -350; policy accept;"
		for r in "$@"; do echo "    $r meta nftrace set 1"; done
		echo "  }"
		echo "}"
	} | ip netns exec "$ns" nft -f - || die "marking table in $ns"
}
# start NS S / stop: capture and nft monitor trace around the traffic
start() {
	rm -f "$OUT/$2.ready"
	ip netns exec "$1" "$CAP" -o "$OUT/$2.trace.hex" -t 60 -r "$OUT/$2.ready" &
	CAP_PID=$!
	ip netns exec "$1" nft monitor trace > "$OUT/$2.monitor.txt" 2>&1 &
	MON_PID=$!
	i=0
	while [ ! -e "$OUT/$2.ready" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e "$OUT/$2.ready" ] || die "capture did not start"
	rm -f "$OUT/$2.ready"
	sleep 0.5  # nft monitor has no ready signal: give it time to subscribe
}
stop() {
	sleep 0.5
	kill "$MON_PID" "$CAP_PID" 2>/dev/null
	wait "$MON_PID" "$CAP_PID" 2>/dev/null
}
texts() {  # NS S
	# stdout only, as the rule-text reader gets it
	ip netns exec "$1" nft -a -s list ruleset > "$OUT/$2.ruleset.txt" 2>/dev/null
	ip netns exec "$1" "$CAP" -D -o "$OUT/$2.dump.hex" || die "rule dump in $1"
	ip netns exec "$1" iptables-nft-save > "$OUT/$2.ipt4.save" 2>/dev/null
	ip netns exec "$1" ip6tables-nft-save > "$OUT/$2.ipt6.save" 2>/dev/null
	for f in "$OUT/$2.ipt4.save" "$OUT/$2.ipt6.save"; do [ -s "$f" ] || rm -f "$f"; done
}
# src NS DEV ADDR/LEN: make ADDR the source of what NS sends on the connected route
src4() { ip -n "$1" route replace 10.77.0.0/24 dev "$2" proto kernel scope link src "$3"; }
src6() { ip -n "$1" route replace fd77::/64 dev "$2" proto kernel metric 256 src "$3"; }

# --- 1. iptables-nft INPUT with a user chain (issue 11's example) -------------------
S=ipt-input-user-chain A=${P}a B=${P}b
mkns "$A"; mkns "$B"
link "$A" veth0 "10.77.0.2/24 10.77.0.3/24" "$B" veth0 "10.77.0.1/24"
ip netns exec "$B" iptables-nft -N BLOCK || die "iptables-nft"
ip netns exec "$B" iptables-nft -A INPUT -p icmp -j BLOCK
ip netns exec "$B" iptables-nft -A BLOCK -s 10.77.0.2/32 -j DROP
mark "$B" "ip saddr { 10.77.0.2, 10.77.0.3 } icmp type echo-request"
start "$B" $S
src4 "$A" veth0 10.77.0.2; ip netns exec "$A" "$NET" ping 10.77.0.1 7701 1 1 >/dev/null  # dropped by BLOCK rule 1
src4 "$A" veth0 10.77.0.3; ip netns exec "$A" "$NET" ping 10.77.0.1 7702 1 1 >/dev/null  # BLOCK returns, policy ACCEPT
stop
texts "$B" $S
# The same netns, text only (no traffic): a comment that tries to look like
# more rules (quotes, a newline, an -A line, a handle) ...
ip netns exec "$B" iptables-nft -A INPUT -p udp -m comment --comment "$(printf 'say "hi"\n-A INPUT -j DROP\n\t\tip saddr 10.77.0.9 drop # handle 99')" -j ACCEPT
texts "$B" ipt-comment
# ... and a native rule in the iptables-nft table, which iptables-nft-save refuses.
ip netns exec "$B" nft add rule ip filter INPUT ct state established accept
texts "$B" ipt-incompatible
rm -f "$OUT/ipt-comment.ipt6.save" "$OUT/ipt-incompatible.ipt6.save"

# --- 2. Docker-style FORWARD written with iptables-nft, in a router netns -----------
S=ipt-forward-docker A=${P}c R=${P}r B=${P}d
mkns "$A"; mkns "$R"; mkns "$B"
link "$A" veth0 "10.77.0.2/25" "$R" ra "10.77.0.1/25"
link "$R" rb "10.77.0.129/25" "$B" veth0 "10.77.0.130/25"
ip -n "$A" route add default via 10.77.0.1
ip -n "$B" route add default via 10.77.0.129
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$R" iptables-nft-restore <<'EOF' || die "iptables-nft-restore"
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o rb -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o rb -j DOCKER
-A FORWARD -i rb ! -o rb -j ACCEPT
-A FORWARD -i rb -o rb -j ACCEPT
-A DOCKER -d 10.77.0.130/32 ! -i rb -o rb -p udp -m udp --dport 7001 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i rb ! -o rb -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o rb -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
EOF
mark "$R" "ip saddr 10.77.0.2 udp dport { 7001, 7002 }"
start "$R" $S
ip netns exec "$A" "$NET" udp 10.77.0.130 7001 40001 1  # DOCKER rule 1: ACCEPT
ip netns exec "$A" "$NET" udp 10.77.0.130 7002 40002 1  # DOCKER returns: policy DROP
stop
texts "$R" $S

# --- 3. a native inet table: comment, set, verdict map, jump, goto, return, policy --
S=inet-native A=${P}e B=${P}f
mkns "$A"; mkns "$B"
link "$A" veth0 "10.77.0.2/24 10.77.0.3/24 10.77.0.4/24 fd77::2/64" "$B" veth0 "10.77.0.1/24 fd77::1/64"
ip netns exec "$B" nft -f - <<'EOF' || die "inet ruleset"
table inet itr_fw {
	set blocked4 {
		type ipv4_addr
		elements = { 10.77.0.3 }
	}
	map udp_verdicts {
		type inet_service : verdict
		elements = { 7001 : jump udp_ok, 7002 : goto udp_reject }
	}
	chain input {
		type filter hook input priority filter; policy drop;
		ip saddr @blocked4 counter drop comment "blocked by the set"
		meta l4proto { icmp, ipv6-icmp } counter jump icmp_in comment "icmp # handle 99"
		udp dport vmap @udp_verdicts
		meta mark 0x00000042 accept
	}
	chain icmp_in {
		counter comment "two
		ip saddr 10.77.0.9 drop # handle 98
lines"
		ip saddr 10.77.0.4 return comment "explicit return"
		icmp type echo-request counter accept
		icmpv6 type echo-request counter accept
	}
	chain udp_ok {
		meta mark set 0x00000007 counter
		udp sport 40001 accept
	}
	chain udp_reject {
		counter reject
	}
}
EOF
mark "$B" "ip daddr 10.77.0.1 meta l4proto { icmp, udp }" "ip6 saddr fd77::2 icmpv6 type echo-request"
start "$B" $S
src4 "$A" veth0 10.77.0.2; ip netns exec "$A" "$NET" ping 10.77.0.1 7711 1 1 >/dev/null  # jump icmp_in, accept
src4 "$A" veth0 10.77.0.4; ip netns exec "$A" "$NET" ping 10.77.0.1 7712 1 1 >/dev/null  # explicit return, policy drop
src4 "$A" veth0 10.77.0.3; ip netns exec "$A" "$NET" ping 10.77.0.1 7713 1 1 >/dev/null  # set: drop
src4 "$A" veth0 10.77.0.2
ip netns exec "$A" "$NET" udp 10.77.0.1 7001 40001 1  # vmap jump udp_ok: mark, accept
ip netns exec "$A" "$NET" udp 10.77.0.1 7002 40002 1  # vmap goto udp_reject: reject
ip netns exec "$A" "$NET" udp 10.77.0.1 7003 40003 1  # no vmap entry: policy drop
ip netns exec "$A" "$NET" ping fd77::1 7714 1 1 >/dev/null  # IPv6 through the inet table
stop
texts "$B" $S

# --- 4. ip6tables-nft INPUT with a user chain ---------------------------------------
S=ip6t-input-user-chain A=${P}g B=${P}h
mkns "$A"; mkns "$B"
link "$A" veth0 "fd77::2/64 fd77::3/64" "$B" veth0 "fd77::1/64"
ip netns exec "$B" ip6tables-nft -N BLOCK6 || die "ip6tables-nft"
ip netns exec "$B" ip6tables-nft -A INPUT -p ipv6-icmp --icmpv6-type echo-request -j BLOCK6
ip netns exec "$B" ip6tables-nft -A BLOCK6 -s fd77::2/128 -j DROP
mark "$B" "ip6 saddr { fd77::2, fd77::3 } icmpv6 type echo-request"
start "$B" $S
src6 "$A" veth0 fd77::2; ip netns exec "$A" "$NET" ping fd77::1 7721 1 1 >/dev/null  # dropped by BLOCK6 rule 1
src6 "$A" veth0 fd77::3; ip netns exec "$A" "$NET" ping fd77::1 7722 1 1 >/dev/null  # return, policy ACCEPT
stop
texts "$B" $S

for f in "$OUT"/*.trace.hex; do
	echo "$(basename "$f"): $(grep -vc '^#' "$f") messages; $(grep -c '^trace id' "${f%.trace.hex}.monitor.txt") monitor lines"
done
