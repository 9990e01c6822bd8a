#!/bin/sh
# The guest side of scripts/vmdemo.sh: a small ruleset with a DROP, a little
# traffic between two namespaces, and the tracer's real output.
. "${ITR_LIB:-${0%/*}/lib.sh}"
need_tracer

say() { printf '\n>>> %s\n' "$*"; }
netns_pair client server
say "server ruleset (iptables-legacy in netns 'server'):"
in_ns server iptables-legacy -N blocked
in_ns server iptables-legacy -A blocked -p tcp --dport 23 -j DROP
in_ns server iptables-legacy -A INPUT -p icmp -j ACCEPT
in_ns server iptables-legacy -A INPUT -p tcp -j blocked
in_ns server iptables-legacy -A INPUT -p tcp --dport 80 -j ACCEPT
in_ns server iptables-legacy -A INPUT -p udp --dport 53 -j REJECT
in_ns server iptables-legacy -S

say "iptables-trace -N <server netns> (traffic: ping, TCP to 80 and 23, UDP to 53)"
tracer_start trace -N "$(netns_inode server)"
in_ns server itr-net tcp-serve "$NS2_V4" 80 10 &
sleep 0.3
in_ns client itr-net ping "$NS2_V4" 4242 1 2 >/dev/null
in_ns client itr-net tcp "$NS2_V4" 80 40080 5 >/dev/null
in_ns client itr-net tcp "$NS2_V4" 23 40023 2 >/dev/null
in_ns client itr-net udp "$NS2_V4" 53 40053
sleep 2
tracer_stop
cat trace
say "tracer's stderr:"
cat trace.err
say "the same counters, as iptables sees them:"
in_ns server iptables-legacy -nvxL --line-numbers
