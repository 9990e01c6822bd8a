# Shared by the host tests (POSIX sh). Source it: . "${0%/*}/lib.sh"
# Exit codes: 0 pass, 1 fail, 77 skipped (ctest SKIP_RETURN_CODE).
#
# Two kinds of "cannot run":
#   skip REASON   a case the README lists as not runnable here (not root, a
#                 kernel without BTF or without legacy xtables): always a skip.
#   need REASON   something scripts/deps.sh installs or every machine of ours
#                 has (a command, network namespaces, veth): a skip on a
#                 developer's box, a FAILURE under CI=true, where a missing
#                 tool means an install step is missing.

skip() {
	echo "SKIP: $*"
	exit 77
}
need() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL: $* (under CI=true this is an install step missing, not a skip)"
		exit 1
	fi
	echo "SKIP: $*"
	exit 77
}
need_cmd() { # need_cmd CMD...: each on PATH
	for _c in "$@"; do
		command -v "$_c" >/dev/null 2>&1 || need "$_c not installed (scripts/deps.sh installs it)"
	done
}

# Failures are counted, not fatal: every check of a script runs.
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# guard_of PID: the pid of the tracer PID's guard process (src/guard.hpp),
# empty if it has none.
guard_of() {
	for _d in /proc/[0-9]*; do
		[ "$(cat "$_d/comm" 2>/dev/null)" = itr-guard ] || continue
		read -r _gp _ _ _pp _ < "$_d/stat" 2>/dev/null || continue
		[ "$_pp" = "$1" ] && { echo "$_gp"; return 0; }
	done
	return 0
}
# wait_gone PID [TENTHS]: until PID is gone (default 5 s); 1 if it is not.
wait_gone() {
	_w=0
	while kill -0 "$1" 2>/dev/null; do
		_w=$((_w + 1)); [ $_w -gt "${2:-50}" ] && return 1
		sleep 0.1
	done
	return 0
}

# stop_tracer [SIGNAL]: signals $TPID (default INT), waits for it (bounded);
# its exit status in RC.
stop_tracer() {
	kill -"${1:-INT}" $TPID 2>/dev/null
	_i=0
	while kill -0 $TPID 2>/dev/null && [ $_i -lt 50 ]; do sleep 0.1; _i=$((_i + 1)); done
	wait $TPID 2>/dev/null
	RC=$?
}

# netns_exec_works NS: `ip netns exec` works (it needs / to be a mount
# point, which a bare chroot lacks): a `need`, so that a later command that
# fails in the namespace is not mistaken for a missing kernel feature.
netns_exec_works() {
	ip netns exec "$1" true 2>/dev/null || need "ip netns exec does not work here (is / a mount point?)"
}

# veth_pair A B: namespaces A and B joined by a veth (v$$a in A, v$$b in
# B), loopback and both ends up; a `need` when namespaces or veth are missing.
veth_pair() {
	ip netns add "$1" && ip netns add "$2" || need "cannot create network namespaces"
	netns_exec_works "$1"
	ip link add v$$a type veth peer name v$$b || need "cannot create veth"
	ip link set v$$a netns "$1"
	ip link set v$$b netns "$2"
	for _n in "$1" "$2"; do ip -n "$_n" link set lo up; done
	ip -n "$1" link set v$$a up
	ip -n "$2" link set v$$b up
}

# netns_test A B: namespaces A and B joined by a veth (veth_pair), a temp
# folder $T, and traps that kill the $PIDS a test started and remove all of
# it however the test ends.
netns_test() {
	A=$1 B=$2
	T=$(mktemp -d)
	PIDS=""
	trap _netns_test_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	veth_pair "$A" "$B"
}
_netns_test_cleanup() {
	for _p in $PIDS; do kill -9 "$_p" 2>/dev/null; done
	ip netns del "$A" 2>/dev/null
	ip netns del "$B" 2>/dev/null
	rm -rf "$T"
}

# start [FLAGS...]: the tracer ($RUN) in namespace $B, stdout in $T/out and
# stderr in $T/err, waited for until it is live; its pid in TPID. One
# instance per machine: another test run (another worktree) may hold the
# lock for a while, so that refusal is waited out (bounded).
start() {
	_tries=0
	while :; do
		rm -f "$T/ready" "$T/out" "$T/err"
		$RUN -N $B --ready-file "$T/ready" "$@" >"$T/out" 2>"$T/err" &
		TPID=$!; PIDS="$PIDS $TPID"
		_i=0
		while [ ! -e "$T/ready" ]; do
			_i=$((_i + 1))
			if [ $_i -gt 100 ] || ! kill -0 $TPID 2>/dev/null; then break; fi
			sleep 0.1
		done
		[ -e "$T/ready" ] && break
		wait $TPID 2>/dev/null
		_tries=$((_tries + 1))
		if grep -q "another iptables-trace is running" "$T/err" && [ $_tries -lt 120 ]; then sleep 1; continue; fi
		echo "tracer did not start:"; cat "$T/err"; return 1
	done
	sleep 0.3
}
