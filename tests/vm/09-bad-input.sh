#!/bin/sh
# Scenario 9: each invalid flag value gives exit status 2, one line on stderr
# starting "iptables-trace: ", and nothing loaded (no module, no pins, no nft
# table, logger bindings unchanged), with each backend; and what a backend
# cannot do is refused the same way.
# itr-timeout: 200
. "${ITR_LIB:-${0%/*}/lib.sh}"
need_tracer

bad=0
nflog0=$(cat /proc/sys/net/netfilter/nf_log/2 /proc/sys/net/netfilter/nf_log/10 2>/dev/null)
check() { # check ARGS...: with the backend under test
	check_cmd iptables-trace $ITR_TRACER_ARGS "$@"
}
check_cmd() { # check_cmd CMD...
	"$@" > out.txt 2> err.txt < /dev/null
	rc=$?
	lines=$(wc -l < err.txt)
	first=$(head -n 1 err.txt)
	problem=
	[ "$rc" -eq 2 ] || problem="exit status $rc"
	case $first in "iptables-trace: "*) ;; *) problem="$problem; stderr does not start with 'iptables-trace: '" ;; esac
	[ "$lines" -eq 1 ] || problem="$problem; $lines stderr lines"
	[ -s out.txt ] && problem="$problem; stdout not empty"
	module_loaded && problem="$problem; module loaded"
	[ -n "$(pins_left)" ] && problem="$problem; pins left"
	grep -q '^nf_tables ' /proc/modules && nft list tables 2>/dev/null | grep -q iptables_trace &&
		problem="$problem; nft table left"
	[ "$(cat /proc/sys/net/netfilter/nf_log/2 /proc/sys/net/netfilter/nf_log/10 2>/dev/null)" = "$nflog0" ] ||
		problem="$problem; logger bindings changed"
	if [ -n "$problem" ]; then
		echo "BAD: $* -> ${problem#; }"
		sed 's/^/    | /' err.txt | head -n 5
		bad=$((bad + 1))
		iptables-trace --cleanup >/dev/null 2>&1
	else
		echo "ok:  $* -> $first"
	fi
}
check -H 300.1.1.1
check -H not-an-address
check -H 10.0.0.0/8
check -H fd00::zz
check --proto sctpx
check --proto ""
check -P 0
check -P 65536
check -P http
check -P -1
check --icmpid 65536
check --icmpid -1
check --icmpid abc
check -p 0
check -p -5
check -p abc
check -N 0
check -N abc123-no-such-netns
check -N pid:999999
check -c -1
check -c abc
check -B 3
check -B 0
check -B lots
check_cmd iptables-trace --backend nope
check --no-such-flag
check -P
# What the backend under test cannot do is bad input too, refused before set-up.
has_cap pid-filter || check -p 1
has_cap table-verdicts || check --fate
has_cap table-verdicts || check --drops-only
[ "$bad" -eq 0 ] || fail "$bad invalid invocations were not refused as specified"
assert_clean "end"
