#!/bin/sh
# Scenario 19: a Docker-style FORWARD ruleset as Docker writes it, loaded with
# iptables-nft-restore in a router netns (user chains, -j RETURN, an ACCEPT
# in DOCKER, the policy DROP), an iptables-legacy raw rule on the same
# packets (legacy and iptables-nft together), and a rule inserted into
# DOCKER-USER while tracing (its number and text follow). Oracles:
# iptables-nft -nvxL counters, iptables-nft-save, and `nft monitor trace`
# run beside the tracer on the same packets.
# itr-timeout: 150
. "${ITR_LIB:-${0%/*}/lib.sh}"
needs nft-rule-events
need_tracer
need_cmd nft
need_cmd iptables-nft-restore

# a (10.98.0.2) -- r (10.98.0.1 | 10.98.0.129) -- b (10.98.0.130), the
# router forwarding; permanent neighbours, no ARP.
for ns in a r b; do
	ip netns add $ns || fail "ip netns add $ns"
	ip -n $ns link set lo up
done
ip link add itr-ar type veth peer name itr-ra || fail "veth"
ip link add itr-rb type veth peer name itr-br || fail "veth"
ip link set itr-ar netns a && ip -n a link set itr-ar name veth0
ip link set itr-ra netns r && ip -n r link set itr-ra name ra
ip link set itr-rb netns r && ip -n r link set itr-rb name rb
ip link set itr-br netns b && ip -n b link set itr-br name veth0
ip -n a addr add 10.98.0.2/25 dev veth0
ip -n r addr add 10.98.0.1/25 dev ra
ip -n r addr add 10.98.0.129/25 dev rb
ip -n b addr add 10.98.0.130/25 dev veth0
for l in "a veth0" "r ra" "r rb" "b veth0"; do set -- $l; ip -n "$1" link set "$2" up; done
ip -n a route add default via 10.98.0.1
ip -n b route add default via 10.98.0.129
mac() { ip netns exec "$1" cat "/sys/class/net/$2/address"; }
ip -n a neigh replace 10.98.0.1 lladdr "$(mac r ra)" dev veth0 nud permanent
ip -n r neigh replace 10.98.0.2 lladdr "$(mac a veth0)" dev ra nud permanent
ip -n r neigh replace 10.98.0.130 lladdr "$(mac b veth0)" dev rb nud permanent
ip -n b neigh replace 10.98.0.129 lladdr "$(mac r rb)" dev veth0 nud permanent
in_ns r sysctl -qw net.ipv4.ip_forward=1
# b answers nothing (no ICMP port unreachable back through r): only the
# datagrams below cross r's FORWARD chain.
in_ns b iptables-legacy -A OUTPUT -p icmp -j DROP

in_ns r iptables-nft-restore <<'EOF' || skip "iptables-nft cannot write rules here (nf_tables)"
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
-A DOCKER -d 10.98.0.130/32 ! -i rb -o rb -p udp -m udp --dport 7001 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i rb ! -o rb -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o rb -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
EOF
# The legacy table on the same packets, before the nf_tables FORWARD chain.
in_ns r iptables-legacy -t raw -A PREROUTING -d 10.98.0.130/32 -p udp
nftc() { in_ns r iptables-nft -t filter -nvxL "$1" --line-numbers | awk -v n="$2" '$1 == n { print $2 }'; }
save_line() { in_ns r iptables-nft-save -t filter | grep -E -- "$1" | head -n 1; }

in_ns r nft monitor trace > monitor.txt 2>&1 &
MON=$!
sleep 1
tracer_start trace -N "$(netns_inode r)" --proto udp -H 10.98.0.130
in_ns a itr-net udp 10.98.0.130 7001 40091 1   # DOCKER rule 1: ACCEPT
in_ns a itr-net udp 10.98.0.130 7002 40092 1   # DOCKER returns: policy DROP
wait_lines trace '40092->10\.98\.0\.130:7002 .*chain=FORWARD rulenum=policy' 1 15 ||
	{ show_file trace; show_file trace.err; fail "no FORWARD policy line for 7002"; }
# A rule inserted while tracing: DOCKER-USER's RETURN becomes rule 2.
in_ns r iptables-nft -I DOCKER-USER 1 -p udp --dport 7003 -j ACCEPT
in_ns a itr-net udp 10.98.0.130 7003 40093 1   # DOCKER-USER rule 1 (new): ACCEPT
in_ns a itr-net udp 10.98.0.130 7004 40094 1   # DOCKER-USER rule 2 (the RETURN)
wait_lines trace '40094->10\.98\.0\.130:7004 .*chain=FORWARD rulenum=policy' 1 15 ||
	{ show_file trace; show_file trace.err; fail "no FORWARD policy line for 7004"; }
