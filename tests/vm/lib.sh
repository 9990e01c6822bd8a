# Helpers shared by the VM scenarios (POSIX sh, busybox). A scenario starts with
#   . "${ITR_LIB:-${0%/*}/lib.sh}"
# and its exit status is its result: 0 PASS, 77 SKIP (skip "reason"), other FAIL.
# The guest (scripts/vm/init) runs it as root in an empty work directory
# ($ITR_WORK) with iptables-trace, iptables-legacy, ip6tables-legacy, nft,
# /usr/sbin/ip, busybox and itr-net (scripts/vm/itr-net.c) on PATH.
# After the scenario the guest kills what is left, flushes the rulesets,
# deletes namespaces and veths, and fails the scenario if the tracer's module
# or pins stayed behind or the kernel log shows BUG/WARNING/Oops.

ITR_WORK=${ITR_WORK:-$(pwd)}
ITR_REASON_FILE=${ITR_REASON_FILE:-/dev/null}
ITR_READY_TIMEOUT=${ITR_READY_TIMEOUT:-60}   # seconds; BPF loading under TCG is slow
TRACER_PID=
# The backend under test (the guest runs every scenario once per backend).
ITR_BACKEND=${ITR_BACKEND:-module}
ITR_TRACER_ARGS=${ITR_TRACER_ARGS---backend $ITR_BACKEND}
TRACER_RC=
_itr_n=0

# Busybox's shell runs its own applet before PATH: always use iproute2's ip.
ip() { /usr/sbin/ip "$@"; }

log() { echo "# $*"; }
fail() {
	echo "FAIL: $*" >&2
	echo "$*" > "$ITR_REASON_FILE"
	exit 1
}
skip() {
	echo "SKIP: $*"
	echo "$*" > "$ITR_REASON_FILE"
	exit 77
}

# A tool the initramfs should carry: a skip on a developer's run, a failure
# on CI (ITR_CI=1), where it means scripts/vm/mkinitramfs.sh lost it.
need_cmd() {
	command -v "$1" >/dev/null 2>&1 && return 0
	[ "${ITR_CI:-0}" = 1 ] && fail "$1 is not in the guest (under CI a missing tool is a failure)"
	skip "$1 is not available"
}
need_tracer() { need_cmd iptables-trace; }

# --- what the backend under test promises (README, "How it works") -------------
#   rule-events       ipttrace= lines for legacy tables (every backend)
#   table-verdicts    iptables= lines with verdict and cost; --fate, --drops-only
#   pid-filter        -p
#   skb-identity      the skb address and CPU columns
#   perf-loss         per-CPU loss accounting of a perf buffer
#   nft-chains        nft= lines for nf_tables base chains
#   nft-rule-events   nfttrace= lines: each nf_tables rule (iptables-nft, native)
#   kernel-module     our module (its counters, its insertion, --kmod)
backend_caps() {
	case $ITR_BACKEND in
	module) echo "rule-events table-verdicts pid-filter skb-identity perf-loss nft-chains nft-rule-events kernel-module" ;;
	bpf) echo "rule-events table-verdicts pid-filter skb-identity perf-loss nft-chains nft-rule-events" ;;
	netlink) echo "rule-events nft-rule-events" ;;
	*) echo "" ;;
	esac
}
has_cap() { case " $(backend_caps) " in *" $1 "*) return 0 ;; esac; return 1; }
# needs CAP...: skip, with the reason, on a backend that lacks one
needs() {
	for _cap in "$@"; do
		has_cap "$_cap" || skip "the $ITR_BACKEND backend has no $_cap"
	done
}
# The last line a traced packet produces: its table verdict where the backend
# reports one, else its rule lines.
if has_cap table-verdicts; then DONE_RE='iptables='; else DONE_RE='ipttrace='; fi