settle
tracer_stop INT
assert_eq "$TRACER_RC" 0 "tracer exit status"
sleep 0.5
kill -INT $MON 2>/dev/null; sleep 0.3; kill -9 $MON 2>/dev/null
show_file trace
show_file monitor.txt

# The oracle: counters.
assert_eq "$(nftc DOCKER 1)" 1 "DOCKER rule 1 counter (7001)"
assert_eq "$(nftc DOCKER-USER 1)" 1 "DOCKER-USER rule 1 counter (7003, inserted while tracing)"
assert_eq "$(nftc DOCKER-USER 2)" 3 "DOCKER-USER rule 2 counter (the RETURN: 7001, 7002, 7004)"
assert_eq "$(nftc DOCKER-ISOLATION-STAGE-1 2)" 3 "DOCKER-ISOLATION-STAGE-1 rule 2 counter"

esc() { printf '%s' "$1" | sed 's/[].[*^$\\/]/\\&/g'; }
F='nfttrace=\[family=ip table=filter'
P1='U:10\.98\.0\.2:40091->10\.98\.0\.130:7001 '
P2='U:10\.98\.0\.2:40092->10\.98\.0\.130:7002 '
P3='U:10\.98\.0\.2:40093->10\.98\.0\.130:7003 '
P4='U:10\.98\.0\.2:40094->10\.98\.0\.130:7004 '
J1=$(save_line '^-A FORWARD -j DOCKER-USER$')
D1=$(save_line '^-A DOCKER -d 10\.98\.0\.130')
U1=$(save_line '^-A DOCKER-USER -p udp')
[ -n "$J1" ] && [ -n "$D1" ] && [ -n "$U1" ] || fail "iptables-nft-save does not show the rules"
assert_count trace "$P1.*$F chain=FORWARD rulenum=1 handle=[0-9]+ verdict=JUMP:DOCKER-USER\] rule=\"$(esc "$J1")\"\$" 1 "7001: FORWARD rule 1, its jump and text"
assert_count trace "$P1.*$F chain=FORWARD rulenum=4 handle=[0-9]+ verdict=JUMP:DOCKER\]" 1 "7001: FORWARD rule 4 jumps to DOCKER"
assert_count trace "$P1.*$F chain=DOCKER rulenum=1 handle=[0-9]+ verdict=ACCEPT\] rule=\"$(esc "$D1")\"\$" 1 "7001: DOCKER rule 1 accepts, with its text"
assert_count trace "$P2.*$F chain=DOCKER rulenum=return " 1 "7002: the end of DOCKER"
assert_count trace "$P2.*$F chain=FORWARD rulenum=policy .*verdict=DROP" 1 "7002: FORWARD's policy drop"
assert_count trace "$P3.*$F chain=DOCKER-USER rulenum=1 handle=[0-9]+ verdict=ACCEPT\] rule=\"$(esc "$U1")\"\$" 1 "7003: the rule inserted while tracing, as rule 1 with its text"
assert_count trace "$P4.*$F chain=DOCKER-USER rulenum=(2|return) " 1 "7004: DOCKER-USER's RETURN, now rule 2"
assert_no_match trace "$P4.*chain=DOCKER-USER rulenum=1 " "7004 never hits the inserted rule"
# Legacy and iptables-nft on the same packet: the raw rule's line too.
assert_count trace "$P1.*ipttrace=\[pf=PF_INET in=ra out= table=raw chain=PREROUTING hook=0 rulenum=1\]" 1 "7001: the legacy raw rule"
if [ "$ITR_BACKEND" = netlink ]; then
	# One socket, the kernel's order: raw (priority -300) before FORWARD.
	r=$(grep -n -E "$P1.*table=raw chain=PREROUTING" trace | head -n 1 | cut -d: -f1)
	f=$(grep -n -E "$P1.*$F chain=FORWARD rulenum=1 " trace | head -n 1 | cut -d: -f1)
	[ -n "$r" ] && [ -n "$f" ] && [ "$r" -lt "$f" ] || fail "7001: the raw line ($r) comes before the FORWARD lines ($f)"
fi
# nft monitor trace beside it saw the same rule hits.
assert_match monitor.txt 'dport 7001 .*accept' "monitor: DOCKER rule 1 accepted 7001"
assert_match monitor.txt 'policy drop' "monitor: FORWARD's policy drop"
assert_no_match trace 'table=iptables_trace' "our own table's events are not shown"
assert_clean "after SIGINT"