# --- assertions --------------------------------------------------------------
assert_eq() { # assert_eq ACTUAL EXPECTED WHAT
	[ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"
}
assert_ge() { # assert_ge ACTUAL MIN WHAT
	[ "$1" -ge "$2" ] 2>/dev/null || fail "$3: got '$1', expected at least $2"
}
assert_match() { # assert_match FILE ERE WHAT: at least one line matches
	grep -Eq -- "$2" "$1" || { show_file "$1"; fail "$3: no line matches /$2/ in ${1##*/}"; }
}
assert_no_match() { # assert_no_match FILE ERE WHAT
	if grep -Eq -- "$2" "$1"; then
		grep -E -- "$2" "$1" | head -n 5
		fail "$3: unexpected line matching /$2/ in ${1##*/}"
	fi
}
assert_count() { # assert_count FILE ERE N WHAT: exactly N lines match
	_c=$(grep -Ec -- "$2" "$1")
	[ "$_c" -eq "$3" ] || { show_file "$1"; fail "$4: $_c lines match /$2/, expected $3"; }
}
show_file() { # print a file for the log, bounded: the first 50 and last 30 lines
	_n=$(wc -l < "$1" 2>/dev/null)
	echo "----- ${1##*/} ($_n lines)"
	if [ "${_n:-0}" -le 80 ]; then cat "$1" 2>/dev/null
	else head -n 50 "$1"; echo "[... $((_n - 80)) lines ...]"; tail -n 30 "$1"; fi
	echo "-----"
}

# kernel_before MAJOR MINOR: the running kernel is older than MAJOR.MINOR
kernel_before() {
	_r=$(uname -r); _maj=${_r%%.*}; _rest=${_r#*.}; _min=${_rest%%[!0-9]*}
	[ "$_maj" -lt "$1" ] || { [ "$_maj" -eq "$1" ] && [ "$_min" -lt "$2" ]; }
}

# --- namespaces ----------------------------------------------------------------
# netns_pair NS1 NS2: two namespaces joined by a veth (NS1:veth0 <-> NS2:veth0),
# 10.99.0.1/24 + fd00:99::1/64 in NS1, 10.99.0.2/24 + fd00:99::2/64 in NS2, lo up.
NS1_V4=10.99.0.1 NS2_V4=10.99.0.2 NS1_V6=fd00:99::1 NS2_V6=fd00:99::2
netns_pair() {
	ip netns add "$1" || fail "ip netns add $1"
	ip netns add "$2" || fail "ip netns add $2"
	ip link add itr-a type veth peer name itr-b || fail "cannot create a veth"
	ip link set itr-a netns "$1" || fail "move veth to $1"
	ip link set itr-b netns "$2" || fail "move veth to $2"
	ip -n "$1" link set itr-a name veth0
	ip -n "$2" link set itr-b name veth0
	for _ns in "$1" "$2"; do
		ip -n "$_ns" link set lo up
		ip netns exec "$_ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 >/dev/null 2>&1
	done
	ip -n "$1" addr add "$NS1_V4/24" dev veth0
	ip -n "$2" addr add "$NS2_V4/24" dev veth0
	ip -n "$1" addr add "$NS1_V6/64" dev veth0 nodad
	ip -n "$2" addr add "$NS2_V6/64" dev veth0 nodad
	ip -n "$1" link set veth0 up
	ip -n "$2" link set veth0 up
	# Permanent neighbours: no ARP or neighbour discovery moves a counter.
	_m1=$(ip netns exec "$1" cat /sys/class/net/veth0/address)
	_m2=$(ip netns exec "$2" cat /sys/class/net/veth0/address)
	ip -n "$1" neigh replace "$NS2_V4" lladdr "$_m2" dev veth0 nud permanent
	ip -n "$1" neigh replace "$NS2_V6" lladdr "$_m2" dev veth0 nud permanent
	ip -n "$2" neigh replace "$NS1_V4" lladdr "$_m1" dev veth0 nud permanent
	ip -n "$2" neigh replace "$NS1_V6" lladdr "$_m1" dev veth0 nud permanent
	# Bounded wait for the link (carrier) on both ends.
	_i=0
	while [ $_i -lt 50 ]; do
		ip netns exec "$1" itr-net ping "$NS2_V4" 1 1 1 >/dev/null 2>&1 && break
		_i=$((_i + 1))
	done
	[ $_i -lt 50 ] || fail "veth between $1 and $2 does not pass traffic"
}
# static_neigh NS ADDR PEER_NS: a permanent neighbour entry for an extra address of PEER_NS
static_neigh() {
	ip -n "$1" neigh replace "$2" lladdr "$(ip netns exec "$3" cat /sys/class/net/veth0/address)" dev veth0 nud permanent
}
# in_ns NS CMD...: run in a namespace
in_ns() { _ns=$1; shift; ip netns exec "$_ns" "$@"; }
# netns_inode NS | netns_inode (the current namespace)
netns_inode() {
	if [ $# -gt 0 ]; then stat -L -c %i "/run/netns/$1"; else stat -L -c %i /proc/self/ns/net; fi
}

# --- iptables counters (the oracle) -----------------------------------------------
# ipt_rule_pkts [-6] TABLE CHAIN NUM: packet counter of rule NUM (from -nvxL --line-numbers)
# ipt_policy_pkts [-6] TABLE CHAIN: packet counter of a built-in chain's policy
# Both run in the current netns; wrap with "in_ns NS" by setting IPT_NS=NS.
_ipt() {
	_cmd=iptables-legacy
	[ "$1" = -6 ] && { _cmd=ip6tables-legacy; shift; }
	if [ -n "${IPT_NS:-}" ]; then ip netns exec "$IPT_NS" $_cmd "$@"; else $_cmd "$@"; fi
}
ipt_rule_pkts() {
	_f=; [ "$1" = -6 ] && { _f=-6; shift; }
	_ipt $_f -t "$1" -nvxL "$2" --line-numbers | awk -v n="$3" '$1 == n { print $2; f = 1 } END { if (!f) print -1 }'
}
ipt_policy_pkts() {
	_f=; [ "$1" = -6 ] && { _f=-6; shift; }
	_ipt $_f -t "$1" -nvxL "$2" | sed -n '1s/.*policy [A-Z]* \([0-9]*\) packets.*/\1/p'
}
# ipt_snapshot [-6] TABLE CHAIN FILE: "num pkts" per rule and "policy pkts"
ipt_snapshot() {
	_f=; [ "$1" = -6 ] && { _f=-6; shift; }
	{
		_ipt $_f -t "$1" -nvxL "$2" --line-numbers | awk 'NR > 2 && $1 ~ /^[0-9]+$/ { print $1, $2 }'
		_p=$(ipt_policy_pkts $_f "$1" "$2")
		[ -n "$_p" ] && echo "policy $_p"
	} > "$3"
}
# ipt_moved OLD NEW: the rule numbers (or "policy") whose counters moved, one a line
ipt_moved() {
	# FILENAME, not NR == FNR: an empty OLD file would make every NEW line "old".
	awk 'FILENAME == ARGV[1] { old[$1] = $2; next } ($1 in old) && $2 != old[$1] { print $1 }' "$1" "$2"
}

# --- the tracer -----------------------------------------------------------------------
# tracer_start OUT [ARGS...]: start iptables-trace in the background with its
# stdout in OUT and stderr in OUT.err, wait for its ready file. Sets TRACER_PID.
tracer_start() {
	_out=$1; shift
	_itr_n=$((_itr_n + 1))
	_ready=$ITR_WORK/.ready.$_itr_n
	rm -f "$_ready"
	iptables-trace --ready-file "$_ready" $ITR_TRACER_ARGS "$@" > "$_out" 2> "$_out.err" &
	TRACER_PID=$!
	_i=0
	while [ ! -e "$_ready" ]; do
		if ! kill -0 "$TRACER_PID" 2>/dev/null; then
			wait "$TRACER_PID"; TRACER_RC=$?; TRACER_PID=
			show_file "$_out.err"
			fail "iptables-trace $* exited ($TRACER_RC) before it was ready"
		fi
		_i=$((_i + 1))
		[ $_i -le $((ITR_READY_TIMEOUT * 10)) ] || { show_file "$_out.err"; fail "iptables-trace $* not ready after ${ITR_READY_TIMEOUT}s"; }
		sleep 0.1
	done
}
# tracer_stop [SIGNAL]: signal the tracer (INT), wait up to 20 s; sets TRACER_RC.
tracer_stop() {
	[ -n "$TRACER_PID" ] || return 0
	kill -"${1:-INT}" "$TRACER_PID" 2>/dev/null
	tracer_wait 20
}
# tracer_wait SECS: wait for the tracer to exit on its own; sets TRACER_RC.
tracer_wait() {
	_i=0
	while kill -0 "$TRACER_PID" 2>/dev/null; do
		_i=$((_i + 1))
		if [ $_i -gt $(($1 * 10)) ]; then
			kill -9 "$TRACER_PID" 2>/dev/null
			wait "$TRACER_PID" 2>/dev/null
			TRACER_PID=
			fail "iptables-trace did not exit within $1 s"
		fi
		sleep 0.1
	done
	wait "$TRACER_PID"; TRACER_RC=$?
	TRACER_PID=
}
# wait_lines FILE ERE N [SECS]: wait (bounded) until N lines of FILE match
wait_lines() {
	_i=0
	# grep -c prints 0 and fails when nothing matches: no "|| echo 0" here.
	while _c=$(grep -Ec -- "$2" "$1" 2>/dev/null); [ "${_c:-0}" -lt "$3" ]; do
		_i=$((_i + 1))
		[ $_i -le $((${4:-10} * 10)) ] || return 1
		sleep 0.1
	done
	return 0
}
# settle: let the perf buffer drain before stopping the tracer
settle() { sleep "${1:-1}"; }

module_loaded() { grep -q '^iptables_trace ' /proc/modules; }
pins_left() { ls -d /sys/fs/bpf/iptables-trace* 2>/dev/null; }
# assert_clean WHAT: no module, no pins; in this netns no nft table of
# ours, no state file, and the IPv4/IPv6 loggers not left on nfnetlink_log
# (they are bound to it only by a running netlink or bpf backend)
_left_behind() {
	module_loaded && echo "module iptables_trace still loaded"
	[ -z "$(pins_left)" ] || echo "pins left in bpffs: $(pins_left)"
	if command -v nft >/dev/null 2>&1 && nft list table inet iptables_trace >/dev/null 2>&1; then
		echo "nft table inet iptables_trace left behind"
	fi
	ls /run/iptables-trace/*.state >/dev/null 2>&1 && echo "state file left: $(ls /run/iptables-trace/*.state)"
	for _pf in 2 10; do
		[ "$(cat /proc/sys/net/netfilter/nf_log/$_pf 2>/dev/null)" = nfnetlink_log ] &&
			echo "nf_log/$_pf left bound to nfnetlink_log"
	done
	return 0
}
assert_clean() {
	_left=$(_left_behind)
	[ -z "$_left" ] || fail "$1: $(echo "$_left" | head -n 1)"
	return 0
}
# wait_clean SECS WHAT: until nothing of ours is left (bounded), then
# assert_clean: what a killed tracer's guard removes takes a moment.
wait_clean() {
	_i=0
	while [ -n "$(_left_behind)" ] && [ $_i -lt $(($1 * 10)) ]; do sleep 0.1; _i=$((_i + 1)); done
	assert_clean "$2"
}

# guard_of PID: the pid of tracer PID's guard (src/guard.hpp: a process
# named itr-guard, the tracer's child), empty if none.
guard_of() {
	for _d in /proc/[0-9]*; do
		[ "$(cat "$_d/comm" 2>/dev/null)" = itr-guard ] || continue
		read -r _gp _ _ _pp _ 2>/dev/null < "$_d/stat" || continue
		[ "$_pp" = "$1" ] && { echo "$_gp"; return 0; }
	done
	return 0
}
# tracer_kill9 [both]: SIGKILL the tracer (and, with "both", its guard at
# the same moment, as a cgroup kill does); reaps it.
tracer_kill9() {
	_g=
	[ "${1:-}" = both ] && _g=$(guard_of "$TRACER_PID")
	[ "${1:-}" = both ] && [ -z "$_g" ] && fail "no guard process beside the tracer (pid $TRACER_PID)"
	kill -9 "$TRACER_PID" $_g
	wait "$TRACER_PID" 2>/dev/null
	TRACER_PID=
}

_itr_exit() {
	if [ -n "$TRACER_PID" ] && kill -INT "$TRACER_PID" 2>/dev/null; then
		_i=0
		while kill -0 "$TRACER_PID" 2>/dev/null && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
		kill -9 "$TRACER_PID" 2>/dev/null
	fi
	return 0
}
trap _itr_exit EXIT

# --- trace lines ----------------------------------------------------------------------
# ERE fragments for the two kinds of line.
# rule_re TABLE CHAIN HOOKNUM RULENUM  (RULENUM: a number, return or policy)
rule_re() { printf 'table=%s chain=%s hook=%s rulenum=%s\\]' "$1" "$2" "$3" "$4"; }
# table_re PF TABLE HOOKNAME VERDICT
table_re() { printf 'iptables=\\[pf=%s table=%s hook=%s verdict=%s cost=' "$1" "$2" "$3" "$4"; }

# rulenums_in FILE PKT_ERE TABLE CHAIN: the distinct rulenum values the trace
# names for that chain on lines matching PKT_ERE, sorted, space-separated
rulenums_in() {
	grep -E -- "$2" "$1" | grep -F "table=$3 chain=$4 " |
		sed -n 's/.*rulenum=\([^]]*\)\].*/\1/p' | grep -vx return | sort -u | tr '\n' ' '
}
# oracle_check TRACE PKT_ERE TABLE CHAIN BEFORE AFTER: the rules (and
# policy) whose counters moved between the snapshots BEFORE and AFTER are
# exactly the ones the trace names for that chain (a user chain's "return"
# has no counter: check it with its own assertion).
# ORACLE_IGNORE="policy 3": counters that unrelated traffic may move (say why).
oracle_check() {
	_moved=$(ipt_moved "$5" "$6" | grep -vxF -e _none_ $(for _x in ${ORACLE_IGNORE:-}; do printf -- '-e %s ' "$_x"; done) | sort -u | tr '\n' ' ')
	_seen=$(rulenums_in "$1" "$2" "$3" "$4" | tr ' ' '\n' | grep -vxF -e _none_ $(for _x in ${ORACLE_IGNORE:-}; do printf -- '-e %s ' "$_x"; done) | grep . | tr '\n' ' ')
	[ "$_moved" = "$_seen" ] || { show_file "$1"; fail "$3/$4: iptables counters moved for [ $_moved] but the trace names [ $_seen]"; }
}
# assert_table FILE ERE N WHAT: N table-verdict lines match where the backend
# reports table verdicts; where it does not, none (it must not invent them).
assert_table() {
	if has_cap table-verdicts; then assert_count "$@"
	else assert_count "$1" "$2" 0 "$4 (the $ITR_BACKEND backend has no table verdicts)"; fi
}
# costs_positive FILE ERE: every matching iptables= line has a cost above zero
# (a backend without table verdicts prints no iptables= line at all)
costs_positive() {
	if ! has_cap table-verdicts; then
		assert_no_match "$1" 'iptables=\[' "the $ITR_BACKEND backend has no table verdicts"
		return 0
	fi
	_bad=$(grep -E -- "$2" "$1" | grep -F 'iptables=[' | sed -n 's/.*cost=\([^] ]*\).*/\1/p' |
		grep -Ev '^[0-9]+(\.[0-9]+)?(ns|µs|us|ms|s)$|^0(\.0+)?(ns|µs|us|ms|s)?$' )
	[ -z "$_bad" ] || fail "unparsable cost values: $_bad"
	grep -E -- "$2" "$1" | grep -F 'iptables=[' | grep -Eq 'cost=0(\.0+)?(ns|µs|us|ms|s)?\]' &&
		fail "an iptables= line has a zero cost: $(grep -E -- "$2" "$1" | grep -E 'cost=0(\.0+)?[a-zµ]*\]' | head -n 1)"
	return 0
}

# cost_ns COST: a Go-style duration (36.942µs, 120ns, 1.5ms, 2s) in nanoseconds
cost_ns() {
	echo "$1" | awk '{
		v = $0; u = v; sub(/^[0-9.]+/, "", u); n = substr(v, 1, length(v) - length(u)) + 0
		if (u == "ns") m = 1; else if (u == "µs" || u == "us") m = 1000
		else if (u == "ms") m = 1000000; else if (u == "s") m = 1000000000; else m = -1
		if (m < 0) print -1; else printf "%d\n", n * m }'
}
# line_cost LINE: the cost= value of one line, in nanoseconds
line_cost() { cost_ns "$(echo "$1" | sed -n 's/.*cost=\([^] ]*\).*/\1/p')"; }
# line_no FILE ERE: number of the first line matching, 0 if none
line_no() { grep -nE -- "$2" "$1" | head -n 1 | cut -d: -f1 | grep . || echo 0; }
# mod_param NAME: a counter of the loaded module (empty if not loaded)
mod_param() { cat "/sys/module/iptables_trace/parameters/$1" 2>/dev/null; }
# summary_counter FILE NAME: NAME=N from the tracer's "module: ..." exit summary on stderr
summary_counter() { sed -n "s/.*module:.*[ :]$2=\([0-9]*\).*/\1/p" "$1" | tail -n 1; }
